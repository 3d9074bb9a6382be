"""Concurrent applies against one PostgreSQL-backed `mlflow server`: two runs of the same manifests
at once end in the desired state, with one version per declared source and no crash; `--lock`
makes a second run wait for (or time out on) the first, and the lease of a run that died expires.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import _clean_env
from support.faultproxy import FaultProxy, Rule
from support.integration import client, write

from reconciler.apply.lock import EXPIRES_TAG, HOLDER_TAG, PREFIX

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def manifests(tmp_path: Path, names: list[str]) -> Path:
    for name in names:
        write(tmp_path / "tree" / f"{name}.yaml", f"""\
            apiVersion: mlflow-gitops/v1
            kind: RegisteredModel
            name: {name}
            description: concurrently applied
            tags: {{team: mlops, tier: gold}}
            versions:
              - source: s3://{name}/1
                stage: Archived
                tags: {{validated: "false"}}
              - source: s3://{name}/2
                stage: Staging
                aliases: [challenger]
              - source: s3://{name}/3
                stage: Production
                aliases: [champion]
                description: the best one
            """)
    return tmp_path / "tree"


def versions_by_source(uri: str, name: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for v in client(uri).search_model_versions(filter_string=f"name = '{name}'"):
        out.setdefault(v.source, []).append(str(v.version))
    return out


def leases(uri: str) -> list[str]:
    return [m.name for m in client(uri).search_registered_models(filter_string=f"name LIKE '{PREFIX}%'")]


def assert_desired(cli, tree: Path, uri: str, names: list[str]) -> None:
    replan = cli("plan", tree, "--detailed-exitcode", "--tracking-uri", uri)
    assert replan.returncode == 0, replan.stdout + replan.stderr
    for name in names:
        by_source = versions_by_source(uri, name)
        assert sorted(by_source) == [f"s3://{name}/{i}" for i in (1, 2, 3)]
        assert all(len(v) == 1 for v in by_source.values()), by_source  # no duplicate versions


@pytest.mark.parametrize("lock", [False, True], ids=["optimistic", "lock"])
def test_two_applies_at_once_converge_without_duplicates(postgres_server, run_cli, cli, tmp_path, lock):
    """Two runs of the same manifests, truly at once: each run goes through a proxy of its own that
    holds its first write until the other run's first write arrives, so both have planned (and
    checked the model) before either writes anything."""
    uri = postgres_server.uri
    name = f"conc_{'lock' if lock else 'optimistic'}_{time.time_ns() % 10**10}"
    tree = manifests(tmp_path, [name])
    both_ready = threading.Barrier(2, timeout=120)
    with FaultProxy(uri) as first, FaultProxy(uri) as second:
        for proxy in (first, second):
            proxy.add(Rule("forward", method="write", times=1, before=lambda req: both_ready.wait()))

        def apply(proxy):
            return run_cli("apply", tree, "--auto-approve", "--verbose", "--tracking-uri", proxy.uri,
                           *(["--lock"] if lock else []))  # fmt: skip

        with ThreadPoolExecutor(max_workers=2) as pool:
            runs = list(pool.map(apply, (first, second)))
    for r in runs:
        assert r.returncode == 0, r.stdout + r.stderr
        assert "Traceback" not in r.stderr
    notes = runs[0].stderr + runs[1].stderr
    if lock:
        # one run applied everything; the other found it done when it got the lock
        assert "planned it again: 0 of its 14 changes still needed" in notes
        assert "withdrew" not in notes
    else:
        # both registered each of the 3 sources; the run whose version came second withdrew it
        assert notes.count("withdrew the duplicate version") == 3, notes
    assert_desired(cli, tree, uri, [name])
    assert leases(uri) == []


def test_a_registration_racing_with_another_run_keeps_the_first_version(postgres_server, unique_name, cli, tmp_path):
    """Forced interleaving: between our check and our registration, another run registers the same
    source. Ours comes second: it is withdrawn and the other run's version is used."""
    uri = postgres_server.uri
    tree = write(tmp_path / "m.yaml", f"""\
        apiVersion: mlflow-gitops/v1
        kind: RegisteredModel
        name: {unique_name}
        versions:
          - source: s3://{unique_name}/1
            stage: Production
            aliases: [champion]
        """)
    client(uri).create_registered_model(unique_name)

    def other_run_registers_first(req):
        client(uri).create_model_version(unique_name, f"s3://{unique_name}/1")

    with FaultProxy(uri) as proxy:
        proxy.add(Rule("forward", method="POST", path=r"/model-versions/create", before=other_run_registers_first))
        r = cli("apply", tree, "--auto-approve", "--tracking-uri", proxy.uri)
    assert r.returncode == 0, r.stderr
    assert versions_by_source(uri, unique_name) == {f"s3://{unique_name}/1": ["1"]}
    m = client(uri).get_registered_model(unique_name)
    assert m.aliases == {"champion": "1"}
    assert client(uri).get_model_version(unique_name, "1").current_stage == "Production"


