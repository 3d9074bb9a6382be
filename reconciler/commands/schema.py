from __future__ import annotations

from reconciler.console import out
from reconciler.manifest.schema import schema_text


def run() -> int:
    out(schema_text(), end="")
    return 0
