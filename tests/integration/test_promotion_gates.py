"""Promotion evidence and gates end to end: runs with metrics logged through MlflowClient,
versions registered from them, plan/apply through the CLI, registry state read back with MLflow's
own client."""

from __future__ import annotations

import json
import warnings

import pytest
from support.integration import client, state, write

pytestmark = pytest.mark.integration


def seed(uri: str, name: str, rmse: list[float], stages: list[str]) -> list[str]:
    """Version i+1 of `name` registered from a run that logged rmse[i] (and mae), in stages[i]."""
    from uuid import uuid4

    c = client(uri)
    exp = c.create_experiment(f"exp_{uuid4().hex[:10]}")
    c.create_registered_model(name)
    runs = []
    for i, (value, stage) in enumerate(zip(rmse, stages), start=1):
        run = c.create_run(exp)
        rid = run.info.run_id
        c.log_metric(rid, "rmse", value + 3, step=0)  # an earlier value: plans show the latest
        c.log_metric(rid, "rmse", value, step=1)
        c.log_metric(rid, "mae", value / 2)
        c.set_terminated(rid)
        mv = c.create_model_version(name, source=f"s3://seed/{name}/{i}", run_id=rid)
        if stage != "None":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                c.transition_model_version_stage(name, mv.version, stage)
        runs.append(rid)
    return runs


def manifest(name: str, gates: str, versions: str, evidence: str = "") -> str:
    return (f"apiVersion: mlflow-gitops/v1\nkind: RegisteredModel\nname: {name}\npolicy:\n{evidence}"
            f"  gates:\n{gates}versions:\n{versions}")


GATES = """\
    - target: Production
      metric: rmse
      max: 6.5
    - target: Production
      metric: rmse
      vs_current: lower
    - target: "@champion"
      tag: validation_status
      equals: approved
"""


def test_gates_pass_then_block_a_worse_model(registry_uri, unique_name, cli, tmp_path):
    name = unique_name
    runs = seed(registry_uri, name, [6.10, 5.21, 7.0], ["Production", "Staging", "None"])
    uri = ["--tracking-uri", registry_uri]
    good = write(tmp_path / "good" / "m.yaml", manifest(name, GATES, """\
  - version: 2
    stage: Production
    aliases: [champion]
    tags: {validation_status: approved}
  - version: 1
    stage: Archived
"""))
    plan = cli("plan", good, "--detailed-exitcode", *uri)
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert "rmse 5.21, was 6.10 on v1 (-0.89)" in plan.stdout
    assert f"run {runs[1]}, was {runs[0]} on v1" in plan.stdout
    assert "✓ gate rmse <= 6.5: rmse 5.21 <= max 6.5" in plan.stdout
    assert "blocked" not in plan.stdout

    doc = json.loads(cli("plan", good, "--format", "json", *uri).stdout)
    stage = next(c for c in doc["changes"] if c["action"] == "transition_stage" and c["after"] == "Production")
    assert stage["evidence"]["incoming"] == {"version": "2", "run_id": runs[1], "metrics": {"rmse": 5.21}}
    assert stage["evidence"]["outgoing"] == {"version": "1", "run_id": runs[0], "metrics": {"rmse": 6.10}}
    alias = next(c for c in doc["changes"] if c["action"] == "set_alias")
    assert alias["evidence"]["incoming"]["run_id"] == runs[1] and alias["evidence"]["outgoing"] is None
    assert [(g["version"], g["target"], g["result"]) for g in doc["gates"]] == [
        ("2", "Production", "pass"), ("2", "Production", "pass"), ("2", "@champion", "pass")]

    md = cli("plan", good, "--format", "markdown", *uri).stdout
    assert "#### Promotions" in md and "5.21 (-0.89 vs 6.10)" in md

    applied = cli("apply", good, "--auto-approve", *uri)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert state(registry_uri, name)["versions"]["2"]["stage"] == "Production"

    # v3 is worse (rmse 7.0) and not approved: three gates fail
    worse = write(tmp_path / "worse" / "m.yaml", manifest(name, GATES, """\
  - version: 3
    stage: Production
    aliases: [champion]
  - version: 2
    stage: Archived
"""))
    before = state(registry_uri, name)
    blocked = cli("plan", worse, *uri)
    assert blocked.returncode == 1
    assert "Plan: " in blocked.stdout  # the whole plan is shown
    assert "Plan blocked by 3 gates:" in blocked.stdout
    assert "rmse 7.00 > max 6.5" in blocked.stdout
    assert "rmse 7.00 is higher than 5.21 on v2" in blocked.stdout
    assert cli("plan", worse, "--detailed-exitcode", *uri).returncode == 1

    out = tmp_path / "plan.json"
    as_json = cli("plan", worse, "--format", "json", "--out", out, *uri)
    assert as_json.returncode == 1 and "Plan blocked by 3 gates" in as_json.stderr
    doc = json.loads(as_json.stdout)
    assert [g["result"] for g in doc["gates"]] == ["fail", "fail", "fail"]
    assert json.loads(out.read_text())["gates"] == doc["gates"]

    refused = cli("apply", worse, "--auto-approve", *uri)
    assert refused.returncode == 1 and "Plan blocked by 3 gates; nothing was applied." in refused.stderr
    machine = cli("apply", worse, "--auto-approve", "--format", "json", *uri)
    assert machine.returncode == 1
    status = json.loads(machine.stdout)["apply"]
    assert (status["status"], status["applied"]) == ("blocked", 0)
    saved = cli("apply", out, "--auto-approve", *uri)
    assert saved.returncode == 1 and "Plan blocked by 3 gates" in saved.stderr
    assert state(registry_uri, name) == before  # nothing written


