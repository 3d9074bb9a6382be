"""Drift for a PR or issue comment: a status line, a table of drifted fields, undeclared models;
collapsed when long and kept under GitHub's comment limit."""

from __future__ import annotations

from reconciler.drift.report import DriftReport
from reconciler.render.describe import printable
from reconciler.render.drift.phrases import difference, provenance, subject, summary, undeclared_line
from reconciler.render.plan.markdown import BUDGET, COLLAPSE_OVER, cell


class MarkdownDriftRenderer:
    name = "markdown"

    def render(self, report: DriftReport) -> str:
        mark = "✅" if report.in_sync else "⚠️"
        out = ["### mlflow-gitops drift", "", f"Registry: `{cell(report.tracking_uri)}`", "",
               f"**{mark} {summary(report)}**"]
        rows = ["| Model | Field | Git → live | Last changed | Manifest |", "|---|---|---|---|---|"]
        rows += [
            f"| `{cell(printable(d.model))}` | {cell(subject(d))} | {cell(difference(d))} | "
            f"{cell(provenance(d))} | {'`' + cell(d.source) + '`' if d.source else ''} |"
            for d in report.drift
        ]
        undeclared = [f"- {cell(undeclared_line(u))}" for u in report.undeclared]
        body: list[str] = []
        if report.drift:
            body += ["", *self._fold(rows, len(report.drift), "drifted fields")]
        if undeclared:
            body += ["", "**Not declared in any manifest:**", "", *self._fold(undeclared, len(undeclared), "models")]
        return self._fit(out, body) + "\n"

    @staticmethod
    def _fold(lines: list[str], count: int, what: str) -> list[str]:
        if count <= COLLAPSE_OVER:
            return lines
        return [f"<details><summary>Show {count} {what}</summary>", "", *lines, "", "</details>"]

    @staticmethod
    def _fit(head: list[str], body: list[str]) -> str:
        size = sum(len(x) + 1 for x in head)
        kept = []
        for line in body:
            if size + len(line) + 1 > BUDGET:
                kept += ["", "_… more not shown; see `mlflow-gitops drift --format json`._"]
                if any(x.startswith("<details>") for x in kept) and "</details>" not in kept:
                    kept.insert(len(kept) - 2, "</details>")
                break
            kept.append(line)
            size += len(line) + 1
        return "\n".join(head + kept)
