"""A PR-comment-ready plan: a summary line and a table, collapsed when long, under GitHub's
65,536-character comment limit."""

from __future__ import annotations

from reconciler.plan.model import Plan
from reconciler.render.describe import describe, new_version_labels, summary, version_label

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
        return "\n".join(out) + "\n"
