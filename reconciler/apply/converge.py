"""One apply, start to end: the plan (made from the manifests, or a saved one checked against the
registry as it is now), confirmation, permission preflight, the lock, then the executor with the
per-model guard and the audit trail. Returns an ApplyReport; what is shown to the user along the
way goes through `Hooks` (the command wires them to a renderer)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reconciler.apply import audit
from reconciler.apply.audit import AuditTrail
from reconciler.apply.executor import ModelOutcome, apply_plan
from reconciler.apply.guard import ModelGuard
from reconciler.apply.lock import RegistryLock
from reconciler.apply.permissions import preflight
from reconciler.apply.report import ApplyReport, Status
from reconciler.apply.stale import still_current
from reconciler.errors import ApplyFailed
from reconciler.manifest.desired import DesiredState
from reconciler.plan.build import make_plan
from reconciler.plan.model import Plan
from reconciler.registry.protocol import Registry


def _nothing(*_args) -> None:
    return None


@dataclass
class Hooks:
    """What converge tells (or asks) the user while it runs, in this order."""

    show_plan: Callable[[Plan], None] = _nothing
    confirm: Callable[[], None] | None = None  # raises Aborted unless approved; None: approved already
    started: Callable[[], None] = _nothing  # about to write: lock held, permissions checked
    model_done: Callable[[ModelOutcome], None] = _nothing  # one at a time, never concurrently
    interrupted: Callable[[int], None] = _nothing  # Ctrl-C; models still finishing their current change
    say: Callable[[str], None] = _nothing  # notes from the guard, lock and audit trail


def converge(registry: Registry, manifests: list[str], hooks: Hooks, desired: DesiredState | None = None,
             saved: Plan | None = None, lock_ttl: float | None = None, audit_trail: bool = True) -> ApplyReport:
    """Apply `desired` (parsed from `manifests`) or the `saved` plan (read from `manifests[0]`).
    Nothing is written unless every change is permitted; each model is checked right before its first
    change to be as planned (reconciler.apply.guard); `lock_ttl` takes the registry lease."""
    plan = make_plan(desired, registry) if desired is not None else still_current(saved, manifests[0], registry)
    hooks.show_plan(plan)
    if plan.blocked_by:
        return ApplyReport(plan, Status.BLOCKED)
    if plan.empty:
        return ApplyReport(plan, Status.NO_CHANGES)
    if hooks.confirm is not None:
        hooks.confirm()
    preflight(plan, registry)
    held = RegistryLock(registry, ttl=lock_ttl, say=hooks.say) if lock_ttl else None
    origin = "the plan" if desired is not None else manifests[0]
    guard = ModelGuard(registry, plan, desired, lock=held, say=hooks.say, origin=origin)
    if held is not None:
        held.acquire()
    hooks.started()
    try:
        # a saved plan: the commit is that of the manifests it was planned from, not of the plan file
        where = manifests if desired is not None else audit.manifests_of(plan.changes) or manifests
        # `--no-audit`: the trail is never called, so it writes (and counts) nothing
        context = audit.from_environment(where, registry.user_name()) if audit_trail else audit.Context()
        trail = AuditTrail(registry, plan, context, warn=hooks.say)
        result = apply_plan(plan, registry, parallelism=registry.parallelism, on_model=hooks.model_done,
                            prepare=guard, finish=trail if audit_trail else None, on_interrupt=hooks.interrupted)
    except ApplyFailed as e:
        status = Status.INTERRUPTED if e.result.interrupted else Status.FAILED
        return ApplyReport(plan, status, e.result)
    finally:
        if held is not None:
            held.release()
    return ApplyReport(plan, Status.APPLIED, result, audit_tags=trail.writes, audit_models=trail.models)
