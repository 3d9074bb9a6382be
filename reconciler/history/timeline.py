"""The timeline of a model's targets (Production, Staging, `@alias`) as plain data: one entry per
period during which the manifests declared a version in a target, opened and closed by commits.

A model is followed by name across files: a document moved to another file, a file renamed, or a
file holding several models changes nothing; the first file (by path) declaring the model wins, as
`validate` refuses a model declared twice."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler.history.documents import Ref, holdings
from reconciler.history.gitlog import Commit

FORMAT_VERSION = "1"


@dataclass(frozen=True)
class Entry:
    target: str  # Production | Staging | @alias
    ref: Ref
    version: str | None  # the registry's version number (None: a run/source no version has)
    start: Commit
    file: str
    end: Commit | None = None  # None: still declared at the newest commit
    applied_at: str | None = None
    applied_by: str | None = None
    applied_commit: str | None = None
    applied_run: str | None = None
    applied_stamp: str | None = None  # stage: the version's own stamp; model: the model's last apply
    ended_applied_at: str | None = None  # when apply moved the version out of the target (its stamp)
    ended_applied_by: str | None = None

    @property
    def since(self) -> str:
        return self.start.date

    @property
    def until(self) -> str | None:
        return self.end.date if self.end else None

    def covers(self, time: str) -> bool:
        """From inclusive, to exclusive: at the instant of a promotion the new version holds it."""
        return self.since <= time and (self.until is None or time < self.until)

    def to_json(self) -> dict[str, Any]:
        doc = {
            "version": self.version, "from": self.since, "to": self.until, "commit": self.start.sha,
            "author": self.start.author, "applied_at": self.applied_at, "applied_by": self.applied_by,
            "author_email": self.start.email, "subject": self.start.subject, "file": self.file,
            "to_commit": self.end.sha if self.end else None,
            "applied_commit": self.applied_commit, "applied_run": self.applied_run,
            "applied_stamp": self.applied_stamp, "ended_applied_at": self.ended_applied_at,
            "ended_applied_by": self.ended_applied_by,
        }
        if self.ref.kind != "version":
            doc["ref"] = str(self.ref)
        return doc


@dataclass(frozen=True)
class DriftWindow:
    """A time `serve` saw the model differ from git (drift event) until healed or back in sync."""

    start: str
    end: str | None
    closed_by: str | None  # heal | in_sync | None (still drifting at the end of the log)
    drift: tuple[dict, ...]  # drift rows as in drift JSON
    changes: tuple[dict, ...] = ()  # what the heal changed

    def covers(self, time: str) -> bool:
        return self.start <= time and (self.end is None or time < self.end)

    def to_json(self) -> dict[str, Any]:
        return {"from": self.start, "to": self.end, "closed_by": self.closed_by, "drift": list(self.drift),
                "changes": list(self.changes)}


@dataclass(frozen=True)
class History:
    model: str
    paths: tuple[str, ...]
    commits: int  # commits that touched the manifests
    entries: tuple[Entry, ...]  # oldest first
    drift: tuple[DriftWindow, ...] = ()
    at: str | None = None  # --at: only what held each target then
    tracking_uri: str | None = None
    events_file: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def targets(self) -> list[str]:
        """Stages first (Production, Staging), then aliases by name."""
        names = {e.target for e in self.entries}
        return sorted(names, key=lambda t: (t.startswith("@"), t != "Production", t))

    def shown(self, target: str) -> list[Entry]:
        return [e for e in self.entries if e.target == target and (self.at is None or e.covers(self.at))]

    def windows(self) -> list[DriftWindow]:
        return [w for w in self.drift if self.at is None or w.covers(self.at)]

    def at_time(self, time: str) -> History:
        return replace(self, at=time)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"format_version": FORMAT_VERSION, "kind": "history", "model": self.model}
        if self.at is not None:
            doc["at"] = self.at
        doc["targets"] = {t: [e.to_json() for e in self.shown(t)] for t in self.targets}
        doc["drift"] = [w.to_json() for w in self.windows()]
        doc["commits"] = self.commits
        doc["paths"] = list(self.paths)
        doc["tracking_uri"] = self.tracking_uri
        doc["events_file"] = self.events_file
        return doc


def build(model: str, commits: list[Commit], blobs: dict[str, bytes],
          resolve: Callable[[Ref], str | None], holdings=holdings) -> tuple[list[Entry], bool]:
    """Entries from commits (oldest first) and the blobs that may declare the model; also whether
    any commit ever declared it. `resolve` maps a declared ref to the registry's version number;
    `holdings` reads a blob (serve passes one that parses each blob once for all its models)."""
    order = {c.sha: i for i, c in enumerate(commits)}
    declared: dict[str, frozenset] = {}  # path -> holdings of the model in that file
    parsed: dict[str, frozenset | None] = {}
    versions: dict[Ref, str | None] = {}
    current: dict[tuple[str, str], Entry] = {}  # (target, version or ref) -> open entry
    done: list[Entry] = []
    ever = False
    for commit in commits:
        for path, blob in commit.files.items():
            if blob is None or blob not in blobs:
                declared.pop(path, None)
                continue
            if blob not in parsed:
                parsed[blob] = holdings(blobs[blob], model)
            if parsed[blob] is None:
                declared.pop(path, None)
            else:
                declared[path] = parsed[blob]
        file = min(declared) if declared else ""
        ever = ever or bool(declared)
        now: dict[tuple[str, str], Ref] = {}
        for target, ref in sorted(declared.get(file, ()), key=lambda k: (k[0], k[1].kind, k[1].value)):
            if ref not in versions:
                versions[ref] = resolve(ref)
            # keyed by the version it names: `run_id: X` rewritten as `version: 7` is no change
            now.setdefault((target, versions[ref] or str(ref)), ref)
        for key in [k for k in current if k not in now]:
            done.append(replace(current.pop(key), end=commit))
        for key, ref in now.items():
            if key not in current:
                current[key] = Entry(target=key[0], ref=ref, version=versions[ref], start=commit, file=file)
    done.extend(current.values())
    done.sort(key=lambda e: (order[e.start.sha], e.target, e.ref.kind, e.ref.value))
    return done, ever
