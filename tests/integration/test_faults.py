"""Faults between the tool and a real `mlflow server`: a loopback proxy (tests/faultproxy.py) drops
connections or answers 500/503; a server is killed in the middle of an apply; a server does not
answer at all. Apply retries what is safe to retry, never registers a source twice, and when it
cannot go on it exits 1 saying which changes were applied and which were not; a rerun converges.

Registry state is checked with MLflow's own client; backoffs are made short through MLflow's own
variables, which the tool applies itself (reconciler/registry/retry.py)."""

from __future__ import annotations

import socket

import pytest
from support.faultproxy import FaultProxy, Rule
from support.integration import client, seed_versions, state, write

pytestmark = pytest.mark.integration

# MLflow parses the backoff factor as an integer (and still reads it): 0 here, jitter only
FAST = {"MLFLOW_GITOPS_HTTP_BACKOFF_FACTOR": "0", "MLFLOW_GITOPS_HTTP_BACKOFF_JITTER": "0.05"}
REGISTER = r"/model-versions/create"


def manifest(name: str, sources: list[str], stage_of_last: str = "Production") -> str:
    versions = "".join(f"  - source: {s}\n    tags: {{n: '{i}'}}\n" for i, s in enumerate(sources))
    return (
        f"apiVersion: mlflow-gitops/v1\nkind: RegisteredModel\nname: {name}\n"
        f"description: managed\ntags: {{team: mlops}}\nversions:\n{versions}"
        f"  - source: {sources[-1]}-last\n    stage: {stage_of_last}\n    aliases: [champion]\n"
    )


