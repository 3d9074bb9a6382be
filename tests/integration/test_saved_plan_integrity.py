"""A saved plan is untrusted input (issue 9, defects 4, 6, 8 and the registry URI check), end to
end against a real server: each tampered plan is one clear refusal and nothing is written."""

from __future__ import annotations

import json

import pytest
from support.integration import client, seed_versions, state, write

pytestmark = pytest.mark.integration


def saved_plan(cli, uri, tmp_path, name) -> tuple:
    seed_versions(uri, name, ["None"])
    tree = write(tmp_path / "m" / "model.yaml", f"""\
        apiVersion: mlflow-gitops/v1
        kind: RegisteredModel
        name: {name}
        tags: {{team: mlops}}
        versions:
          - version: 1
            stage: Staging
        """)
    out = tmp_path / "plan.json"
    planned = cli("plan", tree, "--out", out, "--tracking-uri", uri)
    assert planned.returncode == 0, planned.stderr
    return out, json.loads(out.read_text())


def tampered(path, doc) -> None:
    path.write_text(json.dumps(doc), encoding="utf-8")


@pytest.mark.parametrize("key", ["mlflow.prompt.is_prompt", "mlflow-gitops.manifest"])
def test_a_plan_that_writes_a_reserved_tag_is_refused(sqlite_server, cli, tmp_path, unique_name, key):
    uri = sqlite_server.uri
    path, doc = saved_plan(cli, uri, tmp_path, unique_name)
    doc["changes"].append({"action": "set_model_tag", "model": unique_name, "version": None, "key": key,
                           "before": None, "after": "true", "source": "m/model.yaml:4"})
    tampered(path, doc)
    before = state(uri, unique_name)
    applied = cli("apply", path, "--auto-approve", "--tracking-uri", uri)
    assert applied.returncode == 1
    assert f"key: tag key '{key}' uses the prefix" in applied.stderr, applied.stderr
    assert state(uri, unique_name) == before
    assert key not in client(uri)._get_registry_client().get_registered_model(unique_name)._tags
    replan = cli("plan", tmp_path / "m", "--tracking-uri", uri)
    assert replan.returncode == 0, replan.stderr


@pytest.mark.parametrize("corrupt", [
    lambda d: d.update(changes=[None]),
    lambda d: d.update(changes="abc"),
    lambda d: d.update(prior_state=["abc"]),
    lambda d: d["changes"][0].update(model=5),
    lambda d: d["changes"][0].update(model="evil\x1b[2J\nApply complete! 99 changes applied."),
])
def test_a_plan_of_the_wrong_shape_is_one_clear_refusal(sqlite_server, cli, tmp_path, unique_name, corrupt):
    uri = sqlite_server.uri
    path, doc = saved_plan(cli, uri, tmp_path, unique_name)
    corrupt(doc)
    tampered(path, doc)
    before = state(uri, unique_name)
    applied = cli("apply", path, "--auto-approve", "--tracking-uri", uri)
    assert applied.returncode == 1
    assert applied.stderr.startswith(f"{path}: "), applied.stderr
    assert "internal error" not in applied.stderr and "\x1b" not in applied.stderr + applied.stdout
    assert "\nApply complete" not in applied.stdout + applied.stderr
    assert state(uri, unique_name) == before


def test_deeply_nested_plan_file_is_refused(cli, tmp_path):
    path = tmp_path / "plan.json"
    path.write_text('{"format_version": "1", "tracking_uri": "x", "changes": ' + "[" * 100_000 + "]" * 100_000 + "}")
    applied = cli("apply", path, "--auto-approve", "--tracking-uri", f"sqlite:///{tmp_path}/never.db")
    assert applied.returncode == 1 and "nested too deeply" in applied.stderr, applied.stderr
    assert "internal error" not in applied.stderr
    assert not (tmp_path / "never.db").exists()  # refused before any registry is opened


def test_a_plan_saved_for_one_registry_is_refused_by_another(sqlite_server, cli, tmp_path, unique_name):
    """Same tracking URI, another --registry-uri: the plan is stale for it."""
    uri = sqlite_server.uri
    path, _ = saved_plan(cli, uri, tmp_path, unique_name)
    other = f"sqlite:///{tmp_path}/other.db"
    applied = cli("apply", path, "--auto-approve", "--tracking-uri", uri, "--registry-uri", other)
    assert applied.returncode == 1
    assert "was planned against the registry" in applied.stderr, applied.stderr
    ok = cli("apply", path, "--auto-approve", "--tracking-uri", uri)
    assert ok.returncode == 0, ok.stderr
