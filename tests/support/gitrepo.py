"""A throw-away git repository whose commits have the authors and dates a test chooses."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path


class GitRepo:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")
        self.git("config", "user.email", "default@example.com")
        self.git("config", "user.name", "default")
        self.git("config", "commit.gpgsign", "false")

    def git(self, *args: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(["git", "-C", str(self.root), *args], capture_output=True, text=True, check=True,
                              env={**os.environ, **(env or {})})
        return done.stdout.strip()

    def write(self, path: str, text: str | None) -> None:
        target = self.root / path
        if text is None:
            target.unlink()
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")

    def commit(self, message: str, author: str = "alice", date: str = "2026-01-01T00:00:00Z",
               files: dict[str, str | None] | None = None, moves: dict[str, str] | None = None) -> str:
        """Write (None: delete) files, `git mv` old -> new, commit as `author` at `date` (author and
        committer both), and return the commit's SHA."""
        for old, new in (moves or {}).items():
            (self.root / new).parent.mkdir(parents=True, exist_ok=True)
            self.git("mv", old, new)
        for path, text in (files or {}).items():
            self.write(path, text)
        self.git("add", "-A")
        who = {"GIT_AUTHOR_NAME": author, "GIT_AUTHOR_EMAIL": f"{author}@example.com", "GIT_AUTHOR_DATE": date,
               "GIT_COMMITTER_NAME": author, "GIT_COMMITTER_EMAIL": f"{author}@example.com",
               "GIT_COMMITTER_DATE": date}
        self.git("commit", "-q", "--allow-empty", "-m", message, env=who)
        return self.git("rev-parse", "HEAD")


def model_doc(name: str, *versions: tuple) -> str:
    """A manifest document; each version is (number, stage, [aliases])."""
    lines = ["apiVersion: mlflow-gitops/v1", "kind: RegisteredModel", f"name: {name}", "versions:"]
    for number, stage, aliases in versions:
        lines += [f"  - version: {number}", f"    stage: {stage}"]
        if aliases:
            lines.append(f"    aliases: [{', '.join(aliases)}]")
    if not versions:
        lines[-1] = "versions: []"
    return "\n".join(lines) + "\n"
