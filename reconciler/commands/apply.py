from __future__ import annotations

import json
from pathlib import Path

from reconciler.apply import apply_plan
from reconciler.console import err, interactive, out
from reconciler.errors import Aborted, ApplyError, PlanFileError, StalePlanError
from reconciler.live import Registry
from reconciler.manifest import load_tree
from reconciler.plan import Plan
from reconciler.planner import make_plan
from reconciler.render import render
from reconciler.render.describe import describe, new_version_labels, subject
from reconciler.target import Target


def is_plan_file(paths: list[str]) -> bool:
    if len(paths) != 1:
        return False
    p = Path(paths[0])
    if not p.is_file():
        return False
    if p.suffix == ".json":
        return True
    if p.suffix in (".yaml", ".yml"):
        return False
    with p.open("rb") as f:
        return f.read(64).lstrip().startswith(b"{")


def load_saved_plan(path: str, registry: Registry) -> Plan:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise PlanFileError(f"{path}:1:1: cannot read plan file: {e}") from None
    plan = Plan.loads(text, path)
    if plan.tracking_uri != registry.target.display:
        raise PlanFileError(
            f"{path} was planned against {plan.tracking_uri}, not {registry.target.display}; "
            "refusing to apply it elsewhere"
        )
    now = registry.snapshot(sorted(plan.prior_state))
    changed = [name for name, seen in sorted(plan.prior_state.items()) if now.fingerprint(name) != seen]
    if changed:
        raise StalePlanError(
            f"the registry changed since {path} was planned (models: {', '.join(changed)}); "
            "nothing was applied. Run plan again."
        )
    return plan


def confirm() -> None:
    out("Do you want to perform these actions? Only 'yes' will be accepted to approve.")
    try:
        answer = input("  Enter a value: ")
    except EOFError:
        answer = ""
    if answer.strip() != "yes":
        raise Aborted("Apply cancelled; nothing was changed.")


def run(paths: list[str], target: Target, fmt: str, auto_approve: bool, verbose: bool) -> int:
    registry = Registry(target)
    try:
        return converge(paths, registry, fmt, auto_approve)
    finally:
        if verbose:
            err(f"{registry.writes} registry writes; {registry.round_trips} registry round trips.")


def converge(paths: list[str], registry: Registry, fmt: str, auto_approve: bool) -> int:
    if is_plan_file(paths):
        plan = load_saved_plan(paths[0], registry)
    else:
        plan = make_plan(load_tree(paths), registry)
    machine = fmt == "json"
    if not machine:
        out(render(fmt, plan), end="")
    if plan.empty:
        if machine:
            out(json.dumps({**plan.to_json(), "apply": {"status": "no_changes", "applied": 0}}, indent=2))
        return 0
    if not auto_approve and interactive():
        out()
        confirm()
    total = len(plan.changes)
    labels = new_version_labels(plan.changes)

    def progress(change, result):
        if not machine:
            n = len(result.applied)
            out(f"  [{n}/{total}] {change.mark} {subject(change, labels)}: {describe(change)}")

    if not machine:
        out()
    try:
        result = apply_plan(plan, registry, progress)
    except ApplyError as e:
        report_partial(e, total, labels)
        if machine:
            out(json.dumps({**plan.to_json(), "apply": {"status": "failed", "applied": len(e.applied)}}, indent=2))
        return 1
    if machine:
        out(json.dumps({**plan.to_json(), "apply": {"status": "applied", "applied": len(result.applied)}}, indent=2))
    else:
        out(f"\nApply complete! {len(result.applied)} changes applied.")
    return 0


def report_partial(e: ApplyError, total: int, labels) -> None:
    err(f"Error: {e}")
    err(f"Applied {len(e.applied)} of {total} changes before the error.")
    err(f"  failed:      {e.failed.mark} {subject(e.failed, labels)}: {describe(e.failed)}")
    for c in e.pending:
        err(f"  not applied: {c.mark} {subject(c, labels)}: {describe(c)}")
    err("The registry is partly converged; fix the cause and run apply again.")
