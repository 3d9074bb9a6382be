from __future__ import annotations

from reconciler.commands.filekinds import refuse_other_kinds
from reconciler.console import out
from reconciler.manifest.load import check_tree


def run(paths: list[str]) -> int:
    refuse_other_kinds(paths, "validate")
    files, models = check_tree(paths)
    out(f"{files} file{'s' if files != 1 else ''}, {models} model{'s' if models != 1 else ''}: valid.")
    return 0