def put_lease(uri: str, holder: str, expires: float) -> str:
    name = f"{PREFIX}test{time.time_ns()}"
    client(uri).create_registered_model(name, tags={HOLDER_TAG: holder, EXPIRES_TAG: str(expires)})
    return name


def test_lock_held_by_another_run_waits_then_times_out_clearly(postgres_server, unique_name, run_cli, cli, tmp_path):
    uri = postgres_server.uri
    tree = manifests(tmp_path, [unique_name])
    lease = put_lease(uri, "ci@runner-7 pid 4242", time.time() + 600)
    try:
        r = run_cli("apply", tree, "--auto-approve", "--lock", "--timeout", "5", "--tracking-uri", uri)
        assert r.returncode == 1
        assert "Waiting for the registry lock held by ci@runner-7 pid 4242" in r.stderr
        assert "timed out after 5 s waiting for the registry lock held by ci@runner-7 pid 4242" in r.stderr
        assert "nothing was applied" in r.stderr
        assert client(uri).search_registered_models(filter_string=f"name = '{unique_name}'") == []
        assert leases(uri) == [lease]  # ours was never created, or is gone

        # the holder died long ago: its lease expired, and the next run takes over
        client(uri).set_registered_model_tag(lease, EXPIRES_TAG, str(time.time() - 1))
        r = cli("apply", tree, "--auto-approve", "--lock", "--tracking-uri", uri)
        assert r.returncode == 0, r.stderr
        assert leases(uri) == []  # the dead lease was cleaned up, ours released
        assert_desired(cli, tree, uri, [unique_name])
    finally:
        for name in leases(uri):
            client(uri).delete_registered_model(name)


def test_the_lease_of_a_killed_holder_expires(postgres_server, unique_name, cli, tmp_path):
    """A real holder (TTL 2 s) is SIGKILLed while it waits for an answer; the next `--lock` run
    waits for the lease to expire, takes over and converges."""
    uri = postgres_server.uri
    tree = manifests(tmp_path, [unique_name])
    with FaultProxy(uri) as proxy:
        proxy.add(Rule("hang", method="POST", path=r"/model-versions/create", times=None))
        holder = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "apply", str(tree), "--auto-approve", "--lock",
             "--tracking-uri", proxy.uri],
            env=_clean_env({"MLFLOW_GITOPS_LOCK_TTL": "2"}), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120  # bounded wait for a state, not for time to pass
            while not proxy.requests("POST", r"/model-versions/create"):
                assert holder.poll() is None, "the holder ended before registering"
                assert time.monotonic() < deadline, "the holder never reached its first registration"
                time.sleep(0.1)
            assert len(leases(uri)) == 1  # it holds the lock, and is stuck
        finally:
            holder.send_signal(signal.SIGKILL)
            holder.wait(timeout=30)
            proxy.release()
    r = cli("apply", tree, "--auto-approve", "--lock", "--timeout", "60", "--tracking-uri", uri)
    assert r.returncode == 0, r.stderr
    assert leases(uri) == []  # the dead holder's lease expired and was cleaned up; ours released
    assert_desired(cli, tree, uri, [unique_name])
