"""The wheel that `uv build` makes installs into a clean virtual environment and runs there:
the console script, the JSON Schema shipped inside the package, and a plan against the embedded
sqlite store of the example manifests, on MLflow's client (mlflow-skinny) without full MLflow."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]


def uv() -> list[str]:
    if shutil.which("uv"):
        return ["uv"]
    return [sys.executable, "-m", "uv"]


def run(*argv, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=900, check=check)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run(*uv(), "build", "--wheel", "--out-dir", out, REPO_ROOT, cwd=REPO_ROOT)
    (built,) = out.glob("mlflow_gitops-*-py3-none-any.whl")
    return built


def test_the_wheel_carries_the_package_and_the_schema(wheel):
    archive = zipfile.ZipFile(wheel)
    names = archive.namelist()
    assert "reconciler/entry.py" in names and "reconciler/commands/plan.py" in names
    assert not [n for n in names if n.startswith(("tests/", "manifests/", "benchmarks/"))]
    schemas = sorted((REPO_ROOT / "schemas").glob("*.json"))
    assert schemas
    for schema in schemas:  # every schema of schemas/, byte for byte, inside the package
        assert archive.read(f"reconciler/schemas/{schema.name}") == schema.read_bytes(), schema.name


def test_the_wheel_installs_and_runs_in_a_clean_venv(wheel, tmp_path):
    venv = tmp_path / "venv"
    run(*uv(), "venv", "--quiet", "--python", sys.executable, venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    run(*uv(), "pip", "install", "--quiet", "--python", python, wheel, cwd=tmp_path)
    cli = venv / "bin" / "mlflow-gitops"
    work = tmp_path / "elsewhere"  # not the source tree: only the installed package is importable
    work.mkdir()

    assert run(cli, "--version", cwd=work).stdout.startswith("mlflow-gitops ")
    schema = run(cli, "schema", cwd=work).stdout
    assert schema.encode().strip() == (REPO_ROOT / "schemas" / "manifest.v1.json").read_bytes().strip()
    examples = REPO_ROOT / "manifests" / "examples"
    assert run(cli, "validate", examples, cwd=work).returncode == 0

    registry = tmp_path / "registry"
    registry.mkdir()
    uri = f"sqlite:///{registry / 'mlflow.db'}"
    plan = run(cli, "plan", examples, "--tracking-uri", uri, "--detailed-exitcode", cwd=work, check=False)
    assert plan.returncode == 2, plan.stdout + plan.stderr  # changes: everything is to be created
    assert "taxi_trip_regressor" in plan.stdout and "Traceback" not in plan.stderr
    applied = run(cli, "apply", examples, "--tracking-uri", uri, "--auto-approve", cwd=work, check=False)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    again = run(cli, "plan", examples, "--tracking-uri", uri, "--detailed-exitcode", cwd=work, check=False)
    assert again.returncode == 0, again.stdout + again.stderr

    # the runtime is MLflow's client: no server, UI or ML libraries came with it
    probe = "import importlib.util as u; print([m for m in ('flask', 'pandas', 'sklearn') if u.find_spec(m)])"
    assert run(python, "-c", probe, cwd=work).stdout.strip() == "[]"
    installed = run(*uv(), "pip", "list", "--python", python, cwd=tmp_path).stdout.split()
    assert "mlflow-skinny" in installed and "mlflow" not in installed
