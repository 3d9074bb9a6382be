"""Apply's audit stamps (reconciler.apply.audit) read back, and joined to the timeline.

A version's `mlflow-gitops.stage` stamp says when apply last moved it, into which stage, by whom,
at which commit: it dates the entry of that version in that stage whose commits contain the apply's
commit. The model's `mlflow-gitops.applied` stamp says when apply last changed the model at all:
the entries in effect at that commit were applied then or before (`applied_stamp: model`). A stage
stamp that says the version left a stage (`was Production`) dates the end of its last period there
that git had ended by the apply's commit (`ended_applied_at`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from reconciler.apply.audit import APPLIED_TAG, STAGE_TAG
from reconciler.history.timeline import Entry

STAGE = re.compile(r"^(?P<stage>\S+) since (?P<at>\S+)(?: \(was (?P<was>[^)]*)\))?(?: (?P<origin>.*))?$")
APPLIED = re.compile(r"^(?P<at>\S+)(?: (?P<origin>.*))?$")


@dataclass(frozen=True)
class Stamp:
    at: str
    by: str | None = None
    commit: str | None = None  # as recorded; `+dirty` when the manifests had uncommitted edits
    run: str | None = None
    stage: str | None = None
    was: str | None = None  # the stage apply moved the version out of

    @property
    def sha(self) -> str | None:
        return self.commit.removesuffix("+dirty") if self.commit else None


def _origin(text: str | None) -> dict[str, str]:
    """`by alice, commit 3f2a…, run https://…` (each part optional) -> {by, commit, run}."""
    parts: dict[str, str] = {}
    last = None
    for piece in (text or "").split(", "):
        for key in ("by", "commit", "run"):
            if piece.startswith(key + " ") and key not in parts:
                parts[key] = piece[len(key) + 1:]
                last = key
                break
        else:
            if last is not None:  # a name with ", " in it
                parts[last] += ", " + piece
    return parts


def parse_stage(value: str) -> Stamp | None:
    m = STAGE.match(value or "")
    if not m:
        return None
    return Stamp(at=m["at"], stage=m["stage"], was=m["was"], **_origin(m["origin"]))


def parse_applied(value: str) -> Stamp | None:
    m = APPLIED.match(value or "")
    if not m or not re.match(r"\d{4}-\d\d-\d\dT", m["at"]):
        return None
    return Stamp(at=m["at"], **_origin(m["origin"]))


def join(entries: list[Entry], model_audit: dict[str, str], version_audit: dict[str, dict[str, str]],
         position: Callable[[str], int | None]) -> list[Entry]:
    """Entries with applied_* filled from the stamps. `position(sha)` orders commits of the branch
    (None: not on it, e.g. a CI run's commit of another branch, or a full SHA we do not have)."""
    stage_stamps = {v: parse_stage(tags.get(STAGE_TAG, "")) for v, tags in version_audit.items()}
    model_stamp = parse_applied(model_audit.get(APPLIED_TAG, ""))
    out = []
    for e in entries:
        stamp = stage_stamps.get(e.version or "")
        kind = "stage"
        if not (stamp and stamp.stage == e.target and _contains(e, stamp, position)):
            stamp, kind = model_stamp, "model"
            if not (stamp and _contains(e, stamp, position)):
                stamp = None
        if stamp is not None:
            e = replace(e, applied_at=stamp.at, applied_by=stamp.by, applied_commit=stamp.commit,
                        applied_run=stamp.run, applied_stamp=kind)
        out.append(e)
    for version, stamp in stage_stamps.items():
        if stamp is None or not stamp.was:
            continue
        ended = [i for i, e in enumerate(out) if e.version == version and e.target == stamp.was and e.end
                 and _after(e, stamp, position)]
        if ended:
            i = ended[-1]
            out[i] = replace(out[i], ended_applied_at=stamp.at, ended_applied_by=stamp.by)
    return out


def _after(e: Entry, stamp: Stamp, position: Callable[[str], int | None]) -> bool:
    """Whether the apply behind `stamp` ran at or after the commit that ended `e`."""
    at = position(stamp.sha) if stamp.sha else None
    end = position(e.end.sha) if e.end else None
    if at is not None and end is not None:
        return end <= at
    return e.until is not None and e.until <= stamp.at


def _contains(e: Entry, stamp: Stamp, position: Callable[[str], int | None]) -> bool:
    """Whether the apply behind `stamp` ran while `e` was declared: its commit lies between the
    entry's first commit and the one that ended it; for a commit we cannot place, by time."""
    at = position(stamp.sha) if stamp.sha else None
    start = position(e.start.sha)
    if at is not None and start is not None:
        end = position(e.end.sha) if e.end else None
        return start <= at and (end is None or at < end)
    return e.covers(stamp.at)
