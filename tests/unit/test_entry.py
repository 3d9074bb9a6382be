"""The console script's fast path (reconciler.entry): `validate PATH...` and `schema` skip typer,
and must answer exactly as the typer CLI does."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from reconciler.entry import fast_command

VALID = "apiVersion: mlflow-gitops/v1\nkind: RegisteredModel\nname: m\n"
INVALID = "apiVersion: mlflow-gitops/v1\nkind: RegisteredModel\nname: m\nversions: [{version: 1, stage: Bogus}]\n"


def run(*args: str, code: str = "from reconciler.entry import main; main()") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False)


@pytest.mark.parametrize("argv, fast", [
    (["validate", "a.yaml", "dir"], True),
    (["schema"], True),
    (["validate"], False),  # typer reports the missing argument
    (["validate", "a.yaml", "--help"], False),
    (["validate", "--", "a.yaml"], False),
    (["schema", "--help"], False),
    (["plan", "a.yaml"], False),
])
def test_only_plain_validate_and_schema_take_the_fast_path(argv, fast):
    assert (fast_command(argv) is not None) == fast


@pytest.mark.parametrize("content", [VALID, INVALID])
def test_fast_path_answers_as_the_typer_cli_does(tmp_path, content):
    path = tmp_path / "m.yaml"
    path.write_text(content)
    fast = run("validate", str(path))
    typer_cli = run("validate", str(path), code="from reconciler.cli import main; main()")
    assert (fast.returncode, fast.stdout, fast.stderr) == (typer_cli.returncode, typer_cli.stdout, typer_cli.stderr)
    assert fast.returncode == (0 if content is VALID else 1)
    schema_fast, schema_typer = run("schema"), run("schema", code="from reconciler.cli import main; main()")
    assert schema_fast.stdout == schema_typer.stdout and schema_fast.returncode == 0


def test_validate_imports_neither_mlflow_nor_the_cli_library(tmp_path):
    (tmp_path / "m.yaml").write_text(VALID)
    probe = textwrap.dedent("""\
        import sys
        from reconciler.entry import main
        try:
            main()
        except SystemExit:
            pass
        loaded = [m for m in ("mlflow", "typer", "pydantic") if m in sys.modules]
        print("loaded:", loaded)
        """)
    result = run("validate", str(tmp_path / "m.yaml"), code=probe)
    assert result.stdout.endswith("loaded: []\n"), result.stdout + result.stderr
