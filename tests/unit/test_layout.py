"""The MLflow boundary: only `reconciler/registry/` imports mlflow, and the offline side never
loads it (the issue-10 layout; see docs/architecture.md)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "reconciler"


def mlflow_imports(path: Path) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        if any(n == "mlflow" or n.startswith("mlflow.") for n in names):
            lines.append(node.lineno)
    return lines


def test_only_the_registry_package_imports_mlflow():
    outside = {
        f"{p.relative_to(PACKAGE.parent)}:{line}"
        for p in PACKAGE.rglob("*.py")
        if "registry" not in p.relative_to(PACKAGE).parts[:1]
        for line in mlflow_imports(p)
    }
    assert not outside
    assert mlflow_imports(PACKAGE / "registry" / "connection.py")  # the check itself sees imports


def test_the_offline_side_loads_no_mlflow():
    modules = sorted(
        "reconciler." + ".".join(p.relative_to(PACKAGE).with_suffix("").parts)
        for sub in ("manifest", "plan", "render", "drift", "export", "propose")
        for p in (PACKAGE / sub).rglob("*.py")
        if p.name != "__init__.py"
    )
    code = f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\nassert 'mlflow' not in sys.modules"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
