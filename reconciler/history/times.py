"""Times as history shows and compares them: UTC, whole seconds, `YYYY-MM-DDTHH:MM:SSZ` (so that
comparing two of them as strings compares the instants)."""

from __future__ import annotations

from datetime import datetime, timezone

from reconciler.errors import ReconcilerError

FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class TimeError(ReconcilerError):
    """A --at value that is not a time."""


def utc(iso: str) -> str:
    """An ISO 8601 time with an offset (git's %aI, the events log's `Z`) in the history's form."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(timezone.utc).strftime(FORMAT)


def parse_at(text: str) -> str:
    """--at: an ISO 8601 date or time; without an offset it is UTC. `now` is now."""
    value = text.strip()
    if value.lower() == "now":
        return datetime.now(timezone.utc).strftime(FORMAT)
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise TimeError(
            f"--at {text!r}: not a time; use ISO 8601 in UTC or with an offset, e.g. 2026-11-30T12:00:00Z, "
            "2026-11-30T13:00:00+01:00 or 2026-11-30"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime(FORMAT)
