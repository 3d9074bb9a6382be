"""The events `serve --events FILE` appends (one JSON object per line, reconciler/serve/notify.py):

  {"format_version": "1", "time": "2026-11-30T12:00:00Z", "event": "drift" | "heal" | "heal_failed"
   | "in_sync" | "cycle_failed" | "recovered", "model": NAME or null, "cycle": N, ...}

`drift` carries `drift` (rows as in drift JSON), `heal` carries `changes` (plan changes) and
`applied` (the audit stamp); the format is documented in docs/serve.md. For one model they become
windows: from a drift event that moved a stage or an alias until the heal or the return in sync
that ended it (drift of tags and descriptions is left out). Lines that are not such JSON (a torn
last line while `serve` writes, a newer format) are skipped and counted."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.errors import ReconcilerError
from reconciler.history.timeline import DriftWindow
from reconciler.history.times import utc


class EventsError(ReconcilerError):
    """The events file cannot be read."""


def read(path: str, model: str) -> tuple[list[dict], int]:
    """The model's events, in file order, and the number of lines skipped."""
    if Path(path).exists() and not Path(path).is_file():
        raise EventsError(f"--events {path}: not a regular file; only regular files are read")
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise EventsError(f"--events {path}: cannot read it: {e.strerror or e}") from None
    events, skipped = [], 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            record["time"] = utc(record["time"])
        except (ValueError, TypeError, KeyError, AttributeError):
            skipped += 1
            continue
        if not isinstance(record, dict) or str(record.get("format_version", "1")).split(".")[0] != "1":
            skipped += 1
            continue
        if record.get("model") == model:
            events.append(record)
    return events, skipped


def relevant(row: dict) -> bool:
    """Drift of a stage or an alias (history is about those; tags and descriptions are not)."""
    field = str(row.get("field") or "")
    return field == "stage" or field.startswith("aliases.")


def windows(events: list[dict]) -> list[DriftWindow]:
    """From a drift event that moved a stage or an alias until the heal or in_sync that ended it."""
    found: list[DriftWindow] = []
    start: dict | None = None
    rows: list[dict] = []
    for e in events:
        kind = e.get("event")
        if kind == "drift":
            if start is None:
                start, rows = e, []
            for row in e.get("drift") or []:  # each drifted field once, as first seen
                if isinstance(row, dict) and relevant(row) and not any(
                        (r.get("version"), r.get("field")) == (row.get("version"), row.get("field")) for r in rows):
                    rows.append(row)
        elif kind in ("heal", "in_sync") and start is not None:
            changes = tuple(c for c in e.get("changes") or [] if isinstance(c, dict)
                            and c.get("action") in ("transition_stage", "set_alias", "delete_alias"))
            if rows:
                found.append(DriftWindow(start=start["time"], end=e["time"], closed_by=kind, drift=tuple(rows),
                                         changes=changes))
            start = None
    if start is not None and rows:
        found.append(DriftWindow(start=start["time"], end=None, closed_by=None, drift=tuple(rows)))
    return found
