"""Drift for a terminal or CI log: one block per drifted model, then models no manifest declares."""

from __future__ import annotations

from reconciler.drift.report import DriftReport
from reconciler.render.describe import printable
from reconciler.render.drift.phrases import lines as drifted_lines
from reconciler.render.drift.phrases import next_step, summary, undeclared_line


class TextDriftRenderer:
    name = "text"

    def render(self, report: DriftReport) -> str:
        lines = [f"Registry: {report.tracking_uri}", ""]
        for model, items in report.by_model().items():
            if not items:
                continue
            lines.append(f"{printable(model)}: {len(items)} drifted")
            for d in items:
                lines += drifted_lines(d, mark="  ~ ")
            lines.append("")
        if report.undeclared:
            lines.append("Not declared in any manifest:")
            lines += [f"  ? {undeclared_line(u)}" for u in report.undeclared]
            lines.append("")
        lines.append(summary(report))
        if report.drift:
            lines.append(next_step(report))
        return "\n".join(lines) + "\n"
