"""The CLI end to end against each real backend: embedded sqlite, mlflow server on sqlite and on
PostgreSQL. Registry state is always checked with MLflow's own client."""

from __future__ import annotations

import json

import pytest
from support.integration import client, seed_versions, state, write, writes_reported

pytestmark = pytest.mark.integration


def manifest(name: str, body: str) -> str:
    return f"apiVersion: mlflow-gitops/v1\nkind: RegisteredModel\nname: {name}\n" + body


def test_seed_promote_demote_flow_plan_apply_idempotent(registry_uri, unique_name, cli, tmp_path):
    name = unique_name
    seed_versions(registry_uri, name, ["Production", "Staging"])
    tree = write(tmp_path / "m" / "model.yaml", manifest(name, """\
description: NYC taxi trip duration regressor
versions:
  - version: 2
    stage: Production
    aliases: [champion]
    description: Uploaded model to production on 2026-11-20
  - version: 1
    stage: Archived
    description: Transition model to archive on 2026-11-20
"""))
    uri = ["--tracking-uri", registry_uri]
    before = state(registry_uri, name)

    plan = cli("plan", tree, "--detailed-exitcode", *uri)
    assert plan.returncode == 2, plan.stderr
    assert f"~ {name} v2: stage Staging -> Production" in plan.stdout
    assert f"~ {name} v1: stage Production -> Archived" in plan.stdout
    assert plan.stdout.index("v2: stage") < plan.stdout.index("v1: stage")  # promote before demote
    assert "Plan: 6 changes" in plan.stdout
    assert state(registry_uri, name) == before  # plan never writes

    applied = cli("apply", tree, "--auto-approve", "--verbose", *uri)
    assert applied.returncode == 0, applied.stderr
    # 6 changes, then the audit trail: a stamp on each of the 2 versions moved, and 2 model tags
    assert writes_reported(applied.stderr) == 6 + 2 + 2
    assert "Recorded the audit trail on 1 model (4 mlflow-gitops.* tags)." in applied.stdout
    after = state(registry_uri, name)
    assert after["versions"]["2"]["stage"] == "Production"
    assert after["versions"]["1"]["stage"] == "Archived"
    assert after["versions"]["2"]["description"] == "Uploaded model to production on 2026-11-20"
    assert after["aliases"] == {"champion": "2"}
    assert after["description"] == "NYC taxi trip duration regressor"

    replan = cli("plan", tree, "--detailed-exitcode", *uri)
    assert replan.returncode == 0, replan.stdout + replan.stderr
    assert "No changes." in replan.stdout

    again = cli("apply", tree, "--auto-approve", "--verbose", *uri)
    assert again.returncode == 0
    assert writes_reported(again.stderr) == 0
    assert state(registry_uri, name) == after  # not even a timestamp moved


def test_examples_apply_to_an_empty_registry_and_converge(embedded_uri, run_cli, tmp_path):
    from pathlib import Path

    examples = Path(__file__).parents[2] / "manifests" / "examples"
    uri = ["--tracking-uri", embedded_uri]
    assert run_cli("validate", examples).returncode == 0
    applied = run_cli("apply", examples, "--auto-approve", *uri)
    assert applied.returncode == 0, applied.stderr
    assert "Apply complete!" in applied.stdout
    taxi = state(embedded_uri, "taxi_trip_regressor")
    stages = {v["stage"] for v in taxi["versions"].values()}
    assert stages == {"Production", "Staging", "Archived"}
    assert taxi["versions"][taxi["aliases"]["champion"]]["stage"] == "Production"
    assert run_cli("plan", examples, "--detailed-exitcode", *uri).returncode == 0


def test_saved_plan_applies_exactly_and_refuses_when_stale(registry_uri, unique_name, cli, tmp_path):
    name = unique_name
    seed_versions(registry_uri, name, ["Staging"])
    tree = write(tmp_path / "m.yaml", manifest(name, "tags: {team: mlops}\nversions:\n  - version: 1\n    stage: Production\n"))
    uri = ["--tracking-uri", registry_uri]
    planfile = tmp_path / "plan.json"

    assert cli("plan", tree, "--out", planfile, *uri).returncode == 0
    doc = json.loads(planfile.read_text())
    assert doc["format_version"] == "1"
    assert [c["action"] for c in doc["changes"]] == ["transition_stage", "set_model_tag"]
    assert doc["prior_state"][name].startswith("sha256:")

    client(registry_uri).set_registered_model_tag(name, "owner", "someone-by-hand")  # out-of-band change
    before = state(registry_uri, name)
    stale = cli("apply", planfile, "--auto-approve", *uri)
    assert stale.returncode == 1
    assert "changed since" in stale.stderr and name in stale.stderr
    assert "Traceback" not in stale.stderr
    assert state(registry_uri, name) == before  # the whole plan was refused

    assert cli("plan", tree, "--out", planfile, *uri).returncode == 0
    fresh = cli("apply", planfile, "--auto-approve", *uri)
    assert fresh.returncode == 0, fresh.stderr
    after = state(registry_uri, name)
    assert after["versions"]["1"]["stage"] == "Production"
    assert after["tags"] == {"team": "mlops", "owner": "someone-by-hand"}


