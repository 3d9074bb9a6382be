"""How promotion evidence and gate results read, shared by the text and markdown renderers.

`rmse 5.21, was 6.10 on v4 (-0.89)` under each promotion; gate results as ✓/✗ rows.
"""

from __future__ import annotations

from reconciler.plan.gates import GateResult, blocked_message, fmt
from reconciler.plan.model import Change, Plan
from reconciler.render.describe import printable

PASS_MARK, FAIL_MARK = "✓", "✗"


def target_of(c: Change) -> str | None:
    if c.action == "transition_stage":
        return c.after
    if c.action == "set_alias":
        return f"@{c.alias}"
    return None


def gates_of(plan: Plan, c: Change) -> list[GateResult]:
    """The gate rows evaluated for the version this promotion moves in."""
    if c.evidence is None:
        return []
    inc = c.evidence.get("incoming") or {}
    version, ref, target = inc.get("version"), inc.get("ref"), target_of(c)
    return [
        g for g in plan.gates
        if g.model == c.model and g.target == target and (g.version == version if version else g.ref == ref)
    ]


def metric_names(evidence: dict) -> list[str]:
    names = list((evidence.get("incoming") or {}).get("metrics", {}))
    names += [n for n in ((evidence.get("outgoing") or {}).get("metrics", {})) if n not in names]
    return names


def metric_phrase(evidence: dict, name: str) -> str:
    """`rmse 5.21, was 6.10 on v4 (-0.89)`; `rmse 5.21` when nothing is replaced."""
    inc = (evidence.get("incoming") or {}).get("metrics", {})
    out = evidence.get("outgoing")
    text = f"{printable(name)} {fmt(inc.get(name))}"
    if out is None:
        return text
    was = out.get("metrics", {}).get(name)
    text += f", was {fmt(was)} on v{out.get('version')}"
    delta = (evidence.get("delta") or {}).get(name)
    return text + (f" ({fmt(delta, signed=True)})" if delta is not None else "")


def run_phrase(evidence: dict) -> str:
    inc, out = evidence.get("incoming") or {}, evidence.get("outgoing")
    text = f"run {inc.get('run_id') or '(none)'}"
    if out is not None:
        text += f", was {out.get('run_id') or '(none)'} on v{out.get('version')}"
    return text


def evidence_lines(plan: Plan, c: Change) -> list[str]:
    """The lines shown under a promotion change."""
    if c.evidence is None:
        return []
    lines = [run_phrase(c.evidence)]
    lines += [metric_phrase(c.evidence, n) for n in metric_names(c.evidence)]
    lines += [gate_phrase(g) for g in gates_of(plan, c)]
    return lines


def gate_phrase(g: GateResult) -> str:
    mark = PASS_MARK if g.passed else FAIL_MARK
    return f"{mark} gate {printable(g.check)}: {printable(g.reason)}"


def subject_of(g: GateResult) -> str:
    who = f"v{g.version}" if g.version else (g.ref or "new version")
    return f"{g.model} {who} -> {g.target}"


def blocked_lines(plan: Plan) -> list[str]:
    """`Plan blocked by N gates:` and one line per failed gate; empty when nothing failed."""
    failed = plan.blocked_by
    if not failed:
        return []
    return [f"{blocked_message(failed)}:"] + [
        f"  {FAIL_MARK} {printable(subject_of(g))}: {printable(g.check)}: {printable(g.reason)}" for g in failed
    ]
