"""Plan renderers. Adding an output format is one class with `name` and `render(plan)` plus one
entry here."""

from __future__ import annotations

from reconciler.render.plan.jsonfmt import JsonRenderer
from reconciler.render.plan.markdown import MarkdownRenderer
from reconciler.render.plan.text import TextRenderer

RENDERERS = {r.name: r for r in (TextRenderer(), JsonRenderer(), MarkdownRenderer())}


def render(fmt: str, plan) -> str:
    return RENDERERS[fmt].render(plan)
