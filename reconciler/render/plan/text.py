"""Terraform-like text: a mark, the model (and version), the change, and where it was declared."""

from __future__ import annotations

from reconciler.plan.model import Plan
from reconciler.render.describe import describe, new_version_labels, subject, summary
from reconciler.render.plan.evidence import blocked_lines, evidence_lines


class TextRenderer:
    name = "text"

    def render(self, plan: Plan) -> str:
        lines = [f"Registry: {plan.tracking_uri}", ""]
        if plan.changes:
            labels = new_version_labels(plan.changes)
            for c in plan.changes:
                where = f"  ({c.source})" if c.source else ""
                lines.append(f"  {c.mark} {subject(c, labels)}: {describe(c)}{where}")
                lines += [f"        {line}" for line in evidence_lines(plan, c)]
            lines.append("")
        lines.append(summary(plan))
        blocked = blocked_lines(plan)
        if blocked:
            lines += ["", *blocked]
        return "\n".join(lines) + "\n"
