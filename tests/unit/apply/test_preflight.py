"""Permission preflight: which change needs which MLflow permission, and the message listing them."""

from __future__ import annotations

import pytest

from reconciler.apply.permissions import PermissionDenied, User, missing, models_to_check, preflight
from reconciler.plan.model import Change, Plan

PLAN = Plan(
    changes=(
        Change("create_model", "new", after="new"),
        Change("register_version", "new", after="s3://x", ref="source:s3://x"),
        Change("transition_stage", "m", "1", before="None", after="Production"),
        Change("delete_alias", "m", "1", before="1", alias="old"),
        Change("delete_version_tag", "m", "1", before="x", key="k"),
        Change("set_model_tag", "other", after="v", key="team"),
    ),
    tracking_uri="http://x",
)


class Registry:
    def __init__(self, user, permissions):
        self.user = user
        self.permissions = permissions
        self.asked: list[list[str]] = []

    def auth_user(self):
        return self.user

    def model_permissions(self, username, names):
        self.asked.append(names)
        return {n: self.permissions.get(n, "NO_PERMISSIONS") for n in names}


def test_models_created_by_the_apply_need_no_check():
    assert models_to_check(PLAN) == ["m", "other"]


def test_edit_may_not_delete_aliases_or_version_tags():
    problems = missing(PLAN, User("bob"), {"m": "EDIT", "other": "EDIT"})
    assert [(c.action, have, need) for c, have, need in problems] == [
        ("delete_alias", "EDIT", "MANAGE"), ("delete_version_tag", "EDIT", "MANAGE"),
    ]


def test_manage_may_do_everything_and_admins_are_not_checked():
    assert missing(PLAN, User("carol"), {"m": "MANAGE", "other": "MANAGE"}) == []
    assert missing(PLAN, User("root", is_admin=True), {}) == []


def test_read_only_user_gets_every_refused_change_listed():
    reg = Registry(User("reader"), {"m": "READ", "other": "READ"})
    with pytest.raises(PermissionDenied) as e:
        preflight(PLAN, reg)
    lines = e.value.messages()
    assert lines[0] == ("Permission denied: user 'reader' may not make 4 of the 6 planned changes; "
                        "nothing was applied.")
    assert "~ m v1: stage None -> Production -- needs EDIT on model 'm', user has READ" in lines[1]
    assert "delete alias @old" in lines[2] and "needs MANAGE" in lines[2]
    assert reg.asked == [["m", "other"]]


def test_servers_without_the_auth_api_are_not_checked():
    reg = Registry(None, {})
    assert preflight(PLAN, reg) is None
    assert reg.asked == []
