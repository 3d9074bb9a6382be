"""`drift` through the CLI against real registries: changes made by hand (as in the MLflow UI) are
reported in every format, models no manifest declares are listed, apply heals, drift never writes."""

from __future__ import annotations

import json
import warnings
import xml.etree.ElementTree as ET

from support.integration import client, promotion_manifest, seed_versions, state, write

FORMATS = ("text", "json", "markdown", "junit")


def hand_edit(uri: str, name: str) -> None:
    """What someone does in the MLflow UI: promote v1 back, move the alias, edit a tag."""
    c = client(uri)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        c.transition_model_version_stage(name, "1", "Production")
    c.set_registered_model_alias(name, "champion", "1")
    c.set_registered_model_tag(name, "team", "someone-else")


def test_drift_after_hand_edits_in_every_format_then_apply_heals(registry_uri, unique_name, cli, tmp_path):
    seed_versions(registry_uri, unique_name, ["Production", "Staging"])
    tree = write(tmp_path / "m" / "model.yaml", promotion_manifest(unique_name))
    stray = f"{unique_name}_stray"
    client(registry_uri).create_registered_model(stray)
    uri = ["--tracking-uri", registry_uri]
    assert cli("apply", tree, "--auto-approve", *uri).returncode == 0

    clean = cli("drift", tree, *uri)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert f"? {stray}" in clean.stdout  # listed, but not drift without --fail-on-unmanaged

    hand_edit(registry_uri, unique_name)
    before = state(registry_uri, unique_name)
    reports = {fmt: cli("drift", tree, "--format", fmt, *uri) for fmt in FORMATS}
    assert {fmt: r.returncode for fmt, r in reports.items()} == dict.fromkeys(FORMATS, 2)
    assert state(registry_uri, unique_name) == before  # drift never writes

    text = reports["text"].stdout
    assert f"{unique_name}: 3 drifted" in text
    assert "~ v1 stage: git Archived, live Production" in text
    assert "~ alias @champion: git v2, live v1" in text
    assert '~ tag team: git "mlops", live "someone-else"' in text
    assert "mlflow-gitops last applied: Archived since " in text  # when the tool last set v1's stage
    assert f"? {stray}" in text

    doc = json.loads(reports["json"].stdout)
    assert doc["kind"] == "drift" and doc["in_sync"] is False
    mine = {(d["version"], d["field"]): (d["git"], d["live"]) for d in doc["drift"] if d["model"] == unique_name}
    assert mine == {
        ("1", "stage"): ("Archived", "Production"),
        ("2", "aliases.champion"): ("2", "1"),
        (None, "tags.team"): ("mlops", "someone-else"),
    }
    stage = next(d for d in doc["drift"] if d["model"] == unique_name and d["field"] == "stage")
    assert stage["changed_at"].endswith("Z") and stage["source"] == f"{tree}:11"
    assert stray in [u["name"] for u in doc["unmanaged"]]

    markdown = reports["markdown"].stdout
    assert markdown.startswith("### mlflow-gitops drift")
    assert f"| `{unique_name}` | v1 stage | git Archived, live Production |" in markdown

    suites = ET.fromstring(reports["junit"].stdout)
    managed = suites.find("testsuite[@name='managed models']")
    case = managed.find(f"testcase[@name='{unique_name}']")
    assert case.find("failure").get("message") == "3 fields drifted from git"
    assert "v1 stage: git Archived, live Production" in case.find("failure").text
    unmanaged = suites.find("testsuite[@name='models not declared in any manifest']")
    assert unmanaged.find(f"testcase[@name='{stray}']/skipped") is not None

    healed = cli("apply", tree, "--auto-approve", *uri)
    assert healed.returncode == 0, healed.stderr
    after = cli("drift", tree, "--format", "junit", *uri)
    assert after.returncode == 0, after.stdout
    assert ET.fromstring(after.stdout).find(f".//testcase[@name='{unique_name}']/failure") is None


def test_unmanaged_fail_only_with_the_flag_orphans_and_leases_and_out_file(embedded_uri, unique_name, cli, tmp_path):
    uri = ["--tracking-uri", embedded_uri]
    old = write(tmp_path / "old" / "gone.yaml", promotion_manifest(unique_name))
    seed_versions(embedded_uri, unique_name, ["Production", "Staging"])
    assert cli("apply", old, "--auto-approve", *uri).returncode == 0
    other = f"{unique_name}_kept"
    tree = write(tmp_path / "m" / "kept.yaml", f"""\
apiVersion: mlflow-gitops/v1
kind: RegisteredModel
name: {other}
description: kept
""")
    assert cli("apply", tree, "--auto-approve", *uri).returncode == 0
    client(embedded_uri).create_registered_model("mlflow-gitops.lock.someone")  # a lease: never listed

    report = cli("drift", tree, *uri)
    assert report.returncode == 0, report.stdout
    assert f"? {unique_name}: orphaned, was managed from {old}" in report.stdout
    assert "mlflow-gitops.lock" not in report.stdout

    junit_file = tmp_path / "reports" / "drift.xml"
    strict = cli("drift", tree, "--fail-on-unmanaged", "--format", "junit", "--out", junit_file, *uri)
    assert strict.returncode == 2
    assert strict.stdout.startswith("Registry: ")  # the text report still goes to the log
    suites = ET.parse(junit_file).getroot()
    assert suites.find(f".//testcase[@name='{unique_name}']/failure").get("type") == "unmanaged"
    doc = json.loads(cli("drift", tree, "-f", "json", *uri).stdout)
    assert [o["name"] for o in doc["orphaned"]] == [unique_name] and doc["unmanaged"] == []


def test_drift_of_a_model_missing_from_the_registry_and_bad_input(embedded_uri, unique_name, cli, tmp_path):
    uri = ["--tracking-uri", embedded_uri]
    tree = write(tmp_path / "m" / "new.yaml", f"""\
apiVersion: mlflow-gitops/v1
kind: RegisteredModel
name: {unique_name}
versions:
  - source: s3://bucket/new
    stage: Staging
""")
    report = cli("drift", tree, "-f", "json", *uri)
    assert report.returncode == 2
    fields = [(d["field"], d["git"], d["live"]) for d in json.loads(report.stdout)["drift"]]
    assert fields[:2] == [("model", "declared", None), ("version", "s3://bucket/new", None)]

    # a declared version deleted by hand is drift (apply cannot restore it), not an input error
    seed_versions(embedded_uri, f"{unique_name}_v", ["Production", "Staging"])
    pinned = write(tmp_path / "pinned" / "m.yaml", promotion_manifest(f"{unique_name}_v"))
    assert cli("apply", pinned, "--auto-approve", *uri).returncode == 0
    client(embedded_uri).delete_model_version(f"{unique_name}_v", "1")
    gone = cli("drift", pinned, *uri)
    assert gone.returncode == 2, gone.stderr
    assert "~ version 1: declared in git, absent from the registry" in gone.stdout

    bad = write(tmp_path / "bad" / "bad.yaml", "apiVersion: mlflow-gitops/v1\nkind: RegisteredModel\nname: [x]\n")
    broken = cli("drift", bad, *uri)
    assert broken.returncode == 1
    assert broken.stderr.startswith(f"{bad}:3:7: ")
    assert "Traceback" not in broken.stderr
