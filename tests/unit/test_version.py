"""One version number: pyproject.toml, `reconciler.__version__`, the installed metadata, the newest
release in CHANGELOG.md and `mlflow-gitops --version` all say the same."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import reconciler

REPO_ROOT = Path(__file__).resolve().parents[2]


def pyproject_version() -> str:
    # a regex, not tomllib: the tool supports Python 3.10, which has none
    text = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    return re.search(r'^version = "([^"]+)"$', text, flags=re.M).group(1)


def test_the_version_has_one_value_everywhere():
    version = pyproject_version()
    assert reconciler.__version__ == version
    assert importlib.metadata.version("mlflow-gitops") == version
    changelog = (REPO_ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    releases = re.findall(r"^## \[([^\]]+)\]", changelog, flags=re.M)
    assert releases[0] == "Unreleased", "other changes are added under ## [Unreleased]"
    assert releases[1] == version, "the newest release in CHANGELOG.md is the package's version"
    assert re.search(rf"^\[{re.escape(version)}\]: ", changelog, flags=re.M), "a link for the release"


def test_version_flag_answers_alike_on_the_fast_path_and_through_the_cli():
    def run(code: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", code, "--version"], capture_output=True, text=True, check=False)

    fast = run("from reconciler.entry import main; main()")
    typer_cli = run("from reconciler.cli import main; main()")
    assert fast.returncode == typer_cli.returncode == 0
    assert fast.stdout == typer_cli.stdout == f"mlflow-gitops {pyproject_version()}\n"
    probe = run("import sys\nfrom reconciler.entry import main\ntry:\n main()\nexcept SystemExit:\n pass\n"
                "print([m for m in ('typer', 'mlflow') if m in sys.modules])")
    assert probe.stdout.endswith("[]\n"), probe.stdout
