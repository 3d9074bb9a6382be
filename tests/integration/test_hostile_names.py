"""Names MLflow accepts but its filter grammar makes hard to write (issue 9, defect 1): every one
must be found by the snapshot's `name IN (...)` filters on a real server, so that a rerun never
registers twice. Quoting lives in one place, `reconciler.live.quote`."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.integration import client, write

from reconciler.registry.client import Registry
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


# ---- MLflow prompts (issue 9, defect 2): seen, never touched ---------------------------------------


def prompt_state(uri: str, name: str) -> dict:
    c = client(uri)._get_registry_client()  # MlflowClient's own methods hide prompts
    m = c.get_registered_model(name)
    versions = c.search_model_versions(f"name = '{name}' AND tags.`mlflow.prompt.is_prompt` = 'true'")
    # (MLflow itself links a new prompt to the default experiment, in a tag of its own, meanwhile)
    tags = {k: v for k, v in m._tags.items() if not k.startswith("_mlflow")}
    return {"description": m.description, "tags": tags, "aliases": dict(m.aliases),
            "versions": sorted((v.version, v.source) for v in versions)}


def test_a_manifest_naming_a_prompt_is_a_located_error_and_the_prompt_is_untouched(
        sqlite_server, cli, tmp_path, unique_name):
    uri = sqlite_server.uri
    client(uri).register_prompt(unique_name, "Hello {{name}}")
    before = prompt_state(uri, unique_name)
    tree = write(tmp_path / "m" / "model.yaml", f"""\
        apiVersion: mlflow-gitops/v1
        kind: RegisteredModel
        name: {unique_name}
        description: hijacked
        tags: {{team: mallory}}
        versions:
          - source: s3://inj/prompt
            aliases: [champion]
        """)
    for command in (["plan"], ["apply", "--auto-approve"], ["drift"]):
        result = cli(*command, tree, "--tracking-uri", uri)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        assert f"{tree}:3:1: model '{unique_name}' is an MLflow prompt" in result.stderr, result.stderr
        assert "internal error" not in result.stderr
    assert prompt_state(uri, unique_name) == before
    exported = cli("export", "--model", unique_name, "--out", tmp_path / "exp", "--tracking-uri", uri)
    assert exported.returncode == 1 and "MLflow prompts" in exported.stderr
    assert not (tmp_path / "exp").exists()


def test_a_saved_plan_for_a_name_that_became_a_prompt_is_refused(sqlite_server, cli, tmp_path, unique_name):
    uri = sqlite_server.uri
    tree = write(tmp_path / "m" / "model.yaml", manifest(unique_name, "s3://inj/p") + "    aliases: [champion]\n")
    saved = tmp_path / "plan.json"
    planned = cli("plan", tree, "--out", saved, "--tracking-uri", uri)
    assert planned.returncode == 0, planned.stderr
    client(uri).register_prompt(unique_name, "Hello {{name}}")  # same name, meanwhile
    before = prompt_state(uri, unique_name)
    applied = cli("apply", saved, "--auto-approve", "--tracking-uri", uri)
    assert applied.returncode == 1, applied.stdout + applied.stderr
    assert "is an MLflow prompt" in applied.stderr, applied.stderr
    assert prompt_state(uri, unique_name) == before


def test_create_that_meets_a_prompt_stops_before_any_other_write(sqlite_server, unique_name):
    """The last line of defence: "already exists" on create is only taken as done for a model."""
    from reconciler.errors import RegistryError

    uri = sqlite_server.uri
    client(uri).register_prompt(unique_name, "Hello {{name}}")
    registry = Registry(Target(uri, uri))
    with pytest.raises(RegistryError, match="is an MLflow prompt"):
        registry.create_model(unique_name)


# ---- hostile `--lock` leases (issue 9, defect 5): registry data, escaped and bounded -----------------


def test_a_hostile_lease_is_shown_escaped_and_an_absurd_expiry_blocks_nobody(sqlite_server, cli, tmp_path, unique_name):
    import time

    from reconciler.apply.lock import EXPIRES_TAG, HOLDER_TAG, PREFIX

    uri = sqlite_server.uri
    registry = client(uri)._get_registry_client()
    tree = write(tmp_path / "m.yaml", manifest(unique_name, f"s3://lease/{unique_name}"))
    evil = f"{PREFIX}evil{unique_name}"
    registry.create_registered_model(evil, tags={
        HOLDER_TAG: "mallory\x1b[2J\nApply complete! 99 changes applied.",
        EXPIRES_TAG: f"{time.time() + 3600:.3f}"})
    try:
        waited = cli("apply", tree, "--auto-approve", "--lock", "--timeout", "2", "--tracking-uri", uri)
        assert waited.returncode == 1
        assert "held by mallory\\x1b[2J\\nApply complete!" in waited.stderr, waited.stderr
        assert "\x1b" not in waited.stderr + waited.stdout and "\nApply complete!" not in waited.stderr
        assert "internal error" not in waited.stderr
    finally:
        registry.delete_registered_model(evil)
    registry.create_registered_model(evil, tags={HOLDER_TAG: "mallory", EXPIRES_TAG: "1e300"})
    applied = cli("apply", tree, "--auto-approve", "--lock", "--tracking-uri", uri)
    assert applied.returncode == 0, applied.stderr  # unreadable expiry: an expired lease
    assert client(uri).get_registered_model(unique_name).name == unique_name

