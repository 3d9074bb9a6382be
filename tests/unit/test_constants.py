"""Shared values live in reconciler/constants.py; no module spells them again."""

from __future__ import annotations

import ast
from pathlib import Path

from reconciler import constants
from reconciler.apply import audit, lock
from reconciler.manifest import rules
from reconciler.registry import client, retry

PACKAGE = Path(__file__).resolve().parents[2] / "reconciler"
# Literals that belong to constants.py alone.
SHARED = {constants.SYSTEM_PREFIX, constants.OWN_PREFIX}
# registry/client.py keeps its own copies until it is split (other work is editing it); the test
# below pins them to the constants so they cannot drift apart meanwhile.
NOT_YET = {"registry/client.py"}


def test_prefixes_and_defaults_agree_everywhere():
    assert constants.RESERVED_TAG_PREFIXES == tuple(rules.RESERVED_TAG_PREFIXES)
    assert rules.RESERVED_MODEL_PREFIX == audit.PREFIX == constants.OWN_PREFIX
    assert lock.PREFIX.startswith(constants.OWN_PREFIX)
    assert client.SYSTEM_TAG_PREFIX == constants.SYSTEM_PREFIX
    assert client.AUDIT_TAG_PREFIX == client.RESERVED_MODEL_PREFIX == constants.OWN_PREFIX
    assert client.DEFAULT_PARALLELISM == constants.DEFAULT_PARALLELISM
    assert retry.DEFAULT_TIMEOUT == constants.DEFAULT_TIMEOUT


def test_no_module_spells_a_reserved_prefix_itself():
    spelled = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = str(path.relative_to(PACKAGE))
        if name == "constants.py" or name in NOT_YET:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in SHARED:
                spelled.append(f"{name}:{node.lineno}: {node.value!r}")
    assert spelled == []


def test_constants_imports_nothing():  # cli.py reads its defaults from it and must stay cheap to start
    tree = ast.parse((PACKAGE / "constants.py").read_text(encoding="utf-8"))
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
