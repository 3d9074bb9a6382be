"""The HTTP endpoints of `serve` (stdlib ThreadingHTTPServer: a handful of requests a minute from
probes, Prometheus and MLflow do not need more). Handlers only read the controller's current View
and set its wake event; they never touch the registry. Everything sent is redacted."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from reconciler.redact import redact
from reconciler.serve import page
from reconciler.serve.metrics import CONTENT_TYPE
from reconciler.serve.webhook import DELIVERY_ID_HEADER, MAX_BODY, TIMESTAMP_HEADER, Verifier


class Handler(BaseHTTPRequestHandler):
    server: Server
    server_version = "mlflow-gitops"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args) -> None:  # noqa: A002 - the stdlib's name
        pass  # probes and scrapes every few seconds: not worth a line each

    def _send(self, status: int, body: bytes | str, content_type: str = "text/plain; charset=utf-8",
              head: bool = False) -> None:
        data = redact(body).encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def _json(self, status: int, doc: dict, head: bool = False) -> None:
        self._send(status, json.dumps(doc, indent=2) + "\n", "application/json", head)

    def do_GET(self, head: bool = False) -> None:  # noqa: N802 - the stdlib's name
        path = self.path.split("?", 1)[0]
        view = self.server.controller.view
        if path == "/healthz":
            cycle = view.last_cycle
            ok = view.healthy
            text = "ok\n" if ok else ("starting: no cycle finished yet\n" if cycle.ok is None
                                      else f"failing: {cycle.error}\n")
            self._send(200 if ok else 503, text, head=head)
        elif path == "/metrics":
            self._send(200, redact(self.server.controller.metrics.exposition().decode()).encode(), CONTENT_TYPE,
                       head)
        elif path == "/api/status":
            self._json(200, view.to_json(), head)
        elif path in ("/", "/index.html"):
            self._send(200, page.render(view), "text/html; charset=utf-8", head)
        else:
            self._send(404, "not found\n", head=head)

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET(head=True)

    def do_POST(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        if path != "/webhook":
            self._send(404, "not found\n")
            return
        controller = self.server.controller
        try:
            length = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            self._send(413, "payload too large\n")
            return
        body = self.rfile.read(length)
        refused = self.server.verifier.verify(self.headers, body)
        if refused is not None:
            controller.metrics.webhooks.labels("refused").inc()
            controller.say(f"Refused a webhook delivery: {refused}.")
            self._send(401, f"refused: {refused}\n")
            return
        controller.metrics.webhooks.labels("accepted").inc()
        if self.server.verifier.first_time(self.headers[DELIVERY_ID_HEADER], self.headers[TIMESTAMP_HEADER]):
            controller.wake.set()
            self._json(202, {"accepted": True, "cycle": "triggered"})
        else:
            self._json(202, {"accepted": True, "cycle": "already triggered by this delivery"})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], controller, verifier: Verifier):
        self.controller = controller
        self.verifier = verifier
        super().__init__(address, Handler)
