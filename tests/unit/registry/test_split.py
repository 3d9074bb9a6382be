"""The MLflow registry is composed of one module per concern: each mixin implements the protocol
methods of its concern, with the protocol's parameters, and no module of the package grows past
the project's size limit."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from reconciler.registry import auth, connection, leases, protocol, reads, runs, writes
from reconciler.registry.client import MlflowRegistry, Registry

PACKAGE = Path(__file__).resolve().parents[3] / "reconciler" / "registry"
MAX_LINES = 400


def methods(proto: type) -> set[str]:
    return {n for k in proto.__mro__ if k.__module__ == protocol.__name__
            for n, v in vars(k).items() if not n.startswith("_") and inspect.isfunction(v)}


@pytest.mark.parametrize(("mixin", "proto"), [
    (reads.Reads, protocol.SnapshotReader), (runs.Runs, protocol.RunReader),
    (writes.Writes, protocol.RegistryWriter), (leases.Leases, protocol.LeaseStore), (auth.Auth, protocol.AuthApi),
], ids=lambda x: x.__name__)  # fmt: skip
def test_each_module_implements_its_protocol(mixin, proto):
    wanted = methods(proto)
    assert wanted and wanted <= set(vars(mixin)), f"{mixin.__name__} lacks {sorted(wanted - set(vars(mixin)))}"
    for name in wanted:
        mine = list(inspect.signature(inspect.unwrap(vars(mixin)[name])).parameters)
        assert mine == list(inspect.signature(getattr(proto, name)).parameters)


def test_the_composed_class_is_the_exported_registry():
    assert Registry is MlflowRegistry
    assert issubclass(MlflowRegistry, connection.Connection)
    assert list(inspect.signature(MlflowRegistry).parameters) == ["target", "parallelism", "on_retry", "read_only"]


def test_no_registry_module_is_above_the_size_limit():
    long = {p.name: n for p in PACKAGE.glob("*.py") if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}
