from __future__ import annotations

from reconciler.console import err, out, write_file
from reconciler.live import Registry
from reconciler.manifest import load_tree
from reconciler.planner import make_plan
from reconciler.render import render
from reconciler.target import Target


def run(paths: list[str], target: Target, fmt: str, out_file: str | None, detailed_exitcode: bool,
        verbose: bool) -> int:
    desired = load_tree(paths)
    registry = Registry(target)
    plan = make_plan(desired, registry)
    out(render(fmt, plan), end="")
    if out_file:
        write_file(out_file, plan.dumps())
        err(f"Saved the plan to {out_file}; apply it with: mlflow-gitops apply {out_file}")
    if verbose:
        err(f"{len(desired.models)} models declared; {registry.round_trips} registry round trips.")
    return 2 if detailed_exitcode and not plan.empty else 0
