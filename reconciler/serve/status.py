"""What `serve` shows: one immutable `View` of the controller, replaced (never mutated) after each
change, so that HTTP threads read it without locks while the loop works."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from reconciler.serve.promotions import Promotions

SYNCED, OUT_OF_SYNC, HEALING, ERROR = "synced", "out_of_sync", "healing", "error"
STATUSES = (SYNCED, OUT_OF_SYNC, HEALING, ERROR)
FORMAT_VERSION = "1"
RECENT_EVENTS = 50  # events kept for the page and /api/status (the full log is --events FILE)

# `mlflow-gitops.applied`: "2026-11-27T16:06:15Z by alice, commit 3f2a..., run https://..." (reconciler.audit)
_APPLIED = re.compile(
    r"^(?P<at>\S+)(?: by (?P<by>.+?))?(?:,? commit (?P<commit>\S+?))?(?:,? run (?P<run>\S+))?$"
)


def utc(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_applied(stamp: str | None) -> dict[str, str | None]:
    """The audit stamp's parts: when, by whom, from which commit and CI run."""
    m = _APPLIED.match(stamp or "")
    if not m:
        return {"at": None, "by": None, "commit": None, "run": None}
    return {k: (v.rstrip(",") if v else None) for k, v in m.groupdict().items()}


@dataclass(frozen=True)
class ModelView:
    model: str
    status: str
    drift: tuple[dict[str, Any], ...] = ()  # rows as in `drift --format json`
    since: str | None = None  # when the model entered this status
    last_applied: str | None = None  # the raw audit stamp
    manifest: str | None = None  # file:line that declares it
    self_heal: bool = False
    heals: int = 0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model, "status": self.status, "drift": list(self.drift), "since": self.since,
            "self_heal": self.self_heal, "heals": self.heals, "error": self.error, "manifest": self.manifest,
            "last_applied": {"stamp": self.last_applied, **parse_applied(self.last_applied)},
        }


@dataclass(frozen=True)
class CycleInfo:
    number: int = 0
    started: str | None = None
    seconds: float | None = None
    ok: bool | None = None  # None: no cycle finished yet
    error: str | None = None
    round_trips: int | None = None  # all of the cycle's (heals included)
    read_round_trips: int | None = None  # reading the registry: as many as `plan`
    trigger: str | None = None  # interval | webhook | start


@dataclass(frozen=True)
class View:
    tracking_uri: str
    interval: float
    self_heal: bool
    started: str
    models: tuple[ModelView, ...] = ()
    last_cycle: CycleInfo = CycleInfo()
    last_success: str | None = None
    cycles: int = 0
    cycle_errors: int = 0
    failing_since: str | None = None
    events: tuple[dict[str, Any], ...] = field(default_factory=tuple)  # newest first
    history: Promotions = Promotions()  # the promotion history from the manifests' git (reconciler.serve.promotions)

    @property
    def healthy(self) -> bool:
        return self.last_cycle.ok is True

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for m in self.models:
            counts[m.status] += 1
        return counts

    def to_json(self) -> dict[str, Any]:
        c = self.last_cycle
        return {
            "format_version": FORMAT_VERSION,
            "kind": "status",
            "tracking_uri": self.tracking_uri,
            "healthy": self.healthy,
            "self_heal": self.self_heal,
            "interval_seconds": self.interval,
            "started": self.started,
            "cycles": self.cycles,
            "cycle_errors": self.cycle_errors,
            "last_success": self.last_success,
            "failing_since": self.failing_since,
            "last_cycle": {"number": c.number, "started": c.started, "seconds": c.seconds, "ok": c.ok,
                           "error": c.error, "round_trips": c.round_trips,
                           "read_round_trips": c.read_round_trips, "trigger": c.trigger},
            "summary": self.counts(),
            "models": [m.to_json() for m in self.models],
            "events": list(self.events),
            "history": self.history.to_json(),
        }
