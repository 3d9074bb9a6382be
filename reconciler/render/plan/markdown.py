"""A PR-comment-ready plan: a summary line and a table, collapsed when long, under GitHub's
65,536-character comment limit."""

from __future__ import annotations

from reconciler.plan.gates import fmt
from reconciler.plan.model import Plan
from reconciler.render.describe import describe, new_version_labels, summary, version_label
from reconciler.render.plan.evidence import FAIL_MARK, PASS_MARK, blocked_lines, gates_of, metric_names

COMMENT_LIMIT = 65_536
BUDGET = COMMENT_LIMIT - 2_000  # room for the header, footer and the truncation note
COLLAPSE_OVER = 20
MARK_EMOJI = {"+": "➕", "~": "🔄", "-": "➖"}


def cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("`", "'")


class MarkdownRenderer:
    name = "markdown"

    def render(self, plan: Plan) -> str:
        out = ["### mlflow-gitops plan", "", f"Registry: `{cell(plan.tracking_uri)}`", ""]
        if plan.empty:
            out.append(f"**{summary(plan)}**")
            return "\n".join(out) + "\n"
        out += [f"**{summary(plan)}**", ""]
        rows = [
            "| | Model | Version | Change | Manifest |",
            "|---|---|---|---|---|",
        ]
        size = sum(len(r) + 1 for r in out + rows)
        shown = 0
        labels = new_version_labels(plan.changes)
        for c in plan.changes:
            version = version_label(c, labels)
            row = (
                f"| {MARK_EMOJI[c.mark]} | `{cell(c.model)}` | {version} | {cell(describe(c))} | "
                f"{'`' + cell(c.source) + '`' if c.source else ''} |"
            )
            if size + len(row) + 1 > BUDGET:
                break
            rows.append(row)
            size += len(row) + 1
            shown += 1
        if len(plan.changes) > COLLAPSE_OVER:
            out += [f"<details><summary>Show {len(plan.changes)} changes</summary>", "", *rows, "", "</details>"]
        else:
            out += rows
        if shown < len(plan.changes):
            out += ["", f"_… {len(plan.changes) - shown} more changes not shown; see the JSON plan (`--format json`)._"]
        out += promotions(plan, labels, BUDGET - size)
        blocked = blocked_lines(plan)
        if blocked:
            out += ["", f"> ⛔ **{cell(blocked[0])}**", ">", *[f"> - {cell(line.strip())}" for line in blocked[1:]]]
        return "\n".join(out) + "\n"


def promotions(plan: Plan, labels, budget: int) -> list[str]:
    """The "Promotions" table: one row per version moving into a stage or alias, one column per
    metric (value, and the difference to the version it replaces), and its gate results."""
    promoted = [c for c in plan.changes if c.evidence is not None]
    if not promoted:
        return []
    names: list[str] = []
    for c in promoted:
        names += [n for n in metric_names(c.evidence) if n not in names]
    head = ["Model", "Version", "Into", "Replaces", *[f"`{cell(n)}`" for n in names], "Gates"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    size = sum(len(r) + 1 for r in rows) + 200
    for i, c in enumerate(promoted):
        ev = c.evidence
        out = ev.get("outgoing")
        into = c.after if c.action == "transition_stage" else f"@{c.alias}"
        gates = gates_of(plan, c)
        row = "| " + " | ".join([
            f"`{cell(c.model)}`", version_label(c, labels), cell(into),
            f"v{out['version']}" if out else "—",
            *[metric_cell(ev, n) for n in names],
            "<br>".join(f"{PASS_MARK if g.passed else FAIL_MARK} {cell(g.check)}" for g in gates) or "—",
        ]) + " |"  # fmt: skip
        if size + len(row) + 1 > budget:
            rows.append(f"\n_… {len(promoted) - i} more promotions not shown; see the JSON plan._")
            break
        rows.append(row)
        size += len(row) + 1
    return ["", "#### Promotions", "", *rows]


def metric_cell(evidence: dict, name: str) -> str:
    value = (evidence.get("incoming") or {}).get("metrics", {}).get(name)
    out = evidence.get("outgoing")
    if out is None:
        return fmt(value) if value is not None else "—"
    was = out.get("metrics", {}).get(name)
    delta = (evidence.get("delta") or {}).get(name)
    text = fmt(value) if value is not None else "—"
    if delta is not None:
        return f"{text} ({fmt(delta, signed=True)} vs {fmt(was)})"
    return f"{text} (was {fmt(was)})" if was is not None else text