def test_saved_plan_gates_are_checked_again_at_apply(registry_uri, unique_name, cli, tmp_path):
    name = unique_name
    runs = seed(registry_uri, name, [6.0, 5.0], ["Production", "Staging"])
    uri = ["--tracking-uri", registry_uri]
    tree = write(tmp_path / "m.yaml", manifest(name, "    - target: Production\n      metric: rmse\n      max: 5.5\n",
                                               "  - version: 2\n    stage: Production\n"))
    out = tmp_path / "plan.json"
    assert cli("plan", tree, "--out", out, *uri).returncode == 0
    before = state(registry_uri, name)
    client(registry_uri).log_metric(runs[1], "rmse", 9.0, step=2)  # re-evaluated: worse now
    refused = cli("apply", out, "--auto-approve", *uri)
    assert refused.returncode == 1, refused.stdout
    assert "rmse 9.00 > max 5.5" in refused.stderr or "rmse 9.00 > max 5.5" in refused.stdout
    assert state(registry_uri, name) == before


def test_version_registered_from_a_run_in_the_same_plan(embedded_uri, unique_name, cli, tmp_path):
    from uuid import uuid4

    name = unique_name
    seed(embedded_uri, name, [6.0], ["Production"])
    c = client(embedded_uri)
    run = c.create_run(c.create_experiment(f"exp_{uuid4().hex[:8]}"))
    c.log_metric(run.info.run_id, "rmse", 8.0)
    tree = write(tmp_path / "m.yaml", manifest(name, "    - target: Production\n      metric: rmse\n      vs_current: lower\n",
                                               f"  - run_id: {run.info.run_id}\n    stage: Production\n"))
    result = cli("plan", tree, "--format", "json", "--tracking-uri", embedded_uri)
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    (gate,) = doc["gates"]
    assert gate["version"] is None and gate["ref"] == f"run_id:{run.info.run_id}/model"
    assert gate["result"] == "fail" and gate["reason"] == "rmse 8.00 is higher than 6.00 on v1"
    stage = next(c for c in doc["changes"] if c["action"] == "transition_stage")
    assert stage["evidence"]["incoming"]["metrics"] == {"rmse": 8.0}


def test_default_evidence_without_policy(embedded_uri, unique_name, cli, tmp_path):
    name = unique_name
    seed(embedded_uri, name, [6.0, 5.0], ["Production", "None"])
    tree = write(tmp_path / "m.yaml", f"apiVersion: mlflow-gitops/v1\nkind: RegisteredModel\nname: {name}\n"
                 "versions:\n  - version: 2\n    stage: Staging\n")
    result = cli("plan", tree, "--tracking-uri", embedded_uri)
    assert result.returncode == 0
    assert "mae 2.50" in result.stdout and "rmse 5.00" in result.stdout


def test_drift_reports_a_live_holder_failing_its_gate(embedded_uri, unique_name, cli, tmp_path):
    name = unique_name
    seed(embedded_uri, name, [7.0, 5.0], ["Production", "None"])
    gates = "    - target: Production\n      metric: rmse\n      max: 6.5\n"
    tree = write(tmp_path / "m.yaml", manifest(name, gates, "  - version: 1\n    stage: Production\n"))
    uri = ["--tracking-uri", embedded_uri]
    report = cli("drift", tree, *uri)
    assert report.returncode == 2, report.stdout + report.stderr
    assert "v1 in Production: fails gate rmse <= 6.5: rmse 7.00 > max 6.5" in report.stdout
    doc = json.loads(cli("drift", tree, "--format", "json", *uri).stdout)
    (row,) = doc["drift"]
    assert (row["version"], row["field"], row["action"]) == ("1", "gates.Production", None)
    assert cli("drift", tree, "--format", "junit", *uri).returncode == 2
    # the holder passes once its run does
    fixed = write(tmp_path / "ok.yaml", manifest(name, gates.replace("6.5", "7.5"), "  - version: 1\n    stage: Production\n"))
    assert cli("drift", fixed, *uri).returncode == 0
