"""requirements/tool.txt, which the GitHub Action and the GitLab example install from, is exactly
what `uv export` makes of uv.lock: a dependency bumped in the lock reaches CI users too."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOL_REQUIREMENTS = REPO_ROOT / "requirements" / "tool.txt"
EXPORT = ["export", "--frozen", "--no-default-groups", "--no-emit-project", "--format", "requirements-txt"]


def uv() -> list[str]:
    if shutil.which("uv"):
        return ["uv"]
    if subprocess.run([sys.executable, "-m", "uv", "--version"], capture_output=True, check=False).returncode == 0:
        return [sys.executable, "-m", "uv"]
    pytest.skip("uv is not installed")  # the README's commands install it; this is a safety net


def body(text: str) -> str:
    return "".join(line + "\n" for line in text.splitlines() if not line.startswith("#"))


def test_tool_requirements_are_uv_lock_exported():
    exported = subprocess.run([*uv(), *EXPORT], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    assert body(TOOL_REQUIREMENTS.read_text(encoding="utf-8")) == body(exported), (
        "requirements/tool.txt is stale: run `uv export " + " ".join(EXPORT[1:]) + " -o requirements/tool.txt`")


def test_every_requirement_is_pinned_with_hashes_and_the_client_is_mlflow_skinny():
    text = TOOL_REQUIREMENTS.read_text(encoding="utf-8")
    requirements = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)(.*?)(?=^\S|\Z)", text, flags=re.M | re.S)
    assert len(requirements) > 20
    for name, _, rest in requirements:
        assert "--hash=sha256:" in rest, f"{name} has no hash"
    names = {name.lower() for name, _, _ in requirements}
    assert {"mlflow-skinny", "sqlalchemy", "alembic"} <= names
    assert "mlflow" not in names and "pandas" not in names and "pytest" not in names
    bootstrap = (REPO_ROOT / "requirements" / "bootstrap.txt").read_text(encoding="utf-8")
    assert re.match(r"uv==[\d.]+ \\\n\s+--hash=sha256:", bootstrap)
