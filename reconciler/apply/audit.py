"""Ownership and audit trail: what `apply` records on the models it changes.

After a model's changes are made, apply stamps it with tags under the reserved `mlflow-gitops.`
prefix, so that the MLflow UI (and `drift`) can tell that the model is managed from git, from which
manifest, and which commit and CI run changed it last:

- model  `mlflow-gitops.manifest`: the manifest that declares the model (written when it changes);
- model  `mlflow-gitops.applied`:  `2026-11-27T16:06:15Z by alice, commit 3f2a…, run https://…`;
- version `mlflow-gitops.stage`:   `Production since 2026-11-27T16:06:15Z (was Staging) by alice,
  commit 3f2a…, run https://…`, on each version whose stage apply changed.

These tags are not part of the desired state: the snapshot keeps them apart (`LiveModel.audit`),
so they never show up as changes or drift, are never pruned or exported, and a model that needs no
change gets no stamp (a re-apply of an unchanged tree writes nothing).

Few tags on purpose: MLflow has no batch tag call, so every tag is one more write per model.
"""

from __future__ import annotations

import getpass
import os
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from reconciler.constants import OWN_PREFIX
from reconciler.errors import ReconcilerError
from reconciler.plan.model import Change, Plan
from reconciler.registry.protocol import RegistryWriter

PREFIX = OWN_PREFIX  # the audit trail's tags
MANIFEST_TAG = PREFIX + "manifest"
APPLIED_TAG = PREFIX + "applied"
STAGE_TAG = PREFIX + "stage"
GIT_TIMEOUT = 5.0


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Context:
    """Who applies, from which commit and CI run; the same for every model of one apply."""

    who: str | None = None
    commit: str | None = None
    run: str | None = None
    git_root: str | None = None
    clock: Callable[[], str] = utc_now

    def _origin(self) -> str:
        parts = []
        if self.who:
            parts.append(f"by {self.who}")
        if self.commit:
            parts.append(f"commit {self.commit}")
        if self.run:
            parts.append(f"run {self.run}")
        return ", ".join(parts)

    def applied(self) -> str:
        origin = self._origin()
        return f"{self.clock()} {origin}" if origin else self.clock()

    def stage(self, before: str | None, after: str) -> str:
        was = f" (was {before})" if before else ""
        origin = self._origin()
        return f"{after} since {self.clock()}{was}" + (f" {origin}" if origin else "")

    def manifest_path(self, file: str) -> str:
        """The manifest as the repository names it (relative to the git root), else as given."""
        if self.git_root:
            try:
                return Path(file).resolve().relative_to(self.git_root).as_posix()
            except ValueError:
                pass
        return Path(file).as_posix()


def _git(args: list[str], cwd: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def ci_run_url(env: os._Environ | dict) -> str | None:
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    return env.get("CI_JOB_URL") or env.get("CI_PIPELINE_URL") or env.get("BUILD_URL")


def from_environment(paths: list[str], user: str | None = None, env=None) -> Context:
    """CI variables first (GitHub Actions, GitLab CI), then git and the OS user. A commit read from a
    working tree whose manifests have uncommitted edits is marked `+dirty`."""
    env = os.environ if env is None else env
    first = Path(paths[0]) if paths else Path(".")
    where = str(first if first.is_dir() else first.parent or Path("."))
    root = _git(["rev-parse", "--show-toplevel"], where)
    commit = env.get("GITHUB_SHA") or env.get("CI_COMMIT_SHA")
    if not commit and root:
        commit = _git(["rev-parse", "HEAD"], where)
        if commit and _git(["status", "--porcelain", "--", *[str(Path(p).resolve()) for p in paths]], where):
            commit += "+dirty"
    who = user or env.get("GITHUB_ACTOR") or env.get("GITLAB_USER_LOGIN")
    if not who:
        try:
            who = getpass.getuser()
        except Exception:  # no user name in this environment (some containers)
            who = None
    return Context(who=who, commit=commit, run=ci_run_url(env), git_root=str(Path(root).resolve()) if root else None)


def manifests_of(changes) -> list[str]:
    return sorted({c.source.rsplit(":", 1)[0] for c in changes if c.source})


def manifest_of(changes: list[Change]) -> str | None:
    for c in changes:
        if c.source:
            return c.source.rsplit(":", 1)[0]
    return None


class AuditTrail:
    """Callable(model, applied changes, version of) run by the applier in the model's worker once
    the model's changes are made (all, or up to a failure). Returns the number of tags written."""

    def __init__(self, registry: RegistryWriter, plan: Plan, context: Context, warn: Callable[[str], None]):
        self.registry = registry
        self.plan = plan
        self.context = context
        self.warn = warn
        self.models = 0  # models stamped
        self.writes = 0  # tags written
        self._lock = threading.Lock()

    def __call__(self, model: str, applied: list[Change], version_of: Callable[[Change], str]) -> int:
        if not applied:
            return 0
        writes: list[tuple[Callable, tuple]] = []
        for c in applied:
            if c.action == "transition_stage":
                stamp = self.context.stage(c.before, c.after)
                writes.append((self.registry.set_version_tag, (model, version_of(c), STAGE_TAG, stamp)))
        manifest = manifest_of(applied)
        if manifest is not None:
            path = self.context.manifest_path(manifest)
            if self.plan.managed_by.get(model) != path:
                writes.append((self.registry.set_model_tag, (model, MANIFEST_TAG, path)))
        writes.append((self.registry.set_model_tag, (model, APPLIED_TAG, self.context.applied())))
        done = 0
        for write, args in writes:
            try:
                write(*args)
            except ReconcilerError as e:
                # the model's changes are made; failing to stamp them must not make apply look failed
                self.warn(f"Warning: could not record the audit trail on model '{model}': {e}")
                break
            done += 1
        with self._lock:
            self.models += 1 if done else 0
            self.writes += done
        return done
