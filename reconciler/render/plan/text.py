"""Terraform-like text: a mark, the model (and version), the change, and where it was declared."""

from __future__ import annotations

from reconciler.plan.model import Plan
from reconciler.render.describe import describe, new_version_labels, subject, summary


class TextRenderer:
    name = "text"

    def render(self, plan: Plan) -> str:
        lines = [f"Registry: {plan.tracking_uri}", ""]
        if plan.changes:
            labels = new_version_labels(plan.changes)
            for c in plan.changes:
                where = f"  ({c.source})" if c.source else ""
                lines.append(f"  {c.mark} {subject(c, labels)}: {describe(c)}{where}")
            lines.append("")
        lines.append(summary(plan))
        return "\n".join(lines) + "\n"
