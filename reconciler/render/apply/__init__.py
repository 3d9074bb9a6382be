"""Apply renderers: one per output format, each with `plan`, `started`, `progress` (shown while
apply runs) and `render(ApplyReport)` at the end; `failure_lines` is for stderr in every format."""

from __future__ import annotations

from reconciler.render.apply.jsonfmt import JsonApplyRenderer
from reconciler.render.apply.text import TextApplyRenderer, failure_lines, interrupt_line

__all__ = ["renderer", "failure_lines", "interrupt_line"]


def renderer(fmt: str) -> TextApplyRenderer | JsonApplyRenderer:
    """JSON for `json`; otherwise the plan in `fmt` (text, markdown) followed by text progress."""
    return JsonApplyRenderer() if fmt == "json" else TextApplyRenderer(fmt)
