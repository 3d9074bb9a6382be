"""The live snapshot in a constant number of round trips, read concurrently, counted right, and
the fallback for servers that refuse `name IN (...)`.

The fault-injecting loopback proxy sits between the CLI and a real `mlflow server`: it logs the
HTTP requests that really reach the server and, when asked, refuses `name IN (...)` searches the
way an older server or a strict gateway does (HTTP 400)."""

from __future__ import annotations

import json
import re
from urllib.parse import unquote_plus

import pytest
from support.faultproxy import FaultProxy, Rule
from support.integration import seed_versions, write

pytestmark = pytest.mark.integration


def api_requests(proxy: FaultProxy) -> list[str]:
    return [f"{method} {unquote_plus(path)}" for method, path, _ in proxy.requests(path="/api/")]


def manifest(name: str) -> str:
    return f"apiVersion: mlflow-gitops/v1\nkind: RegisteredModel\nname: {name}\nversions:\n  - version: 1\n    stage: Staging\n"


def round_trips(stderr: str) -> int:
    m = re.search(r"(\d+) registry round trips", stderr)
    assert m, stderr
    return int(m.group(1))


@pytest.mark.parametrize("reject_in", [False, True], ids=["in-filter", "server-rejects-in"])
def test_plan_reads_in_constant_round_trips_and_counts_them(sqlite_server, unique_name, cli, tmp_path, reject_in):
    names = [f"{unique_name}_{i}" for i in range(5)]
    for name in names:
        seed_versions(sqlite_server.uri, name, ["None", "Staging"])
        write(tmp_path / "m" / f"{name}.yaml", manifest(name))
    with FaultProxy(sqlite_server.uri) as proxy:
        if reject_in:
            proxy.add(Rule(action="status", status=400, path=r"filter=name\+IN\+", times=None))
        result = cli("plan", tmp_path / "m", "--verbose", "--format", "json", "--tracking-uri", proxy.uri)
        seen = api_requests(proxy)
    assert result.returncode == 0, result.stderr
    changes = json.loads(result.stdout)["changes"]
    # the same plan whichever way the models were read: v1 of each model to Staging
    assert sorted((c["model"], c["version"], c["after"]) for c in changes) == [(n, "1", "Staging") for n in names]
    searches = [r for r in seen if "/search" in r]
    assert len(searches) == len(seen)  # reads are searches only: never a call per model
    if reject_in:
        # the three refused `IN` searches (models, versions, prompts), then one page of each search
        # over the whole registry
        assert sum(" IN " in r for r in searches) == 3
        assert len([r for r in searches if "filter=" not in r]) >= 2
    else:
        # models, versions, and prompts (which MLflow's searches leave out unless asked for alone)
        assert len(searches) == 3 and all(f"name IN ('{names[0]}'" in r for r in searches)
    assert round_trips(result.stderr) == len(seen)  # --verbose counts what reached the server


def test_apply_counts_one_round_trip_per_write(sqlite_server, unique_name, cli, tmp_path):
    name = unique_name
    seed_versions(sqlite_server.uri, name, ["None"])
    write(tmp_path / "m.yaml", manifest(name) + "    aliases: [candidate]\n")
    with FaultProxy(sqlite_server.uri) as proxy:
        result = cli("apply", tmp_path / "m.yaml", "--auto-approve", "--verbose", "--tracking-uri", proxy.uri)
        seen = api_requests(proxy)
    assert result.returncode == 0, result.stderr
    writes = [r for r in seen if not r.startswith("GET")]
    # transition-stage and set-alias, then the audit trail (reconciler.apply.audit): the version's stage
    # stamp and the model's manifest and applied tags; no extra GET before any write
    assert len(writes) == 2 + 3
    # and the plan's three searches, the permission probe (GET users/current, reconciler.apply.permissions)
    # and the re-read of the model right before it is applied (three searches, reconciler.apply.guard)
    assert len(seen) == 3 + len(writes) + 1 + 3
    assert round_trips(result.stderr) == len(seen)
    assert "5 registry writes" in result.stderr
