"""TLS against a real `mlflow server` behind a TLS proxy whose certificates come from a CA made
here: MLflow's TLS variables work, and every TLS failure is one clear line."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import HEALTH_POLL_INTERVAL, MlflowServer
from support.tlsproxy import Pki, TlsProxy

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tls_upstream(tmp_path_factory):
    """A server of its own: behind the proxy the Host header names the proxy's port, which the
    shared servers' --allowed-hosts refuse."""
    workdir = tmp_path_factory.mktemp("tls-server")
    server = MlflowServer(kind="tls", workdir=workdir, backend_store_uri=f"sqlite:///{workdir / 'server.db'}",
                          extra_args=["--allowed-hosts", "*"])
    server.launch()
    try:
        while not server.poll_ready():
            time.sleep(HEALTH_POLL_INTERVAL)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory) -> Pki:
    return Pki(tmp_path_factory.mktemp("other-pki"), name="other")


@pytest.fixture(scope="module")
def https(tls_upstream, pki):
    with TlsProxy(tls_upstream.uri, pki) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def mutual(tls_upstream, pki):
    with TlsProxy(tls_upstream.uri, pki, require_client_cert=True) as proxy:
        yield proxy


def manifests(tmp_path: Path, name: str) -> Path:
    d = tmp_path / "manifests"
    d.mkdir(exist_ok=True)
    (d / "m.yaml").write_text(
        f"apiVersion: mlflow-gitops/v1\nkind: RegisteredModel\nname: {name}\ndescription: over TLS\n"
        "tags: {team: tls}\n"
    )
    return d


def test_server_cert_path_trusts_the_ca_for_plan_apply_drift_export(cli, tmp_path, https, pki, unique_name):
    env = {"MLFLOW_TRACKING_SERVER_CERT_PATH": str(pki.ca)}
    d = manifests(tmp_path, unique_name)
    plan = cli("plan", d, "--tracking-uri", https.uri, "--format", "json", env=env)
    assert plan.returncode == 0, plan.stderr
    assert [c["action"] for c in json.loads(plan.stdout)["changes"]] == [
        "create_model", "set_model_tag", "update_model_description"]
    applied = cli("apply", d, "--tracking-uri", https.uri, "--auto-approve", env=env)
    assert applied.returncode == 0, applied.stderr
    again = cli("plan", d, "--tracking-uri", https.uri, "--detailed-exitcode", env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    drift = cli("drift", d, "--tracking-uri", https.uri, env=env)
    assert drift.returncode == 0, drift.stdout + drift.stderr
    exported = cli("export", "--model", unique_name, "--tracking-uri", https.uri, env=env)
    assert exported.returncode == 0 and "team: tls" in exported.stdout, exported.stderr
    assert not https.handshake_failures


def test_insecure_tls_skips_verification(cli, tmp_path, https, unique_name):
    result = cli("plan", manifests(tmp_path, unique_name), "--tracking-uri", https.uri,
                 env={"MLFLOW_TRACKING_INSECURE_TLS": "true"})
    assert result.returncode == 0, result.stderr
    assert "create registered model" in result.stdout


def test_client_cert_path_is_shown_to_a_server_that_requires_one(cli, tmp_path, mutual, pki, unique_name):
    d = manifests(tmp_path, unique_name)
    env = {"MLFLOW_TRACKING_SERVER_CERT_PATH": str(pki.ca), "MLFLOW_TRACKING_CLIENT_CERT_PATH": str(pki.client_bundle)}
    assert cli("apply", d, "--tracking-uri", mutual.uri, "--auto-approve", env=env).returncode == 0
    again = cli("plan", d, "--tracking-uri", mutual.uri, "--detailed-exitcode", env=env)
    assert again.returncode == 0, again.stdout + again.stderr


def one_line(result) -> str:
    assert result.returncode == 1
    assert "internal error" not in result.stderr and "__cause__" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("command", ["plan", "drift", "apply", "export"])
def test_https_against_plain_http_is_one_line(cli, tmp_path, tls_upstream, command, unique_name):
    uri = tls_upstream.uri.replace("http://", "https://")
    args = [command] if command == "export" else [command, manifests(tmp_path, unique_name)]
    if command == "apply":
        args.append("--auto-approve")
    line = one_line(cli(*args, "--tracking-uri", uri))
    host = uri.removeprefix("https://")
    assert f"TLS handshake with {host} failed" in line and "(is it plain http?)" in line, line


def test_an_untrusted_certificate_is_one_line_naming_the_variables(cli, tmp_path, https, unique_name):
    line = one_line(cli("plan", manifests(tmp_path, unique_name), "--tracking-uri", https.uri))
    assert f"TLS handshake with 127.0.0.1:{https.port} failed: certificate verify failed" in line, line
    assert "MLFLOW_TRACKING_SERVER_CERT_PATH" in line


def test_a_certificate_of_another_ca_is_refused(cli, tmp_path, https, other_pki, unique_name):
    line = one_line(cli("plan", manifests(tmp_path, unique_name), "--tracking-uri", https.uri,
                        env={"MLFLOW_TRACKING_SERVER_CERT_PATH": str(other_pki.ca)}))
    assert "certificate verify failed" in line, line


def test_a_missing_client_certificate_is_one_line(cli, tmp_path, mutual, pki, unique_name):
    line = one_line(cli("plan", manifests(tmp_path, unique_name), "--tracking-uri", mutual.uri,
                        env={"MLFLOW_TRACKING_SERVER_CERT_PATH": str(pki.ca)}))
    assert f"TLS handshake with 127.0.0.1:{mutual.port} failed" in line, line
    assert "MLFLOW_TRACKING_CLIENT_CERT_PATH" in line, line


def test_a_cert_path_that_does_not_exist_is_one_line(cli, tmp_path, https, unique_name):
    line = one_line(cli("plan", manifests(tmp_path, unique_name), "--tracking-uri", https.uri,
                        env={"MLFLOW_TRACKING_SERVER_CERT_PATH": str(tmp_path / "nope.pem")}))
    assert "nope.pem" in line, line
