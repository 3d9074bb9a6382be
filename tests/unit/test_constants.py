"""Shared values live in reconciler/constants.py; no module spells them again."""

from __future__ import annotations

import ast
from pathlib import Path

from reconciler import constants
from reconciler.apply import audit, lock
from reconciler.manifest import rules
from reconciler.registry import client, decode, retry, setup

PACKAGE = Path(__file__).resolve().parents[2] / "reconciler"
# Literals that belong to constants.py alone.
SHARED = {constants.SYSTEM_PREFIX, constants.OWN_PREFIX}


def test_prefixes_and_defaults_agree_everywhere():
    assert constants.RESERVED_TAG_PREFIXES == tuple(rules.RESERVED_TAG_PREFIXES)
    assert rules.RESERVED_MODEL_PREFIX == audit.PREFIX == constants.OWN_PREFIX
    assert lock.PREFIX.startswith(constants.OWN_PREFIX)
    assert decode.SYSTEM_TAG_PREFIX == constants.SYSTEM_PREFIX
    assert decode.AUDIT_TAG_PREFIX == decode.RESERVED_MODEL_PREFIX == constants.OWN_PREFIX
    assert client.DEFAULT_PARALLELISM == setup.DEFAULT_PARALLELISM == constants.DEFAULT_PARALLELISM
    assert retry.DEFAULT_TIMEOUT == constants.DEFAULT_TIMEOUT


def test_no_module_spells_a_reserved_prefix_itself():
    spelled = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = str(path.relative_to(PACKAGE))
        if name == "constants.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in SHARED:
                spelled.append(f"{name}:{node.lineno}: {node.value!r}")
    assert spelled == []


def test_constants_imports_nothing():  # cli.py reads its defaults from it and must stay cheap to start
    tree = ast.parse((PACKAGE / "constants.py").read_text(encoding="utf-8"))
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
