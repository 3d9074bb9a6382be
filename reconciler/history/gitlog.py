"""Reading the manifests' git history in two git processes, whatever the number of commits:

1. `git log --first-parent --raw -z` lists every commit that touched the manifest paths with its
   author, date and subject, and the blob each changed file has after it (renames detected);
2. `git cat-file --batch` then streams the contents of those blobs, each read once.

First parent only: the history of the branch as it was deployed (a merged pull request counts at
its merge commit, compared with the branch it was merged into)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from reconciler.errors import ReconcilerError
from reconciler.history.times import utc
from reconciler.manifest.discover import MANIFEST_SUFFIXES

NULL_SHA = "0" * 40


class GitError(ReconcilerError):
    """The manifests are not in a git repository, or git could not read it."""


@dataclass(frozen=True)
class Commit:
    sha: str
    author: str
    email: str
    date: str  # author date, UTC, ISO 8601 with Z; never before the previous commit's (see read_log)
    subject: str
    # manifest path (relative to the repository root) -> blob after this commit; None: deleted
    files: dict[str, str | None] = field(default_factory=dict)
    renamed: dict[str, str] = field(default_factory=dict)  # new path -> old path


@dataclass(frozen=True)
class Repository:
    root: Path
    pathspecs: tuple[str, ...]  # relative to root
    follow: bool  # one file: follow it across renames
    shallow: bool


def git(root: Path | str, *args: str, stdin: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], input=stdin, capture_output=True, check=False)
    except OSError as e:
        raise GitError(f"cannot run git: {e}") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise GitError(f"git {args[0]} failed in {root}: {message[-1] if message else 'exit ' + str(done.returncode)}")
    return done.stdout


def locate(paths: list[str]) -> Repository:
    """The repository holding every PATH, and PATH as pathspecs of it. A PATH need not exist any
    more (a removed directory still has a history)."""
    roots: set[Path] = set()
    specs: list[str] = []
    single_file = len(paths) == 1 and Path(paths[0]).is_file()
    for p in paths:
        path = Path(p).absolute()
        anchor = path
        while not anchor.is_dir() and anchor != anchor.parent:
            anchor = anchor.parent
        try:
            top = git(anchor, "rev-parse", "--show-toplevel").decode().strip()
        except GitError:
            raise GitError(f"{p}: not in a git repository (history reads the manifests' git history)") from None
        root = Path(top).resolve()
        roots.add(root)
        try:
            rel = path.resolve().relative_to(root).as_posix()
        except ValueError:
            raise GitError(f"{p}: not in a git repository (history reads the manifests' git history)") from None
        specs.append(rel or ".")
    if len(roots) > 1:
        raise GitError("the PATHs are in different git repositories: " + ", ".join(sorted(map(str, roots))))
    root = roots.pop()
    shallow = git(root, "rev-parse", "--is-shallow-repository").decode().strip() == "true"
    return Repository(root=root, pathspecs=tuple(specs), follow=single_file, shallow=shallow)


def is_manifest(path: str) -> bool:
    return path.endswith(MANIFEST_SUFFIXES)


def parse_log(raw: bytes) -> list[Commit]:
    """Parse `git log -z --raw --format=%x1e%H%x1f%aN%x1f%aE%x1f%aI%x1f%s` output (newest first)."""
    commits = []
    for chunk in raw.split(b"\x1e")[1:]:
        header, _, body = chunk.partition(b"\0")
        sha, author, email, date, subject = header.decode(errors="replace").split("\x1f", 4)
        files: dict[str, str | None] = {}
        renamed: dict[str, str] = {}
        tokens = body.lstrip(b"\n").split(b"\0")
        i = 0
        while i < len(tokens):
            meta = tokens[i].decode()
            if not meta.startswith(":"):
                i += 1
                continue
            _, _, _, new_blob, status = meta[1:].split(" ")
            if status[0] in "RC":
                old, new = (t.decode(errors="surrogateescape") for t in tokens[i + 1:i + 3])
                i += 3
                if status[0] == "R" and is_manifest(old):
                    files.setdefault(old, None)
                    renamed[new] = old
            else:
                new = tokens[i + 1].decode(errors="surrogateescape")
                i += 2
            if is_manifest(new):
                files[new] = None if new_blob == NULL_SHA else new_blob
        commits.append(Commit(sha=sha, author=author, email=email, date=utc(date), subject=subject, files=files,
                              renamed=renamed))
    return commits


def read_log(repo: Repository) -> list[Commit]:
    """Commits that touched the manifests, oldest first."""
    # user settings that would add lines to the output (signatures, colour) are switched off;
    # %aN/%aE honour the repository's .mailmap, as `git log` and `git shortlog` show names
    args = ["-c", "log.showSignature=false", "log", "--no-color", "--first-parent", "--diff-merges=first-parent",
            "-M", "--raw", "--no-abbrev", "-z", "--format=%x1e%H%x1f%aN%x1f%aE%x1f%aI%x1f%s"]
    if repo.follow:
        args.append("--follow")
    try:
        raw = git(repo.root, *args, "--", *repo.pathspecs)
    except GitError as e:
        if "does not have any commits" in str(e) or "bad default revision" in str(e):
            return []
        raise
    commits = list(reversed(parse_log(raw)))
    # A rebased or cherry-picked commit keeps its author date, which can be older than the commit
    # before it on the branch: a period would then end before it began. A commit counts from its
    # author date, or from the previous commit's date when that is later.
    for i in range(1, len(commits)):
        if commits[i].date < commits[i - 1].date:
            commits[i] = replace(commits[i], date=commits[i - 1].date)
    return commits


def first_parent_order(repo: Repository) -> dict[str, int]:
    """Every commit of the branch -> its position (0 = the oldest): says which manifest commit a
    commit that did not touch the manifests (the one an apply ran at) comes after."""
    try:
        shas = git(repo.root, "rev-list", "--first-parent", "--reverse", "HEAD").decode().split()
    except GitError:
        return {}
    return {sha: i for i, sha in enumerate(shas)}


def read_blobs(root: Path, shas: Iterable[str], keep: Callable[[bytes], bool] = lambda _: True) -> dict[str, bytes]:
    """Contents of the given blobs, in one `git cat-file --batch`; those `keep` refuses are dropped
    (the caller parses only blobs that can declare its model)."""
    wanted = sorted(set(shas))
    if not wanted:
        return {}
    raw = git(root, "cat-file", "--batch", stdin=("\n".join(wanted) + "\n").encode())
    blobs: dict[str, bytes] = {}
    at = 0
    for _ in wanted:
        eol = raw.index(b"\n", at)
        header = raw[at:eol].split(b" ")
        at = eol + 1
        if len(header) < 3 or header[1] == b"missing":
            continue
        size = int(header[2])
        content = raw[at:at + size]
        at += size + 1
        if keep(content):
            blobs[header[0].decode()] = content
    return blobs
