"""Pytest plugin of the server compatibility matrix (registered by tests/conftest.py's
`pytest_plugins`; a second conftest.py would shadow the root one's module name `conftest`, which
tests import helpers from): every test here runs against real `mlflow server`s of several
MLflow versions (tests/support/compat.py builds and caches one environment per version).

All of them carry the `compat` marker. A plain `pytest` runs the default slice only (the oldest and
the newest server, SQLite); `pytest -m compat` runs the full matrix (every version, SQLite and
PostgreSQL). A `-m` expression that names `compat` decides for itself.
"""

from __future__ import annotations

import pytest

from support import compat as servers

BACKENDS = ("sqlite", "postgres")
DEFAULT_SLICE = {(servers.OLDEST, "sqlite"), (servers.NEWEST, "sqlite")}
MATRIX = [(v, b) for v in servers.VERSIONS for b in BACKENDS]


def matrix_id(version: str, backend: str) -> str:
    return f"{version}-{backend}"


@pytest.hookimpl(tryfirst=True)  # before -m deselection reads the markers added here
def pytest_collection_modifyitems(config, items):
    selected, deselected = [], []
    full = "compat" in (config.option.markexpr or "")
    for item in items:
        spec = getattr(item, "callspec", None)
        param = spec.params.get("compat_server") if spec is not None else None
        if param is None:
            selected.append(item)
            continue
        item.add_marker(pytest.mark.compat)
        item.add_marker(pytest.mark.integration)
        if param[1] == "postgres":
            item.add_marker(pytest.mark.postgres)
        if full or tuple(param) in DEFAULT_SLICE:
            selected.append(item)
        else:
            deselected.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


@pytest.fixture(scope="session", params=MATRIX, ids=[matrix_id(*p) for p in MATRIX])
def compat_server(request, tmp_path_factory):
    """A real `mlflow server` of one version on one backend, shared by the tests of that pair."""
    version, backend = request.param
    server = servers.CompatServer(version, backend, tmp_path_factory.mktemp(f"compat-{version}-{backend}"))
    try:
        server.start()
    except Exception as e:  # noqa: BLE001 - a server that cannot start fails its tests, with its log
        pytest.fail(str(e), pytrace=False)
    _started.append(server)
    yield server
    server.stop()


_started: list[servers.CompatServer] = []


def pytest_terminal_summary(terminalreporter):
    for (version, backend), said in sorted(servers.SUMMARY.items()):
        terminalreporter.write_line(f"compat server {version} ({backend}): {said}")
    for s in _started:
        b = s.build
        terminalreporter.write_line(
            f"compat server {s.version} ({s.backend}): environment built in {b.get('build_seconds')} s "
            f"({b.get('size_bytes', 0) / 1e6:.0f} MB, cached in {servers.venv_dir(s.version)}), "
            f"started in {s.start_seconds} s")
