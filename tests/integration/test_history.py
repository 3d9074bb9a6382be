"""`history` joined with a real registry's audit stamps, written by real `apply`s at successive
commits of a real git repository (an embedded sqlite store and a real `mlflow server`)."""

from __future__ import annotations

import json

import pytest
from support.gitrepo import GitRepo, model_doc
from support.integration import seed_versions

CI = {"GITHUB_SHA": None, "CI_COMMIT_SHA": None, "CI_JOB_URL": None, "CI_PIPELINE_URL": None, "BUILD_URL": None,
      "GITLAB_USER_LOGIN": None, "MLFLOW_TRACKING_USERNAME": None, "GITHUB_REPOSITORY": "acme/models",
      "GITHUB_SERVER_URL": "https://github.example"}


def deployer(name: str, run: int) -> dict:
    """apply as CI would run it, but with the commit taken from the repository (GITHUB_SHA unset)."""
    return {**CI, "GITHUB_ACTOR": name, "GITHUB_RUN_ID": str(run)}


@pytest.fixture(params=["embedded", "server"])
def uri(request) -> str:
    if request.param == "embedded":
        return request.getfixturevalue("embedded_uri")
    return request.getfixturevalue("sqlite_server").uri


def test_history_joins_git_with_the_audit_stamps_of_real_applies(uri, unique_name, cli, tmp_path):
    seed_versions(uri, unique_name, ["None", "None"])
    repo = GitRepo(tmp_path / "repo")
    manifests = repo.root / "manifests"
    track = ["--tracking-uri", uri]

    def apply(who: str, run: int) -> None:
        done = cli("apply", manifests, "--auto-approve", *track, env=deployer(who, run))
        assert done.returncode == 0, done.stderr

    def history(*args: str) -> dict:
        done = cli("history", manifests, "--model", unique_name, "--format", "json", *track, *args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    first = repo.commit("v1 to Production", "alice", "2026-01-01T09:00:00Z",
                        {"manifests/model.yaml": model_doc(unique_name, (1, "Production", ["champion"]))})
    apply("deployer1", 1)
    doc = history()
    (v1,) = doc["targets"]["Production"]
    assert (v1["version"], v1["commit"], v1["author"], v1["applied_by"], v1["applied_commit"]) == (
        "1", first, "alice", "deployer1", first)
    assert v1["applied_run"] == "https://github.example/acme/models/actions/runs/1"
    assert v1["applied_stamp"] == "stage" and v1["applied_at"] >= "2026-"
    assert doc["targets"]["@champion"][0]["applied_stamp"] == "model"  # aliases: the model's last apply
    assert doc["tracking_uri"] == uri

    second = repo.commit("v2 to Staging", "bob", "2026-01-05T09:00:00Z",
                         {"manifests/model.yaml": model_doc(unique_name, (1, "Production", ["champion"]),
                                                            (2, "Staging", ["challenger"]))})
    apply("deployer2", 2)
    third = repo.commit("v2 to Production", "carol", "2026-01-10T09:00:00Z",
                        {"manifests/model.yaml": model_doc(unique_name, (1, "Archived", []),
                                                           (2, "Production", ["champion"]))})
    later = repo.commit("Docs", "dave", "2026-01-11T09:00:00Z", {"README.md": "models\n"})
    apply("deployer3", 3)  # at a commit that did not touch the manifests: joined by its place on the branch

    doc = history()
    production = [(e["version"], e["commit"], e["applied_by"], e["applied_commit"])
                  for e in doc["targets"]["Production"]]
    # v1's Production stamp was replaced by its Archived one: MLflow keeps one value per tag
    assert production == [("1", first, None, None), ("2", third, "deployer3", later)]
    # ... and that Archived stamp dates when apply took v1 out of Production
    assert doc["targets"]["Production"][0]["ended_applied_by"] == "deployer3"
    assert doc["targets"]["Production"][0]["ended_applied_at"] == doc["targets"]["Production"][1]["applied_at"]
    (staging,) = doc["targets"]["Staging"]
    assert (staging["commit"], staging["to"]) == (second, "2026-01-10T09:00:00Z")
    assert staging["applied_by"] is None  # v2's stamp now says Production
    assert doc["targets"]["@champion"][-1]["applied_by"] == "deployer3"

    at = history("--at", "2026-01-10T08:59:59Z")
    assert [e["version"] for e in at["targets"]["Production"]] == ["1"]
    assert [e["version"] for e in at["targets"]["@challenger"]] == ["2"]
    text = cli("history", manifests, "--model", unique_name, *track)
    assert text.returncode == 0, text.stderr
    assert "applied " in text.stdout and f"by deployer3 at {later[:12]} run https://github.example" in text.stdout
    assert "moved out by apply " in text.stdout


def test_versions_declared_by_run_id_are_named_by_the_registry(embedded_uri, unique_name, cli, tmp_path):
    from support.integration import client

    c = client(embedded_uri)
    c.create_registered_model(unique_name)
    run = c.create_run(c.create_experiment(unique_name)).info.run_id
    c.create_model_version(unique_name, source=f"runs:/{run}/model", run_id=run)
    repo = GitRepo(tmp_path / "repo")
    repo.commit("by run", "alice", "2026-01-01T00:00:00Z", {"m.yaml": f"""\
        apiVersion: mlflow-gitops/v1
        kind: RegisteredModel
        name: {unique_name}
        versions:
          - run_id: {run}
            stage: Production
        """})
    repo.commit("by number", "bob", "2026-01-02T00:00:00Z",
                {"m.yaml": model_doc(unique_name, (1, "Production", []))})
    done = cli("history", repo.root, "--model", unique_name, "-f", "json", "--tracking-uri", embedded_uri)
    assert done.returncode == 0, done.stderr
    (entry,) = json.loads(done.stdout)["targets"]["Production"]  # the same version: one period, not two
    assert (entry["version"], entry["ref"], entry["author"]) == ("1", f"run_id {run}", "alice")
    assert f"v1 (run_id {run})" in cli("history", repo.root, "--model", unique_name,
                                        "--tracking-uri", embedded_uri).stdout
