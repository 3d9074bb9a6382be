from __future__ import annotations

from reconciler.console import out
from reconciler.manifest import load_tree


def run(paths: list[str]) -> int:
    desired = load_tree(paths)
    files = len(desired.files)
    models = len(desired.models)
    out(f"{files} file{'s' if files != 1 else ''}, {models} model{'s' if models != 1 else ''}: valid.")
    return 0
