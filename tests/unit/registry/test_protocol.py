"""The typed registry boundary: both registries satisfy its protocols, method by method, and every
`registry` parameter in the package says which protocol it needs."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest
from support.memregistry import MemoryRegistry

from reconciler.registry import protocol
from reconciler.registry.client import Registry as MlflowRegistry
from reconciler.target import Target

PACKAGE = Path(__file__).resolve().parents[3] / "reconciler"
PROTOCOLS = [protocol.SnapshotReader, protocol.RunReader, protocol.PlanReader, protocol.RegistryWriter,
             protocol.LeaseStore, protocol.AuthApi, protocol.Registry]
REGISTRY_PARAMETERS = {"registry", "reg"}


def members(proto: type) -> dict[str, object]:
    """Name -> the protocol's declaration (function or property) of each member, inherited ones too."""
    found: dict[str, object] = {}
    for klass in reversed(proto.__mro__):
        if klass is object or klass.__name__ in ("Protocol", "Generic"):
            continue
        for name, value in vars(klass).items():
            if not name.startswith("_") and (inspect.isfunction(value) or isinstance(value, property)):
                found[name] = value
    return found


def parameters(fn) -> list[str]:
    return list(inspect.signature(inspect.unwrap(fn)).parameters)


@pytest.fixture
def real(tmp_path) -> MlflowRegistry:
    # a read-only registry over a sqlite file that does not exist opens nothing: no mlflow import
    uri = f"sqlite:///{tmp_path / 'absent.db'}"
    return MlflowRegistry(Target(uri, uri), read_only=True)


@pytest.mark.parametrize("proto", PROTOCOLS, ids=lambda p: p.__name__)
def test_both_registries_satisfy_every_protocol(proto, real):
    assert isinstance(real, proto)
    assert isinstance(MemoryRegistry(), proto)


@pytest.mark.parametrize("klass", [MlflowRegistry, MemoryRegistry], ids=lambda k: k.__name__)
def test_methods_take_the_protocols_parameters(klass):
    for name, declared in members(protocol.Registry).items():
        if isinstance(declared, property):
            continue  # attributes: checked on instances above
        implemented = getattr(klass, name, None)
        assert callable(implemented), f"{klass.__name__} lacks {name}()"
        assert parameters(implemented) == parameters(declared), f"{klass.__name__}.{name} differs from the protocol"


def test_the_protocol_names_every_write_the_executor_makes():
    from reconciler.plan.actions import Action

    writes = set(members(protocol.RegistryWriter)) - {"writes"}
    assert writes == {a.value for a in Action}


def test_a_registry_lacking_a_write_is_no_writer():
    class Partial:
        writes = 0

        def create_model(self, name): ...

    assert not isinstance(Partial(), protocol.RegistryWriter)


def test_the_protocol_module_does_not_import_mlflow():
    code = ("import sys, reconciler.registry.protocol; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'mlflow'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def unannotated_registry_parameters(source: str, path: str) -> list[str]:
    missing = []
    for node in ast.walk(ast.parse(source, path)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            a = node.args
            for arg in [*a.posonlyargs, *a.args, *a.kwonlyargs]:
                if arg.arg in REGISTRY_PARAMETERS and arg.annotation is None:
                    missing.append(f"{path}:{arg.lineno}: {node.name}({arg.arg})")
    return missing


def test_every_registry_parameter_is_annotated():
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        missing += unannotated_registry_parameters(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE)))
    assert missing == []


def test_the_annotation_check_sees_a_bare_parameter():
    assert unannotated_registry_parameters("def f(x, registry, *, reg=None): pass", "m.py") == [
        "m.py:1: f(registry)", "m.py:1: f(reg)"]
    assert unannotated_registry_parameters("def f(registry: R, reg: W): pass", "m.py") == []
