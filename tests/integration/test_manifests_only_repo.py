"""The CI examples, copied into a repository that holds only manifests, install the tool and run.

A throw-away git repository gets what a user copies: manifests/prod/ and the example workflows
(examples/ci/github/ as .github/workflows/, examples/ci/gitlab/.gitlab-ci.yml), and no
pyproject.toml, uv.lock or tool source. Its steps are read from the example files, never copied
into this test, and run for real: the GitHub Action's install and command steps (action.yml from
a clone of this repository, as GitHub checks an action out at its pinned commit) and GitLab's
before_script (fetching the pinned ref of that clone) and job scripts, against an embedded
sqlite registry. So an example that cannot work outside this repository fails here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from xml.etree import ElementTree

import pytest
import yaml
from support.workflows import Runner, is_tool_action

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
CI_DIR = REPO_ROOT / "examples" / "ci"
GITLAB_CI = CI_DIR / "gitlab" / ".gitlab-ci.yml"


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": os.devnull}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", message)


@pytest.fixture(scope="module")
def tool_repo(tmp_path_factory) -> Path:
    """This repository as it is in the work tree (committed or not), as a git repository whose
    commit carries the tag the GitLab example pins."""
    repo = tmp_path_factory.mktemp("tool") / "mlflow-gitops"
    listed = git(REPO_ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    for rel in filter(None, listed):
        source = REPO_ROOT / rel
        if source.is_file():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / rel)
    git(repo, "init", "--quiet", "--initial-branch=main")
    commit_all(repo, "mlflow-gitops")
    git(repo, "tag", gitlab_variables()["MLFLOW_GITOPS_REF"])
    return repo


@pytest.fixture
def user_repo(tmp_path) -> Path:
    repo = tmp_path / "models-repo"
    shutil.copytree(REPO_ROOT / "manifests" / "prod", repo / "manifests" / "prod")
    workflows = repo / ".github" / "workflows"
    workflows.mkdir(parents=True)
    for workflow in (CI_DIR / "github").glob("*.yml"):
        shutil.copy2(workflow, workflows / workflow.name)
    shutil.copy2(GITLAB_CI, repo / ".gitlab-ci.yml")
    git(repo, "init", "--quiet", "--initial-branch=main")
    commit_all(repo, "manifests")
    files = git(repo, "ls-files").split()
    assert all(f.startswith(("manifests/", ".github/", ".gitlab-ci.yml")) for f in files), files
    return repo


@pytest.fixture(scope="module")
def runner_temp(tmp_path_factory) -> Path:
    """One runner's temporary directory for the GitHub tests: the action installs the tool there
    once, and a later use of the action (the same checkout) reuses that install, as on a runner."""
    return tmp_path_factory.mktemp("runner-temp")


def registry(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'registry' / 'mlflow.db'}"


# ---- GitHub Actions ------------------------------------------------------------------------------


def github_job(repo: Path, name: str) -> dict:
    workflow = yaml.safe_load((repo / ".github" / "workflows" / name).read_text(encoding="utf-8"))
    (job,) = workflow["jobs"].values()
    assert any(is_tool_action(step) for step in job["steps"]), f"{name} does not use the action"
    return job


def run_github(repo: Path, tool: Path, temp: Path, name: str, tracking_uri: str) -> Runner:
    temp.mkdir(exist_ok=True)
    # secrets the workflows read; an unset secret reaches a job as an empty string
    runner = Runner(work=repo, temp=temp, action_dir=tool, env={
        "MLFLOW_TRACKING_URI": tracking_uri, "MLFLOW_TRACKING_TOKEN": "", "MLFLOW_TRACKING_USERNAME": "",
        "MLFLOW_TRACKING_PASSWORD": ""})
    runner.run_job(github_job(repo, name))
    return runner


def test_github_examples_install_the_action_and_apply_plan_and_audit(user_repo, tool_repo, runner_temp, tmp_path):
    (tmp_path / "registry").mkdir()
    uri = registry(tmp_path)
    temp = runner_temp

    apply = run_github(user_repo, tool_repo, temp, "mlflow-gitops-apply.yml", uri)
    assert not apply.failed, apply.results
    assert "Apply complete!" in apply.summary.read_text()
    assert "No changes." in apply.results[-1].stdout  # the plan check after the apply
    installed = list(temp.glob("mlflow-gitops-*/bin/mlflow-gitops"))
    assert len(installed) == 1  # under the runner's temp, not in the repository
    assert not (user_repo / ".venv").exists() and not (user_repo / "uv.lock").exists()

    plan = run_github(user_repo, tool_repo, temp, "mlflow-gitops-plan.yml", uri)
    assert not plan.failed, plan.results
    assert plan.outputs["plan"]["exit-code"] == "0"
    assert "No changes" in (user_repo / "comment.md").read_text()

    drift = run_github(user_repo, tool_repo, temp, "mlflow-gitops-drift.yml", uri)
    assert not drift.failed, drift.results
    report = ElementTree.tostring(ElementTree.parse(user_repo / "drift-junit.xml").getroot(), encoding="unicode")
    assert "demand_forecaster" in report and "support_ticket_router" in report and "<failure" not in report


def test_github_apply_error_reaches_the_job_summary(user_repo, tool_repo, runner_temp):
    # nothing listens on port 9 (discard): apply retries, then fails with one message, exit 1
    runner = run_github(user_repo, tool_repo, runner_temp, "mlflow-gitops-apply.yml", "http://127.0.0.1:9")
    assert runner.failed
    summary = runner.summary.read_text()
    assert "apply manifests/prod failed (exit 1)" in summary
    error = runner.results[1].stderr.strip().splitlines()[-1]
    assert error and error in summary, (error, summary)
    assert "Traceback" not in summary


# ---- GitLab CI -----------------------------------------------------------------------------------


def gitlab_config(repo: Path | None = None) -> dict:
    return yaml.safe_load(((repo / ".gitlab-ci.yml") if repo else GITLAB_CI).read_text(encoding="utf-8"))


def gitlab_variables() -> dict[str, str]:
    return {k: str(v) for k, v in gitlab_config()["variables"].items()}


def run_gitlab_job(repo: Path, tool: Path, tmp_path: Path, job: str, tracking_uri: str) -> subprocess.CompletedProcess:
    config = gitlab_config(repo)
    variables = {k: str(v) for k, v in config["variables"].items()}
    # the tool's repository is this clone instead of GitHub; the uv cache stays this machine's
    # (GitLab's cache: directive is not what is tested here)
    variables["MLFLOW_GITOPS_REPO"] = f"file://{tool}"
    variables.pop("UV_CACHE_DIR")
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(variables, CI_PROJECT_DIR=str(repo), TMPDIR=str(tmp_path), MLFLOW_TRACKING_URI=tracking_uri,
               GIT_CONFIG_GLOBAL=os.devnull)
    script = "\n".join([*config["default"]["before_script"], *config[job]["script"]])
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=900, check=False)


def test_gitlab_example_installs_the_pinned_ref_and_applies_then_audits(user_repo, tool_repo, tmp_path):
    assert re.fullmatch(r"https://\S+\.git", gitlab_variables()["MLFLOW_GITOPS_REPO"])
    (tmp_path / "registry").mkdir()
    uri = registry(tmp_path)
    applied = run_gitlab_job(user_repo, tool_repo, tmp_path, "apply", uri)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "Apply complete!" in applied.stdout and "No changes." in applied.stdout
    assert (tmp_path / "mlflow-gitops-tool" / "bin" / "mlflow-gitops").exists()
    assert git(user_repo, "status", "--porcelain") == ""  # nothing written into the repository

    audited = run_gitlab_job(user_repo, tool_repo, tmp_path, "drift", uri)
    assert audited.returncode == 0, audited.stdout + audited.stderr
    assert (user_repo / "drift-junit.xml").exists()
