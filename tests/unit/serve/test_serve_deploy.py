"""The deployment examples of `serve` agree with the CLI: the image's entrypoint is the console
script, probes and scrapes hit the port it listens on, and every option they pass exists."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from typer.testing import CliRunner

from reconciler.cli import app

REPO = Path(__file__).resolve().parents[3]


def serve_options() -> set[str]:
    help_text = CliRunner().invoke(app, ["serve", "--help"], terminal_width=200).output
    return set(re.findall(r"--[a-z][a-z-]+", help_text))


def test_dockerfile_runs_the_console_script_on_the_listen_port():
    text = (REPO / "Dockerfile").read_text()
    entry = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", text, re.M).group(1))
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))
    assert entry == ["mlflow-gitops", "serve"]
    assert cmd[cmd.index("--listen") + 1] == "0.0.0.0:9465" and "EXPOSE 9465" in text
    assert "/healthz" in text and "uv sync --locked" in text
    assert {a for a in cmd if a.startswith("--")} <= serve_options()


def test_kubernetes_probes_and_scrape_annotation():
    docs = list(yaml.safe_load_all((REPO / "examples/serve/kubernetes.yaml").read_text()))
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    args = container["args"]
    port = int(args[args.index("--listen") + 1].rsplit(":", 1)[1])
    assert container["ports"][0]["containerPort"] == port
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["path"] == "/healthz"
    notes = pod["metadata"]["annotations"]
    assert notes["prometheus.io/scrape"] == "true" and int(notes["prometheus.io/port"]) == port
    assert notes["prometheus.io/path"] == "/metrics"
    assert {a for a in args if a.startswith("--")} <= serve_options()
    assert next(d for d in docs if d["kind"] == "ServiceMonitor")["spec"]["endpoints"][0]["path"] == "/metrics"


def test_systemd_unit_starts_serve():
    text = (REPO / "examples/serve/mlflow-gitops.service").read_text()
    command = re.search(r"^ExecStart=(.*?)(?<!\\)$", text, re.M | re.S).group(1).replace("\\\n", " ")
    words = command.split()
    assert words[1] == "serve" and {w for w in words if w.startswith("--")} <= serve_options()
    assert "KillSignal=SIGTERM" in text
