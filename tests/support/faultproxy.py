"""A fault-injecting HTTP proxy for tests: loopback only, threads, bounded, stops by itself.

    with FaultProxy(server.uri) as proxy:
        proxy.add(Rule(action="drop_after", method="POST", path="model-versions/create"))
        run_cli("apply", ..., "--tracking-uri", proxy.uri)

Each request is read whole (head + Content-Length body), matched against the rules in order, and
then, by the first rule that fires:

- ``forward``     (also when no rule fires) sent to the upstream on a fresh connection; the
                  answer relayed;
- ``drop``        the client connection is closed; the upstream never sees the request;
- ``drop_after``  sent to the upstream, which processes it; the answer is thrown away and the
                  client connection closed: the client cannot know whether it was applied;
- ``status``      answered with ``status`` (e.g. 500, 503) without reaching the upstream;
- ``hang``        held until :meth:`release` (or the proxy's lifetime ends), then closed.

Every rule counts the requests it matches, whether or not another rule handles them; a rule fires
on its matching requests number ``skip + 1`` to ``skip + times`` (``times=None``: all after
``skip``), and the first rule that fires handles the request. It can run ``before(request)``
first, and (``drop_after``) ``after(request)`` once the upstream has processed it -- e.g. to kill
the upstream server there.
Every request is logged in :attr:`log` as ``(method, path, outcome)``. The proxy closes itself
after ``lifetime`` seconds; every socket has a timeout, so no thread outlives it for long.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

SOCKET_TIMEOUT = 60.0
MAX_HEAD = 64 * 1024


@dataclass
class Request:
    method: str
    path: str
    head: bytes
    body: bytes


@dataclass
class Rule:
    action: str  # forward | drop | drop_after | status | hang
    method: str | None = None  # e.g. "POST"; None: any; "write": anything but GET/HEAD
    path: str | None = None  # regular expression searched in the request path (with query)
    skip: int = 0
    times: int | None = 1
    status: int = 503
    retry_after: str | None = None
    before: Callable[[Request], None] | None = None
    after: Callable[[Request], None] | None = None
    matched: int = field(default=0, init=False)
    fired: int = field(default=0, init=False)

    def matches(self, req: Request) -> bool:
        if self.method == "write":
            if req.method in ("GET", "HEAD"):
                return False
        elif self.method is not None and req.method != self.method:
            return False
        return self.path is None or re.search(self.path, req.path) is not None

    def count(self, req: Request) -> bool:
        """Count `req` if it matches; True if this is one of the requests the rule fires on."""
        if not self.matches(req):
            return False
        self.matched += 1
        n = self.matched - self.skip
        return n >= 1 and (self.times is None or n <= self.times)


class FaultProxy:
    def __init__(self, upstream: str, lifetime: float = 300.0):
        self.set_upstream(upstream)
        self.rules: list[Rule] = []
        self.log: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._closed = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.5)
        self.port = self._listener.getsockname()[1]
        self.uri = f"http://127.0.0.1:{self.port}"
        self._timer = threading.Timer(lifetime, self.close)
        self._timer.daemon = True
        self._timer.start()
        self._thread = threading.Thread(target=self._accept, name="faultproxy", daemon=True)
        self._thread.start()

    # ---- control

    def set_upstream(self, upstream: str) -> None:
        parts = urlsplit(upstream if "://" in upstream else f"http://{upstream}")
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)

    def add(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def release(self) -> None:
        """Let every held (``hang``) request go: their connections are closed."""
        self._released.set()

    def requests(self, method: str | None = None, path: str | None = None) -> list[tuple[str, str, str]]:
        probe = Rule(action="", method=method, path=path)
        with self._lock:
            return [e for e in self.log if probe.matches(Request(e[0], e[1], b"", b""))]

    def close(self) -> None:
        self._closed.set()
        self._released.set()
        self._timer.cancel()
        try:
            self._listener.close()
        except OSError:
            pass

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
        self._thread.join(timeout=5)

    # ---- serving

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(SOCKET_TIMEOUT)
            threading.Thread(target=self._serve, args=(conn,), name="faultproxy-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            while not self._closed.is_set():
                req = _read_request(conn)
                if req is None:
                    return
                with self._lock:
                    firing = [r for r in self.rules if r.count(req)]
                    rule = firing[0] if firing else None
                    if rule:
                        rule.fired += 1
                    outcome = rule.action if rule else "forward"
                    if rule and rule.action == "status":
                        outcome = f"status {rule.status}"
                    self.log.append((req.method, req.path, outcome))
                if rule and rule.before:
                    rule.before(req)
                if rule is None or rule.action == "forward":
                    if not self._forward(conn, req):
                        return
                    continue
                if rule.action == "drop":
                    return
                if rule.action == "drop_after":
                    self._exchange(req)
                    if rule.after:
                        rule.after(req)
                    return
                if rule.action == "hang":
                    self._released.wait(timeout=SOCKET_TIMEOUT)
                    return
                if rule.action == "status":
                    body = f"injected fault: HTTP {rule.status}\n".encode()
                    extra = f"Retry-After: {rule.retry_after}\r\n" if rule.retry_after is not None else ""
                    conn.sendall(
                        f"HTTP/1.1 {rule.status} Injected\r\nContent-Type: text/plain\r\n"
                        f"Content-Length: {len(body)}\r\n{extra}\r\n".encode() + body
                    )
                    continue
                raise ValueError(f"unknown action {rule.action!r}")

    def _exchange(self, req: Request) -> bytes | None:
        """Send `req` upstream on a fresh connection (Connection: close); the whole answer."""
        # The upstream sees itself addressed (its --allowed-hosts), and closes after answering.
        head = re.sub(rb"(?im)^(connection|host):[^\r\n]*\r\n", b"", req.head)
        host = f"Host: {self.upstream[0]}:{self.upstream[1]}\r\n".encode()
        head = head[:-2] + host + b"Connection: close\r\n\r\n"
        try:
            with socket.create_connection(self.upstream, timeout=SOCKET_TIMEOUT) as up:
                up.sendall(head + req.body)
                chunks = []
                while chunk := up.recv(65536):
                    chunks.append(chunk)
        except OSError:
            return None
        return b"".join(chunks)

    def _forward(self, conn: socket.socket, req: Request) -> bool:
        answer = self._exchange(req)
        if not answer:
            return False  # upstream down: the client sees its connection closed
        conn.sendall(answer)
        return False  # the upstream answered "Connection: close"; so do we


def _read_request(conn: socket.socket) -> Request | None:
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk or len(data) > MAX_HEAD:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        head += b"\r\n\r\n"
        match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        length = int(match.group(1)) if match else 0
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            body += chunk
    except OSError:
        return None
    method, path = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")[:2]
    return Request(method, path, head, body[:length])
