"""Parallel apply against real `mlflow server`s: several models at once converge, each model's
changes stay in order, and a model that fails at apply time stops alone and is reported."""

from __future__ import annotations

import json
import re

import pytest
from support.integration import promotion_manifest, seed_versions, state, write, writes_reported

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite_server", "postgres_server"])
def server_uri(request) -> str:
    return request.getfixturevalue(request.param).uri


def test_parallel_apply_converges_in_order_and_reapply_writes_nothing(server_uri, unique_name, cli, tmp_path):
    names = [f"{unique_name}_{i}" for i in range(6)]
    for name in names:
        seed_versions(server_uri, name, ["Production", "Staging"])
        write(tmp_path / "m" / f"{name}.yaml", promotion_manifest(name))
    uri = ["--tracking-uri", server_uri]

    applied = cli("apply", tmp_path / "m", "--auto-approve", "--verbose", "--parallelism", "4", *uri)
    assert applied.returncode == 0, applied.stderr
    # 4 changes per model, then its audit trail: 2 version stamps and 2 model tags
    assert writes_reported(applied.stderr) == 6 * (4 + 4)
    assert "4 models at a time" in applied.stderr
    lines = re.findall(r"^  \[(\d+)/24\] (.*)$", applied.stdout, re.M)
    assert [int(n) for n, _ in lines] == list(range(1, 25))  # numbered in the order printed
    for name in names:
        # each model's lines form one block, in plan order: promote v2 before demoting v1
        block = [text for _, text in lines if text.split()[1].rstrip(":") == name]
        assert [b.split(":")[0] for b in block] == [f"~ {name} v2", f"~ {name} v1", f"+ {name} v2", f"+ {name}"]
        at = [text for _, text in lines].index(block[0])
        assert [text for _, text in lines][at : at + 4] == block
        s = state(server_uri, name)
        assert (s["versions"]["2"]["stage"], s["versions"]["1"]["stage"]) == ("Production", "Archived")
        assert s["aliases"] == {"champion": "2"} and s["tags"] == {"team": "mlops"}

    again = cli("apply", tmp_path / "m", "--auto-approve", "--verbose", "--parallelism", "4", *uri)
    assert again.returncode == 0, again.stderr
    assert writes_reported(again.stderr) == 0
    assert "No changes." in again.stdout


def test_a_model_failing_at_apply_time_does_not_stop_or_corrupt_the_others(sqlite_server, unique_name, cli, tmp_path):
    good = [f"{unique_name}_ok{i}" for i in range(4)]
    bad = f"{unique_name}_bad"
    for name in good:
        seed_versions(sqlite_server.uri, name, ["Production", "Staging"])
        write(tmp_path / "m" / f"{name}.yaml", promotion_manifest(name))
    seed_versions(sqlite_server.uri, bad, ["Production"])
    # A run that does not exist: the plan registers a version from it, apply fails on that call.
    write(tmp_path / "m" / "bad.yaml", f"""\
apiVersion: mlflow-gitops/v1
kind: RegisteredModel
name: {bad}
versions:
  - run_id: 0a1b2c3d4e5f00000000000000000000
    aliases: [challenger]
""")
    before = state(sqlite_server.uri, bad)

    result = cli("apply", tmp_path / "m", "--auto-approve", "--parallelism", "3", "--tracking-uri", sqlite_server.uri)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert re.search(rf"^  failed:      \+ {bad} new#1: register new version", result.stderr, re.M), result.stderr
    assert re.search(rf"^  not applied: \+ {bad} new#1: alias @challenger", result.stderr, re.M), result.stderr
    assert "Applied 16 of 18 changes." in result.stderr
    assert "partly converged" in result.stderr
    assert state(sqlite_server.uri, bad) == before
    for name in good:  # all applied and listed as applied, whatever the order models finished in
        s = state(sqlite_server.uri, name)
        assert (s["versions"]["2"]["stage"], s["versions"]["1"]["stage"]) == ("Production", "Archived")
        assert s["aliases"] == {"champion": "2"}
        assert len(re.findall(rf"^  \[\d+/18\] . {name}\b", result.stdout, re.M)) == 4

    as_json = cli("apply", tmp_path / "m", "--auto-approve", "--format", "json", "--tracking-uri", sqlite_server.uri)
    assert as_json.returncode == 1
    doc = json.loads(as_json.stdout)["apply"]
    assert doc["status"] == "failed" and doc["applied"] == 0
    assert [(c["model"], c["action"]) for c in doc["failed"]] == [(bad, "register_version")]
    assert "0a1b2c3d4e5f00000000000000000000 not found" in doc["failed"][0]["error"]
    assert [(c["model"], c["action"]) for c in doc["not_applied"]] == [(bad, "set_alias")]
