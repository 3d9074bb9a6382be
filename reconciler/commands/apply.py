from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from reconciler.apply import audit
from reconciler.apply.audit import AuditTrail
from reconciler.apply.executor import ApplyInterrupted, ModelOutcome, PartialApplyError, apply_plan
from reconciler.apply.guard import ModelGuard
from reconciler.apply.lock import RegistryLock, ttl_from_env
from reconciler.apply.permissions import preflight
from reconciler.commands.filekinds import refuse_non_plans, refuse_other_kinds
from reconciler.commands.plan import load_with_registry
from reconciler.console import count, err, interactive, out
from reconciler.constants import DEFAULT_PARALLELISM, DEFAULT_TIMEOUT
from reconciler.errors import Aborted, ApplyError, GatesBlockedError, PlanFileError, ReconcilerError, StalePlanError
from reconciler.manifest.desired import DesiredState
from reconciler.plan import savedfile
from reconciler.plan.build import make_plan
from reconciler.plan.gates import recheck
from reconciler.plan.model import Plan
from reconciler.registry import retry
from reconciler.registry.client import Registry
from reconciler.registry.protocol import PlanReader
from reconciler.registry.snapshot import ABSENT_FINGERPRINT, PROMPT_REFUSAL
from reconciler.render import render
from reconciler.render.describe import describe, new_version_labels, printable, subject
from reconciler.render.plan.evidence import blocked_lines
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


