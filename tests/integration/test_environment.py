"""Environment variables (issue 9, defect 3): the tool's retry settings are its own
(MLFLOW_GITOPS_HTTP_*), parsed by the tool with a clear error; MLflow's MLFLOW_HTTP_REQUEST_*
are MLflow's, and a value MLflow cannot parse is one clear line, not MLflow's message."""

from __future__ import annotations

import pytest
from support.integration import seed_versions, write

pytestmark = pytest.mark.integration


@pytest.fixture
def tree(sqlite_server, unique_name, tmp_path):
    seed_versions(sqlite_server.uri, unique_name, ["None"])
    return write(tmp_path / "m.yaml", f"apiVersion: mlflow-gitops/v1\nkind: RegisteredModel\nname: {unique_name}\n"
                                      "versions:\n  - version: 1\n    stage: Staging\n")


def test_the_documented_defaults_work(sqlite_server, cli, tree):
    env = {"MLFLOW_GITOPS_HTTP_BACKOFF_FACTOR": "0.5", "MLFLOW_GITOPS_HTTP_BACKOFF_JITTER": "0.5",
           "MLFLOW_GITOPS_HTTP_MAX_RETRIES": "3", "MLFLOW_GITOPS_HTTP_TIMEOUT": "30"}
    result = cli("plan", tree, "--tracking-uri", sqlite_server.uri, env=env)
    assert result.returncode == 0, result.stderr
    assert "stage None -> Staging" in result.stdout


@pytest.mark.parametrize("name, value, says", [
    ("MLFLOW_GITOPS_HTTP_BACKOFF_FACTOR", "fast", "MLFLOW_GITOPS_HTTP_BACKOFF_FACTOR must be a number from 0 to 8, not 'fast'"),
    ("MLFLOW_GITOPS_HTTP_MAX_RETRIES", "2.5", "MLFLOW_GITOPS_HTTP_MAX_RETRIES must be a whole number"),
    ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0.5", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR='0.5': MLflow reads this "
                                                  "variable as a whole number"),
    ("MLFLOW_HTTP_REQUEST_TIMEOUT", "1.5", "MLFLOW_GITOPS_HTTP_TIMEOUT"),
])
def test_a_value_that_cannot_be_used_is_one_clear_line(sqlite_server, cli, tree, name, value, says):
    for command in (["plan"], ["apply", "--auto-approve"]):
        result = cli(*command, tree, "--tracking-uri", sqlite_server.uri, env={name: value})
        assert result.returncode == 1
        assert says in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "internal error" not in result.stderr
