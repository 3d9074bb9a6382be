from __future__ import annotations

from reconciler.commands.filekinds import refuse_other_kinds
from reconciler.console import check_out, count, err, out, write_file
from reconciler.constants import DEFAULT_TIMEOUT
from reconciler.drift.report import build, gate_rows, without_missing_versions
from reconciler.plan import evidence
from reconciler.plan.diff import diff
from reconciler.registry import retry
from reconciler.render.drift import render
from reconciler.target import Target
from reconciler.workspace import load_with_registry


def run(paths: list[str], target: Target, fmt: str, out_file: str | None, fail_on_unmanaged: bool,
        verbose: bool, timeout: float | None = DEFAULT_TIMEOUT) -> int:
    retry.configure(timeout)
    refuse_other_kinds(paths, "drift")
    if out_file:
        check_out(out_file)
    desired, registry = load_with_registry(paths, target, on_retry=err if verbose else None, read_only=True)
    snapshot = registry.snapshot(None)  # the whole registry: undeclared models are part of the audit
    present, missing = without_missing_versions(desired, snapshot)
    needed = evidence.holder_run_ids(present, snapshot)  # versions holding gated targets: one bulk read
    failing = evidence.failing_holders(present, snapshot, registry.runs(needed) if needed else {})
    report = build(present, snapshot, diff(present, snapshot), registry.target.display, fail_on_unmanaged, missing,
                   gate_rows(present, snapshot, failing))
    if out_file:
        write_file(out_file, render(fmt, report))
        out(render("text", report), end="")
        err(f"Wrote the {fmt} drift report to {out_file}.")
    else:
        out(render(fmt, report), end="")
    if verbose:
        err(f"{count(len(desired.models), 'model')} declared, {len(snapshot.models)} in the registry; "
            f"{count(registry.round_trips, 'registry round trip')}.")
    return report.exit_code
