"""History renderers. Adding an output format is one class with `name` and `render(history)` plus
one entry here."""

from __future__ import annotations

from reconciler.render.history.jsonfmt import JsonHistoryRenderer
from reconciler.render.history.markdown import MarkdownHistoryRenderer
from reconciler.render.history.text import TextHistoryRenderer

HISTORY_RENDERERS = {r.name: r for r in (TextHistoryRenderer(), JsonHistoryRenderer(), MarkdownHistoryRenderer())}


def render(fmt: str, history) -> str:
    return HISTORY_RENDERERS[fmt].render(history)
