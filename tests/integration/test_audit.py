"""The ownership and audit trail apply records (reconciler.apply.audit), on real registries."""

from __future__ import annotations

import re
import subprocess

import pytest
from support.integration import audit_tags, promotion_manifest, seed_versions, state, write, writes_reported

STAMP_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
GITHUB = {
    "GITHUB_SHA": "abc123",
    "GITHUB_ACTOR": "octocat",
    "GITHUB_REPOSITORY": "acme/models",
    "GITHUB_RUN_ID": "42",
    "GITHUB_SERVER_URL": "https://github.example",
    "MLFLOW_TRACKING_USERNAME": None,
}
RUN = "run https://github.example/acme/models/actions/runs/42"


def manifest(name: str, description: str) -> str:
    return promotion_manifest(name, description=description, prune_tags=True)


def test_apply_stamps_owner_commit_run_and_stage_moves_and_the_stamps_are_never_changes(
    registry_uri, unique_name, cli, tmp_path
):
    seed_versions(registry_uri, unique_name, ["Production", "Staging"])
    tree = write(tmp_path / "m" / "model.yaml", manifest(unique_name, "first"))
    uri = ["--tracking-uri", registry_uri]

    applied = cli("apply", tree, "--auto-approve", "--verbose", *uri, env=GITHUB)
    assert applied.returncode == 0, applied.stderr
    trail = audit_tags(registry_uri, unique_name)
    assert trail["model"]["mlflow-gitops.manifest"] == str(tree)
    assert re.fullmatch(f"{STAMP_TIME} by octocat, commit abc123, {RUN}", trail["model"]["mlflow-gitops.applied"])
    assert re.fullmatch(f"Production since {STAMP_TIME} \\(was Staging\\) by octocat, commit abc123, {RUN}",
                        trail["2"]["mlflow-gitops.stage"])
    assert trail["1"]["mlflow-gitops.stage"].startswith("Archived since ")

    # the stamps are not desired state: no plan change, no drift, never pruned (prune_tags: true)
    replan = cli("plan", tree, "--detailed-exitcode", *uri)
    assert replan.returncode == 0, replan.stdout
    again = cli("apply", tree, "--auto-approve", "--verbose", *uri, env={**GITHUB, "GITHUB_SHA": "zzz"})
    assert writes_reported(again.stderr) == 0
    assert audit_tags(registry_uri, unique_name) == trail

    # a later change re-stamps `applied` only: same manifest, no stage moved
    write(tree, manifest(unique_name, "second"))
    changed = cli("apply", tree, "--auto-approve", "--verbose", *uri, env={**GITHUB, "GITHUB_SHA": "def456"})
    assert changed.returncode == 0, changed.stderr
    assert writes_reported(changed.stderr) == 1 + 1  # the description, then `applied`
    after = audit_tags(registry_uri, unique_name)
    assert "commit def456" in after["model"]["mlflow-gitops.applied"]
    assert after["model"]["mlflow-gitops.manifest"] == trail["model"]["mlflow-gitops.manifest"]
    assert {k: v for k, v in after.items() if k != "model"} == {k: v for k, v in trail.items() if k != "model"}


def git(repo, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    git(tmp_path, "init", "-q")
    git(tmp_path, "config", "user.email", "ci@example.com")
    git(tmp_path, "config", "user.name", "ci")
    return tmp_path


CI_VARIABLES = {k: None for k in ("GITHUB_SHA", "CI_COMMIT_SHA", "GITHUB_RUN_ID", "CI_JOB_URL", "CI_PIPELINE_URL",
                                  "BUILD_URL", "GITHUB_ACTOR", "GITLAB_USER_LOGIN")}


def test_outside_ci_the_commit_comes_from_git_and_uncommitted_manifests_are_marked_dirty(
    embedded_uri, unique_name, cli, repo
):
    seed_versions(embedded_uri, unique_name, ["Production", "Staging"])
    tree = write(repo / "manifests" / "prod" / "model.yaml", manifest(unique_name, "first"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "declare")
    head = git(repo, "rev-parse", "HEAD")
    uri = ["--tracking-uri", embedded_uri]

    saved = repo / "plan.json"
    planned = cli("plan", tree, "--out", saved, *uri)
    assert planned.returncode == 0, planned.stderr
    applied = cli("apply", saved, "--auto-approve", *uri, env=CI_VARIABLES)  # a saved plan is stamped too
    assert applied.returncode == 0, applied.stderr
    trail = audit_tags(embedded_uri, unique_name)
    assert trail["model"]["mlflow-gitops.manifest"] == "manifests/prod/model.yaml"  # as the repository names it
    assert re.search(f"commit {head}(,|$)", trail["model"]["mlflow-gitops.applied"])
    assert "run " not in trail["model"]["mlflow-gitops.applied"]

    write(tree, manifest(unique_name, "edited, not committed"))
    dirty = cli("apply", tree, "--auto-approve", *uri, env=CI_VARIABLES)
    assert dirty.returncode == 0, dirty.stderr
    assert f"commit {head}+dirty" in audit_tags(embedded_uri, unique_name)["model"]["mlflow-gitops.applied"]
    assert state(embedded_uri, unique_name)["description"] == "edited, not committed"


def test_no_audit_makes_only_the_planned_writes(embedded_uri, unique_name, cli, tmp_path):
    seed_versions(embedded_uri, unique_name, ["Production", "Staging"])
    tree = write(tmp_path / "m" / "model.yaml", manifest(unique_name, "first"))
    applied = cli("apply", tree, "--auto-approve", "--verbose", "--no-audit", "--tracking-uri", embedded_uri)
    assert applied.returncode == 0, applied.stderr
    assert writes_reported(applied.stderr) == 5  # description, 2 stage moves, alias, tag
    assert "audit trail" not in applied.stdout
    assert audit_tags(embedded_uri, unique_name) == {"model": {}, "1": {}, "2": {}}
