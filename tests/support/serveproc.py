"""A real `mlflow-gitops serve` subprocess for tests, and a real HTTP endpoint collecting notifications."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from conftest import _clean_env

START_TIMEOUT = 120.0  # importing MLflow on a loaded 2-core machine
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Serve:
    """`python -m reconciler serve ARGS --listen 127.0.0.1:0`; the port is read from its first line."""

    def __init__(self, tmp: Path, *args: str, env: dict[str, str | None] | None = None):
        self.log_path = tmp / f"serve-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "serve", *map(str, args), "--listen", "127.0.0.1:0"],
            env=_clean_env(env), stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
        )
        self.base = self._wait_for_address()

    def _wait_for_address(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            m = re.search(r"Serving on (http://\S+)", self.log())
            if m:
                return m.group(1)
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited with {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"serve did not start:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def request(self, path: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, str]:
        req = urllib.request.Request(self.base + path, data=data, headers=headers or {},
                                     method="POST" if data is not None else "GET")
        try:
            with _OPENER.open(req, timeout=30) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def status(self) -> dict:
        code, body = self.request("/api/status")
        assert code == 200, body
        return json.loads(body)

    def metrics(self) -> dict[tuple[str, tuple], float]:
        """{(sample name, sorted label items): value}, parsed with Prometheus's own parser."""
        from prometheus_client.parser import text_string_to_metric_families

        code, body = self.request("/metrics")
        assert code == 200, body
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(body) for s in family.samples}

    def metric(self, name: str, **labels) -> float | None:
        return self.metrics().get((name, tuple(sorted(labels.items()))))

    def wait_for(self, what: str, predicate, timeout: float = 60.0):
        """Poll `predicate()` until it returns something truthy (returned), else fail with the log."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited ({self.proc.returncode}) waiting for {what}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}:\n{self.log()[-4000:]}")
            time.sleep(0.2)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


class Receiver:
    """A loopback HTTP endpoint that records the JSON bodies POSTed to it (for --notify-url)."""

    def __init__(self):
        self.messages: list[dict] = []
        received = self.messages

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def events(self) -> list[str]:
        return [m["event"] for m in self.messages]

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