def test_saved_plan_refused_against_another_registry(embedded_uri, unique_name, cli, tmp_path):
    tree = write(tmp_path / "m.yaml", manifest(unique_name, "versions:\n  - source: s3://b/1\n"))
    planfile = tmp_path / "plan.json"
    assert cli("plan", tree, "--out", planfile, "--tracking-uri", embedded_uri).returncode == 0
    other = f"sqlite:///{tmp_path / 'other.db'}"
    result = cli("apply", planfile, "--auto-approve", "--tracking-uri", other)
    assert result.returncode == 1
    assert "refusing to apply it elsewhere" in result.stderr


def test_policies_archive_unmanaged_prune_aliases_and_tags(registry_uri, unique_name, cli, tmp_path):
    name = unique_name
    seed_versions(registry_uri, name, ["Production", "Staging", "None"])
    c = client(registry_uri)
    c.set_registered_model_alias(name, "champion", "1")
    c.set_registered_model_alias(name, "handmade", "2")
    c.set_registered_model_tag(name, "team", "old")
    c.set_registered_model_tag(name, "stray", "x")
    c.set_model_version_tag(name, "3", "stray", "y")
    tree = write(tmp_path / "m.yaml", manifest(name, """\
tags: {team: mlops}
policy:
  unmanaged_versions: archive
  prune_aliases: true
  prune_tags: true
versions:
  - version: 3
    stage: Production
    aliases: [champion]
"""))
    uri = ["--tracking-uri", registry_uri]
    result = cli("apply", tree, "--auto-approve", *uri)
    assert result.returncode == 0, result.stderr
    after = state(registry_uri, name)
    assert {v: after["versions"][v]["stage"] for v in "123"} == {"1": "Archived", "2": "Archived", "3": "Production"}
    assert after["aliases"] == {"champion": "3"}
    assert after["tags"] == {"team": "mlops"}
    assert after["versions"]["3"]["tags"] == {}
    assert cli("plan", tree, "--detailed-exitcode", *uri).returncode == 0


def test_default_policies_leave_undeclared_things_alone(registry_uri, unique_name, cli, tmp_path):
    name = unique_name
    seed_versions(registry_uri, name, ["Production", "Staging"])
    c = client(registry_uri)
    c.set_registered_model_alias(name, "handmade", "1")
    c.set_registered_model_tag(name, "stray", "x")
    tree = write(tmp_path / "m.yaml", manifest(name, "versions:\n  - version: 2\n    stage: Production\n"))
    assert cli("apply", tree, "--auto-approve", "--tracking-uri", registry_uri).returncode == 0
    after = state(registry_uri, name)
    assert after["versions"]["1"]["stage"] == "Production"  # not declared: ignored
    assert after["aliases"] == {"handmade": "1"}
    assert after["tags"] == {"stray": "x"}


def test_register_by_source_is_idempotent(registry_uri, unique_name, cli, tmp_path):
    name = unique_name
    tree = write(tmp_path / "m.yaml", manifest(name, """\
versions:
  - source: s3://bucket/a
    stage: Archived
  - source: s3://bucket/b
    stage: Production
    aliases: [champion]
"""))
    uri = ["--tracking-uri", registry_uri]
    assert cli("apply", tree, "--auto-approve", *uri).returncode == 0
    assert cli("apply", tree, "--auto-approve", *uri).returncode == 0
    after = state(registry_uri, name)
    assert sorted(v["source"] for v in after["versions"].values()) == ["s3://bucket/a", "s3://bucket/b"]
    assert after["versions"][after["aliases"]["champion"]]["source"] == "s3://bucket/b"


