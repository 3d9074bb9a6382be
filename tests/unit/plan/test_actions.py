"""The action table is complete: every per-action table has exactly one entry per Action."""

import json

import pytest

from reconciler.apply.executor import EXECUTORS
from reconciler.apply.permissions import REQUIRED
from reconciler.plan.actions import ACTIONS, ADD, CHANGE, DESTROY, SPECS, Action
from reconciler.plan.model import Change, Plan
from reconciler.render.describe import PHRASES


@pytest.mark.parametrize("table", [SPECS, EXECUTORS, PHRASES], ids=["specs", "executors", "phrases"])
def test_every_table_has_every_action(table):
    assert set(table) == set(Action)


def test_required_permissions_follow_the_specs():
    assert REQUIRED == {a.value: a.spec.permission for a in Action}


def test_plan_json_strings_are_the_enum_values():
    assert ACTIONS == tuple(a.value for a in Action)
    change = Change("set_alias", "m", "1", before=None, after="1", alias="champion")
    assert change.action is Action.SET_ALIAS
    doc = json.loads(Plan((change,), tracking_uri="sqlite:///x.db").dumps())
    assert doc["changes"][0]["action"] == "set_alias"
    assert Change.from_json(doc["changes"][0]) == change


def test_unknown_action_is_refused():
    with pytest.raises(ValueError):
        Change("drop_everything", "m")


@pytest.mark.parametrize(
    "action, before, mark",
    [
        ("create_model", None, ADD), ("register_version", None, ADD),
        ("set_alias", None, ADD), ("set_alias", "1", CHANGE),
        ("set_model_tag", None, ADD), ("set_version_tag", "x", CHANGE),
        ("delete_alias", "1", DESTROY), ("delete_version_tag", "x", DESTROY),
        ("transition_stage", "None", CHANGE), ("update_model_description", "", CHANGE),
    ],
)
def test_marks(action, before, mark):
    assert Change(action, "m", before=before).mark == mark


def test_phases_put_registration_before_stages_before_aliases_before_tags():
    phase = {a: a.spec.phase for a in Action}
    assert phase[Action.CREATE_MODEL] < phase[Action.REGISTER_VERSION] < phase[Action.TRANSITION_STAGE]
    assert phase[Action.TRANSITION_STAGE] + 3 < phase[Action.SET_ALIAS]  # room for the four stage ranks
    assert phase[Action.SET_ALIAS] < phase[Action.SET_MODEL_TAG] < phase[Action.UPDATE_MODEL_DESCRIPTION]
