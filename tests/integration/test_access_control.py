"""Access control against `mlflow server --app-name basic-auth` (MLflow's built-in auth; default
permission READ): `plan` works with READ; a READ-only user's `apply` fails before writing anything,
listing every change it may not make; an EDIT user may change stages but not delete aliases
(MLflow requires MANAGE), and is told which change. Credentials come from
MLFLOW_TRACKING_USERNAME/PASSWORD and never appear in the output."""

from __future__ import annotations

import secrets

import pytest
import requests
from support.integration import client, promotion_manifest, seed_versions, state, write

pytestmark = pytest.mark.integration


class Users:
    """Users of the auth server, created by its admin through MLflow's auth REST API."""

    def __init__(self, server):
        self.server = server
        self.passwords: dict[str, str] = {}

    def _admin(self, path: str, body: dict) -> None:
        r = requests.post(self.server.uri + path, json=body, auth=self.server.admin, timeout=30)
        assert r.status_code == 200, r.text

    def create(self, name: str) -> str:
        password = "pw-" + secrets.token_urlsafe(12)
        self._admin("/api/2.0/mlflow/users/create", {"username": name, "password": password})
        self.passwords[name] = password
        return name

    def grant(self, name: str, model: str, permission: str) -> None:
        self._admin("/api/3.0/mlflow/users/permissions/grant", {
            "username": name, "resource_type": "registered_model", "resource_id": model, "permission": permission,
        })  # fmt: skip

    def env(self, name: str) -> dict[str, str]:
        return {"MLFLOW_TRACKING_USERNAME": name, "MLFLOW_TRACKING_PASSWORD": self.passwords[name]}


@pytest.fixture(scope="module")
def users(auth_server) -> Users:
    return Users(auth_server)


@pytest.fixture
def admin_uri(auth_server) -> str:
    user, password = auth_server.admin
    return auth_server.uri.replace("http://", f"http://{user}:{password}@")


def seeded(admin_uri: str, name: str) -> None:
    seed_versions(admin_uri, name, ["Production", "Staging"])
    client(admin_uri).set_registered_model_alias(name, "old", "1")


def test_read_only_user_can_plan_but_apply_writes_nothing(auth_server, users, admin_uri, unique_name, cli, run_cli,
                                                          tmp_path):
    seeded(admin_uri, unique_name)
    reader = users.create(f"reader_{unique_name}")  # default permission: READ
    tree = write(tmp_path / "m.yaml", promotion_manifest(unique_name))
    uri = ["--tracking-uri", auth_server.uri]
    before = state(admin_uri, unique_name)

    plan = cli("plan", tree, "--detailed-exitcode", *uri, env=users.env(reader))
    assert plan.returncode == 2, plan.stderr
    assert "Plan: 4 changes" in plan.stdout

    r = run_cli("apply", tree, "--auto-approve", *uri, env=users.env(reader))
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert lines[0] == (f"Permission denied: user '{reader}' may not make 4 of the 4 planned changes; "
                        "nothing was applied.")  # fmt: skip
    assert f"~ {unique_name} v2: stage Staging -> Production -- needs EDIT on model '{unique_name}', user has READ" in r.stderr
    assert "Apply complete" not in r.stdout
    assert state(admin_uri, unique_name) == before  # not even a timestamp moved
    assert users.passwords[reader] not in r.stdout + r.stderr + plan.stdout + plan.stderr


def test_edit_user_applies_but_may_not_delete_an_alias(auth_server, users, admin_uri, unique_name, cli, tmp_path):
    seeded(admin_uri, unique_name)
    editor = users.create(f"editor_{unique_name}")
    users.grant(editor, unique_name, "EDIT")
    uri = ["--tracking-uri", auth_server.uri]
    before = state(admin_uri, unique_name)

    pruning = write(tmp_path / "prune" / "m.yaml", promotion_manifest(unique_name, prune_aliases=True))
    r = cli("apply", pruning, "--auto-approve", *uri, env=users.env(editor))
    assert r.returncode == 1
    assert f"Permission denied: user '{editor}' may not make 1 of the 5 planned changes" in r.stderr
    assert (f"- {unique_name} v1: delete alias @old (was v1) [policy prune_aliases: true] -- needs MANAGE on "
            f"model '{unique_name}', user has EDIT") in r.stderr  # fmt: skip
    assert state(admin_uri, unique_name) == before

    keeping = write(tmp_path / "keep" / "m.yaml", promotion_manifest(unique_name))
    r = cli("apply", keeping, "--auto-approve", *uri, env=users.env(editor))
    assert r.returncode == 0, r.stderr
    after = state(admin_uri, unique_name)
    assert after["aliases"] == {"champion": "2", "old": "1"}
    assert after["versions"]["2"]["stage"] == "Production"
    assert users.passwords[editor] not in r.stdout + r.stderr


def test_manage_user_may_delete_aliases(auth_server, users, admin_uri, unique_name, cli, tmp_path):
    seeded(admin_uri, unique_name)
    manager = users.create(f"manager_{unique_name}")
    users.grant(manager, unique_name, "MANAGE")
    tree = write(tmp_path / "m.yaml", promotion_manifest(unique_name, prune_aliases=True))
    r = cli("apply", tree, "--auto-approve", "--tracking-uri", auth_server.uri, env=users.env(manager))
    assert r.returncode == 0, r.stderr
    assert state(admin_uri, unique_name)["aliases"] == {"champion": "2"}
