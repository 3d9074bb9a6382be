"""Names MLflow accepts but its filter grammar makes hard to write (issue 9, defect 1): every one
must be found by the snapshot's `name IN (...)` filters on a real server, so that a rerun never
registers twice. Quoting lives in one place, `reconciler.live.quote`."""

from __future__ import annotations

import json

import pytest
from helpers import client, write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.live import Registry
from reconciler.target import Target

pytestmark = pytest.mark.integration

HOSTILE = ["z'\", \"w", "it's \"quoted\"", "\\", "a\\", "'", '"', "''", '"\'"', ",", "(", ")", "%", "_",
           "%_\\", "x') OR name IN ('y", "\\'", "a\\\"b", "('),(\")", "é ✓"]

# MLflow refuses '/' and ':' in model names, and blank ones; the rest of printable text is fair game.
hostile_chars = st.sampled_from(list("'\",()%_\\ ;-=*") + ["a", "é", "\u2028"])
hostile_names = st.text(hostile_chars, min_size=1, max_size=12).filter(lambda s: s.strip())


def manifest(name: str, source: str) -> str:
    return (f"apiVersion: mlflow-gitops/v1\nkind: RegisteredModel\nname: {json.dumps(name)}\n"
            f"versions:\n  - source: {source}\n")


def test_names_with_both_quote_kinds_converge_and_register_once(sqlite_server, cli, tmp_path, unique_name):
    uri = sqlite_server.uri
    for i, raw in enumerate(["z'\", \"w", "it's \"quoted\"", "a\\"]):
        name = f"{raw} {unique_name}"  # unique on the shared server, hostile all the same
        tree = write(tmp_path / f"m{i}" / "model.yaml", manifest(name, f"s3://inj/{unique_name}/{i}"))
        for attempt in range(3):
            applied = cli("apply", tree, "--auto-approve", "--tracking-uri", uri)
            assert applied.returncode == 0, (attempt, applied.stdout, applied.stderr)
        assert client(uri).get_registered_model(name).name == name
        found = [v for v in client(uri).search_model_versions(max_results=1000)
                 if v.name == name]
        assert [v.version for v in found] == ["1"], found
        replan = cli("plan", tree, "--detailed-exitcode", "--tracking-uri", uri)
        assert replan.returncode == 0, replan.stdout + replan.stderr
        assert "No changes." in replan.stdout


@pytest.fixture(scope="module")
def server_registry(sqlite_server):
    return Registry(Target(sqlite_server.uri, sqlite_server.uri))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(hostile_names, min_size=1, max_size=4, unique=True))
def test_any_name_round_trips_through_the_snapshot_filter(server_registry, names):
    """Create each name (if new) with MLflow's own client, then read exactly those names through
    the tool's filters: each is found, with its version, and no other model is read."""
    c = client(server_registry.target.registry_uri)
    for name in names:
        if name not in {m.name for m in c.search_registered_models(max_results=1000)}:
            c.create_registered_model(name)
            c.create_model_version(name, source=f"s3://hyp/{len(name)}")
    snap = server_registry.snapshot(names)
    assert sorted(snap.models) == sorted(names)
    for name in names:
        assert snap.models[name].versions, name
    assert server_registry._in_filters  # the server accepted every filter: no fallback to a scan


@pytest.mark.parametrize("name", HOSTILE)
def test_fixed_hostile_names_are_read_by_filter(server_registry, name):
    c = client(server_registry.target.registry_uri)
    if name not in {m.name for m in c.search_registered_models(max_results=1000)}:
        c.create_registered_model(name)
    snap = server_registry.snapshot([name, "not-" + name])
    assert list(snap.models) == [name]
    assert server_registry._in_filters
