"""Every kind of plan change, and everything that varies per kind, in one table.

`Action` is the single key of per-action behaviour: the data here (how a reviewer sees the
change, when it runs, what MLflow permission it needs, which drift field it names) and the two
behaviour tables keyed by it elsewhere, the executor (reconciler.apply.executor.EXECUTORS) and
the phrase (reconciler.render.describe.PHRASES). tests/unit/plan/test_actions.py fails when any
of them misses an action. Adding an action: one member and one `ActionSpec` here, one executor,
one phrase.

String-valued, so plan JSON (SPEC.md) carries the same strings it always did.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

# Terraform-style marks: what a reviewer sees first on each line.
ADD, CHANGE, DESTROY = "+", "~", "-"


class Action(str, Enum):
    CREATE_MODEL = "create_model"
    REGISTER_VERSION = "register_version"
    TRANSITION_STAGE = "transition_stage"
    SET_ALIAS = "set_alias"
    DELETE_ALIAS = "delete_alias"
    SET_MODEL_TAG = "set_model_tag"
    DELETE_MODEL_TAG = "delete_model_tag"
    SET_VERSION_TAG = "set_version_tag"
    DELETE_VERSION_TAG = "delete_version_tag"
    UPDATE_MODEL_DESCRIPTION = "update_model_description"
    UPDATE_VERSION_DESCRIPTION = "update_version_description"

    def __str__(self) -> str:  # f-strings and messages show the plan-JSON string
        return self.value

    @property
    def spec(self) -> ActionSpec:
        return SPECS[self]


@dataclass(frozen=True)
class ActionSpec:
    # ADD, CHANGE or DESTROY; "set" actions are ADD when nothing was there before (see mark()).
    mark: str
    # Apply order within a model (reconciler.plan.order): create, register, promote before demote,
    # aliases, tags, descriptions.
    phase: int
    # MLflow permission on the model the change needs (reconciler.apply.permissions); None: none.
    permission: str | None
    # The drift report's field: a fixed name, or "aliases."/"tags." + the change's alias/key.
    drift_field: str
    # A "set" shown as ADD when nothing was there before.
    add_when_new: bool = False

    def mark_for(self, before) -> str:
        return ADD if self.add_when_new and before is None else self.mark


SPECS: dict[Action, ActionSpec] = {
    Action.CREATE_MODEL: ActionSpec(ADD, 0, None, "model"),
    Action.REGISTER_VERSION: ActionSpec(ADD, 1, "EDIT", "version"),
    # phase 2..5: refined by the target stage in reconciler.plan.order
    Action.TRANSITION_STAGE: ActionSpec(CHANGE, 2, "EDIT", "stage"),
    Action.SET_ALIAS: ActionSpec(CHANGE, 6, "EDIT", "aliases.", add_when_new=True),
    Action.DELETE_ALIAS: ActionSpec(DESTROY, 7, "MANAGE", "aliases."),
    Action.SET_MODEL_TAG: ActionSpec(CHANGE, 8, "EDIT", "tags.", add_when_new=True),
    Action.DELETE_MODEL_TAG: ActionSpec(DESTROY, 9, "EDIT", "tags."),
    Action.SET_VERSION_TAG: ActionSpec(CHANGE, 10, "EDIT", "tags.", add_when_new=True),
    Action.DELETE_VERSION_TAG: ActionSpec(DESTROY, 11, "MANAGE", "tags."),
    Action.UPDATE_MODEL_DESCRIPTION: ActionSpec(CHANGE, 12, "EDIT", "description"),
    Action.UPDATE_VERSION_DESCRIPTION: ActionSpec(CHANGE, 13, "EDIT", "description"),
}

# Plan-JSON strings, in table order.
ACTIONS: tuple[str, ...] = tuple(a.value for a in Action)
