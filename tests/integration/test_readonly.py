"""Read-only commands never create a file or a directory; apply creates a missing sqlite registry
(but not its directory)."""

from __future__ import annotations

import json
import os

import pytest

pytestmark = pytest.mark.integration

MANIFEST = "apiVersion: mlflow-gitops/v1\nkind: RegisteredModel\nname: readonly_m\n"


def tree(root) -> set[str]:
    return {os.path.relpath(os.path.join(d, f), root) for d, dirs, files in os.walk(root) for f in files + dirs}


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "m.yaml").write_text(MANIFEST)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["plan", "manifests"], 0),
        (["plan", "manifests", "--detailed-exitcode", "--format", "json"], 2),
        (["drift", "manifests"], 2),
        (["drift", "manifests", "--format", "json"], 2),
        (["export"], 0),
    ],
)
def test_read_only_commands_in_an_empty_directory_leave_no_mlflow_db(cli, workdir, args, code):
    before = tree(workdir)
    result = cli(*args)
    assert result.returncode == code, result.stderr
    assert tree(workdir) == before  # no mlflow.db, nothing else


@pytest.mark.parametrize("command", [["plan", "manifests"], ["drift", "manifests"], ["export"]])
def test_a_missing_sqlite_registry_in_a_missing_directory_is_empty_and_stays_missing(cli, workdir, tmp_path, command):
    missing = tmp_path / "nonexistent" / "dir" / "x.db"
    result = cli(*command, "--tracking-uri", f"sqlite:///{missing}", "--format" if command[0] != "export" else "--by",
                 "json" if command[0] != "export" else "version")
    assert result.returncode in (0, 2), result.stderr
    assert not (tmp_path / "nonexistent").exists()
    if command[0] == "plan":
        assert [c["action"] for c in json.loads(result.stdout)["changes"]] == ["create_model"]
    if command[0] == "export":
        assert result.stdout == "" and "Exported 0 models" in result.stderr


def test_a_missing_sqlite_tracking_store_is_not_created_when_the_registry_exists(cli, workdir, tmp_path):
    registry = f"sqlite:///{tmp_path / 'registry.db'}"
    assert cli("apply", "manifests", "--auto-approve", "--tracking-uri", registry).returncode == 0
    before = tree(workdir)
    for args in (["plan", "manifests"], ["drift", "manifests"], ["export"]):
        result = cli(*args, "--tracking-uri", f"sqlite:///{tmp_path / 'tracking.db'}", "--registry-uri", registry)
        assert result.returncode == 0, result.stderr
    assert tree(workdir) == before


def test_apply_creates_a_missing_sqlite_registry(cli, workdir, tmp_path):
    result = cli("apply", "manifests", "--auto-approve")
    assert result.returncode == 0, result.stderr
    assert (workdir / "mlflow.db").is_file()
    second = cli("plan", "manifests", "--detailed-exitcode")
    assert second.returncode == 0, second.stdout + second.stderr


def test_apply_refuses_a_sqlite_registry_whose_directory_is_missing(cli, workdir, tmp_path):
    missing = tmp_path / "nonexistent" / "dir" / "x.db"
    result = cli("apply", "manifests", "--auto-approve", "--tracking-uri", f"sqlite:///{missing}")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"the registry URI 'sqlite:///{missing}': the directory {missing.parent} does not exist; create it first "
        "(apply creates the sqlite file, not its directory)"
    ]
    assert not (tmp_path / "nonexistent").exists()
