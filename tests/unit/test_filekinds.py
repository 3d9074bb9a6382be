"""A file this tool writes, given to a command that does not read it: one line saying where it goes."""

from __future__ import annotations

import json

import pytest

from reconciler.commands.filekinds import kind_of

PLAN = {"format_version": "1", "tracking_uri": "sqlite:///mlflow.db", "changes": [], "summary": {"changes": 0}}


@pytest.fixture
def files(tmp_path):
    (tmp_path / "plan.json").write_text(json.dumps(PLAN))
    (tmp_path / "drift.json").write_text(json.dumps({"format_version": "1", "kind": "drift", "drift": []}))
    (tmp_path / "schema.json").write_text(json.dumps({"$schema": "x", "properties": {}}))
    (tmp_path / "drift.xml").write_text('<?xml version="1.0"?>\n<testsuites name="drift"></testsuites>\n')
    (tmp_path / "m.yaml").write_text("apiVersion: mlflow-gitops/v1\nkind: RegisteredModel\nname: m\n")
    return tmp_path


def test_kinds(files):
    assert [kind_of(str(files / n)) for n in ("plan.json", "drift.json", "schema.json", "drift.xml", "m.yaml")] == [
        "plan", "drift", "schema", "junit", None]
    assert kind_of(str(files)) is None and kind_of(str(files / "missing.json")) is None


@pytest.mark.parametrize("command", ["plan", "drift", "validate"])
def test_a_saved_plan_given_to_a_manifest_command_says_it_goes_to_apply(cli, files, command):
    plan = files / "plan.json"
    result = cli(command, plan)
    assert result.returncode == 1
    assert result.stderr == (f"{plan} is a saved plan (plan --out), not a manifest; a saved plan goes to `apply`: "
                             f"mlflow-gitops apply {plan}\n")


def test_the_fast_validate_path_says_the_same(files):
    from reconciler.entry import fast_command
    from reconciler.handler import run

    assert run(fast_command(["validate", str(files / "plan.json")])) == 1


@pytest.mark.parametrize(("name", "words"), [
    ("drift.json", "is a drift report (drift --format json), not a manifest; `plan` reads manifests (*.yaml)"),
    ("schema.json", "is the manifest JSON Schema (mlflow-gitops schema), not a manifest"),
    ("drift.xml", "is a JUnit drift report (drift --format junit), not a manifest"),
])
def test_reports_and_schemas_are_not_manifests(cli, files, name, words):
    result = cli("plan", files / name)
    assert result.returncode == 1 and words in result.stderr and len(result.stderr.splitlines()) == 1


def test_apply_refuses_a_drift_report_as_a_plan(cli, files):
    result = cli("apply", files / "drift.json", "--auto-approve")
    assert result.returncode == 1
    assert "is a drift report (drift --format json), not a saved plan" in result.stderr


@pytest.mark.parametrize("command", ["plan", "drift"])
def test_an_out_path_that_cannot_be_written_is_one_line(cli, files, tmp_path, command, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli(command, files / "m.yaml", "--out", tmp_path)  # a directory
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"--out {tmp_path}: a directory; give a file path. Nothing was written."]
    assert "internal error" not in result.stderr