def versions_by_source(uri: str, name: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for v in client(uri).search_model_versions(filter_string=f"name = '{name}'"):
        out.setdefault(v.source, []).append(str(v.version))
    return out


def assert_converged(cli, tree, uri: str, name: str, sources: list[str]) -> None:
    replan = cli("plan", tree, "--detailed-exitcode", "--tracking-uri", uri)
    assert replan.returncode == 0, replan.stdout + replan.stderr
    by_source = versions_by_source(uri, name)
    assert {*sources, sources[-1] + "-last"} <= set(by_source)
    assert all(len(v) == 1 for v in by_source.values()), by_source  # no duplicate registration


# ---- a server that is not there ------------------------------------------------------------------


def test_plan_against_an_unreachable_server_fails_fast_with_one_line(run_cli, tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tree = write(tmp_path / "m.yaml", manifest("unreachable", ["s3://x/1"]))
    r = run_cli("plan", tree, "--tracking-uri", f"http://ci:hunter2-secret@127.0.0.1:{port}")
    assert r.returncode == 1
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    assert f"http://***@127.0.0.1:{port}" in lines[0]
    assert "connection refused" in lines[0]
    assert "4 attempts" in lines[0]  # default: 3 retries
    assert "hunter2" not in r.stdout + r.stderr


def test_a_server_that_never_answers_is_bounded_by_timeout(sqlite_server, run_cli, tmp_path):
    tree = write(tmp_path / "m.yaml", manifest("silent", ["s3://x/1"]))
    with FaultProxy(sqlite_server.uri) as proxy:
        proxy.add(Rule("hang", times=None))
        r = run_cli("plan", tree, "--tracking-uri", proxy.uri, "--timeout", "3")
        proxy.release()
    assert r.returncode == 1
    assert "timed out" in r.stderr and "--timeout 3 s" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


# ---- transient faults are retried ----------------------------------------------------------------


def test_5xx_and_dropped_connections_are_retried(sqlite_server, unique_name, cli, tmp_path):
    sources = [f"s3://{unique_name}/1", f"s3://{unique_name}/2"]
    tree = write(tmp_path / "m.yaml", manifest(unique_name, sources))
    with FaultProxy(sqlite_server.uri) as proxy:
        proxy.add(Rule("status", method="GET", status=503, times=2, retry_after="0"))
        proxy.add(Rule("status", method="write", status=500, times=1))
        proxy.add(Rule("drop", method="write", skip=3, times=1))  # never reached the server
        proxy.add(Rule("status", method="write", status=429, skip=5, times=1))
        r = cli("apply", tree, "--auto-approve", "--tracking-uri", proxy.uri, "--verbose", env=FAST)
        assert r.returncode == 0, r.stderr
        assert [rule.fired for rule in proxy.rules] == [2, 1, 1, 1]
    assert "retry" in r.stderr  # --verbose shows each retry
    assert_converged(cli, tree, sqlite_server.uri, unique_name, sources)


def test_a_lost_response_to_a_registration_does_not_register_twice(sqlite_server, unique_name, cli, tmp_path):
    """The server registers the version, the answer is lost: a blind retry (MLflow's own policy
    retries POSTs) would register the source a second time. The tool looks it up instead."""
    sources = [f"s3://{unique_name}/1", f"s3://{unique_name}/2"]
    tree = write(tmp_path / "m.yaml", manifest(unique_name, sources))
    with FaultProxy(sqlite_server.uri) as proxy:
        lost = proxy.add(Rule("drop_after", method="POST", path=REGISTER, times=2))
        r = cli("apply", tree, "--auto-approve", "--tracking-uri", proxy.uri, env=FAST)
        assert r.returncode == 0, r.stderr
        assert lost.fired == 2
        assert len(proxy.requests("POST", REGISTER)) == 3  # 2 lost answers, 1 normal; no repeats
    assert_converged(cli, tree, sqlite_server.uri, unique_name, sources)


def test_a_lost_response_to_create_model_is_recovered(sqlite_server, unique_name, cli, tmp_path):
    sources = [f"s3://{unique_name}/1"]
    tree = write(tmp_path / "m.yaml", manifest(unique_name, sources))
    with FaultProxy(sqlite_server.uri) as proxy:
        proxy.add(Rule("drop_after", method="POST", path=r"/registered-models/create$", times=1))
        r = cli("apply", tree, "--auto-approve", "--tracking-uri", proxy.uri, env=FAST)
    assert r.returncode == 0, r.stderr
    assert_converged(cli, tree, sqlite_server.uri, unique_name, sources)


# ---- faults that outlast the retries ------------------------------------------------------------


def test_persistent_errors_stop_apply_with_a_report_and_a_rerun_converges(sqlite_server, unique_name, cli, tmp_path):
    sources = [f"s3://{unique_name}/{i}" for i in range(1, 4)]
    tree = write(tmp_path / "m.yaml", manifest(unique_name, sources))
    with FaultProxy(sqlite_server.uri) as proxy:
        proxy.add(Rule("status", method="write", status=503, skip=3, times=None))  # down after 3 writes
        r = cli("apply", tree, "--auto-approve", "--tracking-uri", proxy.uri, env=FAST)
    assert r.returncode == 1
    err = r.stderr
    assert "HTTP 503 Service Unavailable" in err and "4 attempts" in err, err
    assert "Applied 3 of " in err
    assert err.count("  failed:") == 1 and err.count("  not applied:") >= 5
    assert "run apply again" in err
    assert "Traceback" not in err
    assert len(versions_by_source(sqlite_server.uri, unique_name)) == 2  # create model + 2 registered

    rerun = cli("apply", tree, "--auto-approve", "--tracking-uri", sqlite_server.uri)
    assert rerun.returncode == 0, rerun.stderr
    assert_converged(cli, tree, sqlite_server.uri, unique_name, sources)


def test_server_killed_in_the_middle_of_apply(scratch_server, cli, tmp_path):
    """The server is killed right after it committed a registration, before answering. Apply
    exits 1 listing what was and was not applied; a rerun against the same store converges
    without registering that source again."""
    name = "killed_mid_apply"
    uri = scratch_server.uri
    seed_versions(uri, name, ["Production"])
    sources = [f"s3://{name}/{i}" for i in range(1, 4)]
    tree = write(tmp_path / "m.yaml", manifest(name, sources))
    with FaultProxy(uri) as proxy:
        def kill(req):  # the server dies; from now on, connections are refused
            scratch_server.stop()
            proxy.close()

        proxy.add(Rule("drop_after", method="POST", path=REGISTER, skip=1, times=1, after=kill))
        r = cli("apply", tree, "--auto-approve", "--tracking-uri", proxy.uri, env=FAST)
    assert r.returncode == 1
    err = r.stderr
    assert "connection refused" in err, err
    assert "Applied 1 of " in err  # the first registration
    assert "  failed:      + " in err and "register new version" in err
    assert err.count("  not applied:") >= 4
    assert "Traceback" not in err

    # The data survives the server: rerun against the same store.
    store = scratch_server.backend_store_uri
    assert len(versions_by_source(store, name)[f"s3://{name}/2"]) == 1  # committed before the kill
    rerun = cli("apply", tree, "--auto-approve", "--tracking-uri", store)
    assert rerun.returncode == 0, rerun.stderr
    assert "register new version from s3://" + name + "/2" not in rerun.stdout
    assert_converged(cli, tree, store, name, [*sources])
    assert state(store, name)["aliases"] == {"champion": versions_by_source(store, name)[sources[-1] + "-last"][0]}
