"""A saved plan against the registry as it is now: refused if it was planned elsewhere, writes a
model it neither saw nor creates, touches a prompt, or any model it saw has changed since (its
fingerprint differs). Its promotion gates are evaluated again against the runs as they are now.
Nothing is written here; the plan file's own checks are reconciler.plan.savedfile's."""

from __future__ import annotations

import dataclasses

from reconciler.errors import PlanFileError, StalePlanError
from reconciler.plan.gates import recheck
from reconciler.plan.model import Plan
from reconciler.registry.protocol import PlanReader
from reconciler.registry.snapshot import ABSENT_FINGERPRINT, PROMPT_REFUSAL
from reconciler.render.describe import printable


def still_current(plan: Plan, path: str, registry: PlanReader) -> Plan:
    """`plan` (read from `path`) with its gates rechecked, or PlanFileError / StalePlanError."""
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
