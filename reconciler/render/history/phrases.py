"""Wording shared by the human formats (text, markdown): 12-character SHAs, versions, stamps."""

from __future__ import annotations

from reconciler.history.timeline import DriftWindow, Entry, History

SHORT = 12


def short(sha: str | None) -> str:
    if not sha:
        return ""
    dirty = sha.endswith("+dirty")
    return sha.removesuffix("+dirty")[:SHORT] + ("+dirty" if dirty else "")


def version(e: Entry) -> str:
    if e.version is not None:
        label = f"v{e.version}"
        return label if e.ref.kind == "version" else f"{label} ({e.ref})"
    return f"({e.ref}, not registered)"


def applied(e: Entry) -> str:
    if e.applied_at is None:
        return ""
    what = "applied" if e.applied_stamp == "stage" else "in effect at the last apply,"
    parts = [f"{what} {e.applied_at}"]
    if e.applied_by:
        parts.append(f"by {e.applied_by}")
    if e.applied_commit:
        parts.append(f"at {short(e.applied_commit)}")
    if e.applied_run:
        parts.append(f"run {e.applied_run}")
    return " ".join(parts)


def ended(e: Entry) -> str:
    if e.ended_applied_at is None:
        return ""
    return f"moved out by apply {e.ended_applied_at}" + (f" by {e.ended_applied_by}" if e.ended_applied_by else "")


def stamps(e: Entry) -> str:
    return "; ".join(p for p in (applied(e), ended(e)) if p)


def heading(h: History) -> str:
    where = ", ".join(h.paths)
    text = f"History of model '{h.model}' from {h.commits} commits of {where}"
    if h.at is not None:
        text += f", at {h.at}"
    return text


def drift_row(row: dict) -> str:
    where = f"v{row['version']} " if row.get("version") else ""
    return f"{where}{row.get('field', '?')}: git {row.get('git')!r}, live {row.get('live')!r}"


def window(w: DriftWindow) -> str:
    end = w.end or "still drifting"
    how = f" ({'healed' if w.closed_by == 'heal' else 'back in sync'})" if w.closed_by else ""
    rows = "; ".join(drift_row(r) for r in w.drift) or "drift"
    return f"{w.start} → {end}{how}: {rows}"


def holders(h: History, target: str) -> str:
    entries = h.shown(target)
    return ", ".join(version(e) for e in entries) if entries else "none"