def test_pyfunc_model_registered_by_run_id_loads_through_champion_alias(
    registry_uri, unique_name, cli, tmp_path, fluent_uri, monkeypatch
):
    import mlflow
    import pandas as pd

    class Doubler(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input):
            return model_input * 2

    monkeypatch.setenv("MLFLOW_UV_AUTO_DETECT", "false")  # else log_model runs `uv export`
    with fluent_uri(registry_uri):
        mlflow.set_experiment(f"exp_{unique_name}")
        with mlflow.start_run() as run:
            mlflow.pyfunc.log_model(name="model", python_model=Doubler())
    tree = write(tmp_path / "m.yaml", manifest(unique_name, f"""\
versions:
  - run_id: {run.info.run_id}
    stage: Production
    aliases: [champion]
"""))
    uri = ["--tracking-uri", registry_uri]
    first = cli("apply", tree, "--auto-approve", *uri)
    assert first.returncode == 0, first.stderr
    assert "register new version from runs:/" in first.stdout
    second = cli("apply", tree, "--auto-approve", "--verbose", *uri)
    assert second.returncode == 0 and writes_reported(second.stderr) == 0
    versions = client(registry_uri).search_model_versions(f"name = '{unique_name}'")
    assert len(versions) == 1 and versions[0].run_id == run.info.run_id
    with fluent_uri(registry_uri):
        model = mlflow.pyfunc.load_model(f"models:/{unique_name}@champion")
        out = model.predict(pd.DataFrame({"x": [1, 2]}))
    assert list(out["x"]) == [2, 4]


def test_invalid_tree_reports_location_and_writes_nothing(registry_uri, unique_name, run_cli, tmp_path):
    good = write(tmp_path / "t" / "a.yaml", manifest(unique_name, "versions:\n  - source: s3://x/1\n"))
    write(tmp_path / "t" / "b.yaml", manifest(unique_name + "_b", "versions:\n  - source: s3://x/1\n    aliases: [latest]\n"))
    result = run_cli("apply", good.parent, "--auto-approve", "--tracking-uri", registry_uri)
    assert result.returncode == 1
    assert "b.yaml:6:15: " in result.stderr and "reserved" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert state(registry_uri, unique_name) == {}  # the valid model was not created either


def test_missing_version_is_an_error_at_plan_time(registry_uri, unique_name, cli, tmp_path):
    seed_versions(registry_uri, unique_name, ["None"])
    tree = write(tmp_path / "m.yaml", manifest(unique_name, "versions:\n  - version: 7\n    stage: Production\n"))
    result = cli("plan", tree, "--tracking-uri", registry_uri)
    assert result.returncode == 1
    assert f"m.yaml:5:5: model '{unique_name}' has no version 7 (registry has 1)" in result.stderr


def test_plan_formats_json_and_markdown(embedded_uri, unique_name, cli, tmp_path):
    tree = write(tmp_path / "m.yaml", manifest(unique_name, "versions:\n  - source: s3://x/1\n    stage: Staging\n"))
    j = cli("plan", tree, "--format", "json", "--tracking-uri", embedded_uri)
    doc = json.loads(j.stdout)
    assert [c["action"] for c in doc["changes"]] == ["create_model", "register_version", "transition_stage"]
    assert doc["summary"]["changes"] == 3 and doc["tracking_uri"] == embedded_uri
    md = cli("plan", tree, "--format", "markdown", "--tracking-uri", embedded_uri)
    assert "| | Model | Version | Change | Manifest |" in md.stdout
    assert f"`{unique_name}` | new#1 | stage None -> Staging" in md.stdout


def test_plan_file_is_not_saved_when_a_value_equals_a_credential(embedded_uri, unique_name, cli, tmp_path):
    tree = write(tmp_path / "m.yaml", manifest(unique_name, "tags: {note: hunter2secret}\n"))
    planfile = tmp_path / "plan.json"
    result = cli("plan", tree, "--out", planfile, "--tracking-uri", embedded_uri,
                 env={"MLFLOW_TRACKING_PASSWORD": "hunter2secret"})
    assert result.returncode == 1
    assert "not saved" in result.stderr and "hunter2secret" not in result.stdout + result.stderr
    assert not planfile.exists()


def test_apply_prints_no_mlflow_log_lines(sqlite_server, unique_name, run_cli, tmp_path):
    """MLflow sets its loggers to INFO when imported ("Waiting up to 300 seconds for model version
    to finish creation"); the tool's output is its own lines only."""
    tree = write(tmp_path / "m" / "model.yaml", manifest(unique_name, """\
versions:
  - source: s3://bucket/logs/1
    stage: Staging
"""))
    applied = run_cli("apply", tree, "--auto-approve", env={"MLFLOW_TRACKING_URI": sqlite_server.uri})
    assert applied.returncode == 0, applied.stderr
    assert "-> version 1" in applied.stdout
    assert " INFO " not in applied.stdout + applied.stderr, applied.stdout + applied.stderr
