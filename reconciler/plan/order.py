"""Apply order of changes, and nothing else.

Within a model: create model, register versions, promotions (to Production, then Staging) before
demotions (to Archived, then None), aliases, tags, descriptions. Promoting before demoting means a
model that had a Production version keeps one at every moment of the apply. Models are ordered by
name; the order is total, so plans are deterministic.
"""

from __future__ import annotations

from reconciler.plan.model import Change

STAGE_RANK = {"Production": 0, "Staging": 1, "Archived": 2, "None": 3}

def sort_key(change: Change, position: int) -> tuple:
    phase = change.action.spec.phase
    if change.action == "transition_stage":
        phase += STAGE_RANK.get(change.after, 3)
    # Registered versions in numeric order; new ones after them, in declaration order.
    if change.version is not None:
        version_key = (0, int(change.version), 0)
    elif change.ref is not None:
        version_key = (1, 0, position)
    else:
        version_key = (-1, 0, 0)
    return (change.model, phase, version_key, change.alias or "", change.key or "")


def ordered(changes: list[Change]) -> list[Change]:
    # Declaration order of new versions is the first position their ref appears at.
    first_seen: dict[tuple[str, str], int] = {}
    for i, c in enumerate(changes):
        if c.ref is not None:
            first_seen.setdefault((c.model, c.ref), i)
    return sorted(
        changes,
        key=lambda c: sort_key(c, first_seen.get((c.model, c.ref), 0) if c.ref else 0),
    )