def read_saved_plan(path: str) -> Plan:
    """The plan file, checked as untrusted input (reconciler.plan.savedfile) before any registry is touched."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise PlanFileError(f"{printable(path)}:1:1: cannot read plan file: {printable(str(e))}") from None
    return savedfile.load(text, path)


def load_saved_plan(path: str, registry: PlanReader, plan: Plan | None = None) -> Plan:
    plan = plan if plan is not None else read_saved_plan(path)
    if plan.tracking_uri != registry.target.display:
        raise PlanFileError(
            f"{printable(path)} was planned against {printable(plan.tracking_uri)}, not {registry.target.display}; "
            "refusing to apply it elsewhere"
        )
    # the registry too: a plan of one registry must not apply to another behind the same tracking URI
    planned_registry = plan.registry_uri or plan.tracking_uri
    if planned_registry != registry.target.registry_display:
        raise PlanFileError(
            f"{printable(path)} was planned against the registry {printable(planned_registry)}, not "
            f"{registry.target.registry_display}; refusing to apply it elsewhere"
        )
    # Writes skip MLflow's per-call prompt check: every model written must be one the plan saw
    # (prompts are never seen), or one it creates.
    unseen = sorted(
        name for name, changes in plan.by_model().items()
        if plan.prior_state.get(name, ABSENT_FINGERPRINT) == ABSENT_FINGERPRINT and changes[0].action != "create_model"
    )
    if unseen:
        listed = ", ".join(printable(repr(n)) for n in unseen)
        raise PlanFileError(f"{printable(path)} changes models that it neither saw nor creates: {listed}; nothing was applied")
    now = registry.snapshot(sorted(set(plan.prior_state) | set(plan.by_model())))
    if now.prompts:
        raise PlanFileError(
            f"{printable(path)} changes {', '.join(printable(repr(n)) for n in sorted(now.prompts))}, "
            f"which {PROMPT_REFUSAL}; "
            "nothing was applied"
        )
    changed = [name for name, seen in sorted(plan.prior_state.items()) if now.fingerprint(name) != seen]
    if changed:
        raise StalePlanError(
            f"the registry changed since {printable(path)} was planned "
            f"(models: {', '.join(printable(repr(n)) for n in changed)}); "
            "nothing was applied. Run plan again."
        )
    return recheck_gates(plan, registry)


def recheck_gates(plan: Plan, registry: PlanReader) -> Plan:
    """A saved plan's gates, evaluated again against the runs as they are now: a metric logged
    since the plan was made counts. (Tags are part of the models' fingerprints, checked above.)"""
    if not plan.gates:
        return plan
    ids = {r.run_id for r in plan.gates if r.run_id} | {
        r.outgoing["run_id"] for r in plan.gates if r.outgoing and r.outgoing.get("run_id")
    }
    runs = registry.runs(ids) if ids else {}
    return dataclasses.replace(plan, gates=tuple(recheck(plan.gates, runs)))


def confirm() -> None:
    out("Do you want to perform these actions? Only 'yes' will be accepted to approve.")
    try:
        answer = input("  Enter a value: ")
    except EOFError:
        answer = ""
    if answer.strip() != "yes":
        raise Aborted("Apply cancelled; nothing was changed.")


def run(paths: list[str], target: Target, fmt: str, auto_approve: bool, verbose: bool,
        parallelism: int = DEFAULT_PARALLELISM, timeout: float | None = DEFAULT_TIMEOUT,
        lock: bool = False, audit_trail: bool = True) -> int:
    retry.configure(timeout)
    ttl = ttl_from_env() if lock else None
    notes = err if verbose else None
    saved = None
    if is_plan_file(paths):
        refuse_non_plans(paths[0])
        saved = read_saved_plan(paths[0])
        registry = Registry(target, parallelism=parallelism, on_retry=notes)
        desired = None
    else:
        refuse_other_kinds(paths, "apply")
        desired, registry = load_with_registry(paths, target, parallelism=parallelism, on_retry=notes)
    def summary() -> str:
        return (f"{count(registry.writes, 'registry write')}; {count(registry.round_trips, 'registry round trip')}; "
                f"{count(registry.parallelism, 'model')} at a time.")

    try:
        code = converge(paths, desired, registry, fmt, auto_approve, ttl, audit_trail, saved)
    except ReconcilerError as e:
        if verbose:
            e.add_note(summary())  # printed after the error's own message (cli.handle)
        raise
    if verbose:
        err(summary())
    return code


def converge(paths: list[str], desired: DesiredState | None, registry: Registry, fmt: str, auto_approve: bool,
             lock_ttl: float | None = None, audit_trail: bool = True, saved: Plan | None = None) -> int:
    """Plan (or load the saved plan), confirm, check permissions, take the lock (`lock_ttl`), then
    apply each model after checking it did not change since it was planned (reconciler.apply.guard)."""
    plan = load_saved_plan(paths[0], registry, saved) if desired is None else make_plan(desired, registry)
    machine = fmt == "json"
    if not machine:
        out(render(fmt, plan), end="")
    if plan.blocked_by:
        if machine:
            out(json.dumps({**plan.to_json(), "apply": {"status": "blocked", "applied": 0, "registered": []}}, indent=2))
        lines = blocked_lines(plan)
        raise GatesBlockedError([lines[0].rstrip(":") + "; nothing was applied.", *lines[1:]] if machine or fmt != "text"
                                else [f"{lines[0].rstrip(':')}; nothing was applied."])
    if plan.empty:
        if machine:
            out(json.dumps({**plan.to_json(), "apply": {"status": "no_changes", "applied": 0, "registered": []}},
                           indent=2))
        return 0
    if not auto_approve and interactive():
        out()
        confirm()
    total = len(plan.changes)
    labels = new_version_labels(plan.changes)
    printed = 0

    def model_done(outcome: ModelOutcome) -> None:
        # One block per model, printed when the model is done: models run concurrently, but a
        # model's lines are never split up or out of order. Calls come one at a time.
        nonlocal printed
        if machine:
            return
        for change in outcome.applied:
            printed += 1
            number = outcome.registered.get(change.ref) if change.action == "register_version" else None
            got = f" -> version {number}" if number else ""
            out(f"  [{printed}/{total}] {change.mark} {subject(change, labels)}: {describe(change)}{got}")

    preflight(plan, registry)  # nothing is written unless every change is permitted
    held = RegistryLock(registry, ttl=lock_ttl, say=err) if lock_ttl else None
    origin = "the plan" if desired is not None else paths[0]
    guard = ModelGuard(registry, plan, desired, lock=held, say=err, origin=origin)
    if held is not None:
        held.acquire()
    if not machine:
        out()
    try:
        # a saved plan: the commit is that of the manifests it was planned from, not of the plan file
        manifests = paths if desired is not None else audit.manifests_of(plan.changes) or paths
        # `--no-audit`: the trail is never called, so it writes (and counts) nothing
        context = audit.from_environment(manifests, registry.user_name()) if audit_trail else audit.Context()
        trail = AuditTrail(registry, plan, context, warn=err)
        result = apply_plan(plan, registry, parallelism=registry.parallelism, on_model=model_done, prepare=guard,
                            finish=trail if audit_trail else None, on_interrupt=interrupt_received)
    except ApplyInterrupted as e:
        report_partial(e, total, labels)
        if machine:
            out(json.dumps({**plan.to_json(), "apply": failed_json(e)}, indent=2))
        return 130
    except ApplyError as e:
        report_partial(e, total, labels)
        if machine:
            out(json.dumps({**plan.to_json(), "apply": failed_json(e)}, indent=2))
        return 1
    finally:
        if held is not None:
            held.release()
    done_by_others = total - len(result.applied)
    if machine:
        status = {"status": "applied", "applied": len(result.applied), "made_meanwhile": done_by_others,
                  "audit_tags": trail.writes, "registered": registered_json(result.registered)}
        out(json.dumps({**plan.to_json(), "apply": status}, indent=2))
    else:
        meanwhile = f" ({done_by_others} planned changes had been made meanwhile)" if done_by_others else ""
        out(f"\nApply complete! {count(len(result.applied), 'change')} applied{meanwhile}.")
        if trail.writes:
            out(f"Recorded the audit trail on {count(trail.models, 'model')} "
                f"({count(trail.writes, audit.PREFIX + '* tag')}).")
    return 0


def interrupt_received(in_progress: int) -> None:
    err(f"Interrupt received: {count(in_progress, 'model')} in progress stop after their current change; no other model "
        "starts. Press Ctrl-C again to stop waiting.")


def failures(e: ApplyError) -> list[tuple]:
    return e.failures if isinstance(e, (PartialApplyError, ApplyInterrupted)) else [(e.failed, str(e))]


def registered_json(registered: dict[tuple[str, str], str]) -> list[dict]:
    """The number each registered version got (SPEC: `apply.registered`), in a stable order."""
    return [{"model": model, "ref": ref, "version": version}
            for (model, ref), version in sorted(registered.items(), key=lambda kv: (kv[0][0], len(kv[1]), kv[1]))]


def failed_json(e: ApplyError) -> dict:
    return {
        "status": "interrupted" if isinstance(e, ApplyInterrupted) else "failed",
        "applied": len(e.applied),
        "registered": registered_json(getattr(e, "registered", {})),
        "failed": [{**c.to_json(), "error": message} for c, message in failures(e)],
        "not_applied": [c.to_json() for c in e.pending],
    }


def report_partial(e: ApplyError, total: int, labels) -> None:
    failed = failures(e)
    for _, message in failed:
        err(f"Error: {message}")
    models = f"; {len(failed)} models failed" if len(failed) > 1 else ""
    if isinstance(e, ApplyInterrupted):
        models = " before the interrupt" + models
    err(f"Applied {len(e.applied)} of {count(total, 'change')}{models}.")
    for c, _ in failed:
        err(f"  failed:      {c.mark} {subject(c, labels)}: {describe(c)}")
    for c in e.pending:
        err(f"  not applied: {c.mark} {subject(c, labels)}: {describe(c)}")
    if getattr(e, "stopped_early", False):
        err("Stopped starting further models after repeated failures in a row; their changes were not applied.")
    if isinstance(e, ApplyInterrupted):
        err("Interrupted: the registry is partly converged; run apply again to finish.")
    else:
        err("The registry is partly converged; fix the cause and run apply again.")
