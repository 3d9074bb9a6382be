"""Drift report renderers. Adding an output format is one class with `name` and `render(report)`
plus one entry here."""

from __future__ import annotations

from reconciler.render.drift.jsonfmt import JsonDriftRenderer
from reconciler.render.drift.junit import JUnitDriftRenderer
from reconciler.render.drift.markdown import MarkdownDriftRenderer
from reconciler.render.drift.text import TextDriftRenderer

DRIFT_RENDERERS = {
    r.name: r for r in (TextDriftRenderer(), JsonDriftRenderer(), MarkdownDriftRenderer(), JUnitDriftRenderer())
}


def render(fmt: str, report) -> str:
    return DRIFT_RENDERERS[fmt].render(report)
