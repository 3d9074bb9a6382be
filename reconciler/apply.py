"""The applier: executes a plan's changes in order, one registry call per change.

It never recomputes the diff. Versions that the plan registers are referred to by their selector
(`ref`) until `register_version` returns their number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from reconciler.errors import ApplyError, ReconcilerError
from reconciler.plan import Change, Plan


@dataclass
class ApplyResult:
    applied: list[Change] = field(default_factory=list)
    registered: dict[tuple[str, str], str] = field(default_factory=dict)  # (model, ref) -> version


def _version(change: Change, result: ApplyResult) -> str:
    if change.version is not None:
        return change.version
    try:
        return result.registered[(change.model, change.ref)]
    except KeyError:
        raise ReconcilerError(f"plan refers to unregistered version {change.ref!r} of '{change.model}'") from None


def _create_model(reg, c, result):
    reg.create_model(c.model)


def _register_version(reg, c, result):
    result.registered[(c.model, c.ref)] = reg.register_version(c.model, c.after, c.run_id)


def _transition_stage(reg, c, result):
    reg.transition_stage(c.model, _version(c, result), c.after)


def _set_alias(reg, c, result):
    reg.set_alias(c.model, c.alias, _version(c, result))


def _delete_alias(reg, c, result):
    reg.delete_alias(c.model, c.alias)


def _set_model_tag(reg, c, result):
    reg.set_model_tag(c.model, c.key, c.after)


def _delete_model_tag(reg, c, result):
    reg.delete_model_tag(c.model, c.key)


def _set_version_tag(reg, c, result):
    reg.set_version_tag(c.model, _version(c, result), c.key, c.after)


def _delete_version_tag(reg, c, result):
    reg.delete_version_tag(c.model, _version(c, result), c.key)


def _update_model_description(reg, c, result):
    reg.update_model_description(c.model, c.after)


def _update_version_description(reg, c, result):
    reg.update_version_description(c.model, _version(c, result), c.after)


EXECUTORS: dict[str, Callable] = {
    "create_model": _create_model,
    "register_version": _register_version,
    "transition_stage": _transition_stage,
    "set_alias": _set_alias,
    "delete_alias": _delete_alias,
    "set_model_tag": _set_model_tag,
    "delete_model_tag": _delete_model_tag,
    "set_version_tag": _set_version_tag,
    "delete_version_tag": _delete_version_tag,
    "update_model_description": _update_model_description,
    "update_version_description": _update_version_description,
}


def apply_plan(plan: Plan, registry, on_applied: Callable[[Change, ApplyResult], None] | None = None) -> ApplyResult:
    result = ApplyResult()
    changes = list(plan.changes)
    for i, change in enumerate(changes):
        try:
            EXECUTORS[change.action](registry, change, result)
        except ReconcilerError as e:
            raise ApplyError(str(e), applied=result.applied, failed=change, pending=changes[i + 1 :]) from None
        result.applied.append(change)
        if on_applied:
            on_applied(change, result)
    return result
