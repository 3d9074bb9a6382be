from __future__ import annotations

from reconciler.commands.filekinds import refuse_other_kinds
from reconciler.console import check_out, count, err, out, write_file
from reconciler.constants import DEFAULT_TIMEOUT
from reconciler.errors import PlanFileError
from reconciler.plan.build import make_plan
from reconciler.redact import redact
from reconciler.registry import retry
from reconciler.render import render
from reconciler.render.plan.evidence import blocked_lines
from reconciler.target import Target
from reconciler.workspace import load_with_registry


def run(paths: list[str], target: Target, fmt: str, out_file: str | None, detailed_exitcode: bool,
        verbose: bool, timeout: float | None = DEFAULT_TIMEOUT) -> int:
    retry.configure(timeout)
    refuse_other_kinds(paths, "plan")
    if out_file:
        check_out(out_file)
    desired, registry = load_with_registry(paths, target, on_retry=err if verbose else None, read_only=True)
    plan = make_plan(desired, registry)
    out(render(fmt, plan), end="")
    if out_file:
        text = plan.dumps()
        if redact(text) != text:
            # A value that equals a credential would be saved masked, and `apply FILE` would then
            # write "***" to the registry: refuse rather than save a plan that changes meaning.
            raise PlanFileError(
                f"{out_file}: not saved: a planned value contains a credential of this run and would "
                "be masked; apply from the manifests instead"
            )
        write_file(out_file, text)
        err(f"Saved the plan to {out_file}; apply it with: mlflow-gitops apply {out_file}")
    if verbose:
        err(f"{count(len(desired.models), 'model')} declared; {count(registry.round_trips, 'registry round trip')}.")
    if plan.blocked_by:
        # the whole plan is out (stdout, --out) for review; the text plan lists the failures itself
        if fmt != "text":
            for line in blocked_lines(plan):
                err(line)
        return 1
    return 2 if detailed_exitcode and not plan.empty else 0

