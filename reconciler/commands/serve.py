"""`serve`: the reconciliation loop (reconciler.serve.controller) behind the HTTP endpoints
(reconciler.serve.http), until SIGTERM/SIGINT. `--once`: one cycle, no endpoints, exit 0 in sync
or healed, 2 drift left, 1 error."""

from __future__ import annotations

import os
import signal
import socket
import threading
from datetime import datetime, timezone
from pathlib import Path

from reconciler.console import err, out
from reconciler.errors import ReconcilerError
from reconciler.target import Target

DEFAULT_LISTEN = "127.0.0.1:9465"


class ServeError(ReconcilerError):
    """Bad serve options (listen address, paths); raised before anything starts."""


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ServeError(f"--listen {value!r}: expected HOST:PORT, e.g. {DEFAULT_LISTEN} (port 0: any free port)")
    return host or "0.0.0.0", int(port)


def stamp(text: str) -> None:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    err(f"{now} {text}")


def run(paths: list[str], target: Target, interval: float, self_heal: bool, listen: str, git_pull: bool,
        notify_url: str | None, events: str | None, once: bool, timeout: float | None) -> int:
    from reconciler.serve.controller import Controller, Options

    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise ServeError(f"{missing[0]}: no such file or directory")
    if interval <= 0:
        raise ServeError("--interval must be more than 0 seconds")
    if events:
        parent = Path(events).parent
        if Path(events).is_dir():
            raise ServeError(f"--events {events}: is a directory; give a file to append events to")
        if not parent.is_dir():
            raise ServeError(f"--events {events}: directory {parent} does not exist")
    if notify_url and not notify_url.startswith(("http://", "https://")):
        raise ServeError("--notify-url must be an http:// or https:// URL")
    options = Options(interval=interval, self_heal=self_heal, git_pull=git_pull, notify_url=notify_url,
                      events=events, timeout=timeout)
    if once:
        controller = Controller(paths, target, options, say=stamp)
        try:
            outcome = controller.cycle("once")
        finally:
            controller.close()
        if not outcome.ok:
            err(f"Error: {outcome.error}")
            return 1
        for m in controller.view.models:
            if m.status != "synced":
                detail = m.error or ", ".join(d["field"] + (f" of v{d['version']}" if d.get("version") else "")
                                              for d in m.drift)
                out(f"{m.model}: {m.status.replace('_', ' ')} ({detail})")
        return 2 if outcome.drift_left else 0
    return serve(paths, target, options, listen)


def serve(paths: list[str], target: Target, options, listen: str) -> int:
    from reconciler.serve.controller import Controller
    from reconciler.serve.http import Server
    from reconciler.serve.webhook import SECRET_ENV, Verifier

    host, port = parse_listen(listen)
    controller = Controller(paths, target, options, say=stamp)
    secret = os.environ.get(SECRET_ENV)
    Server.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        server = Server((host, port), controller, Verifier(secret))
    except OSError as e:
        raise ServeError(f"--listen {listen}: cannot listen there: {e.strerror or e}") from None
    bound_host, bound_port = server.server_address[:2]
    http = threading.Thread(target=server.serve_forever, name="serve-http", daemon=True)
    http.start()

    def on_signal(signum, frame) -> None:
        first = not controller.stopping
        controller.stop()
        if first:
            stamp(f"{signal.Signals(signum).name} received: finishing the current registry call, then exiting.")
        if controller.healing:
            raise KeyboardInterrupt  # the applier stops each model after its current change

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    heal = "on for every model" if options.self_heal else "per model (policy.self_heal)"
    stamp(f"Serving on http://{'[' + bound_host + ']' if ':' in bound_host else bound_host}:{bound_port} "
          f"(/, /healthz, /metrics, /api/status, POST /webhook); reconciling {target.display} every "
          f"{options.interval:g} s; self-heal {heal}.")
    if not secret:
        stamp(f"{SECRET_ENV} is not set: every webhook delivery will be refused (401).")
    try:
        controller.run_forever()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        server.shutdown()
        server.server_close()
        controller.close()
    stamp("Stopped.")
    return 0
