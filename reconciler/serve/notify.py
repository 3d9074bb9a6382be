"""Where `serve` reports transitions: the events log (`--events FILE`, JSON lines, appended) and the
notification endpoint (`--notify-url URL`, one JSON POST per transition with a Slack-compatible
`text`). Both are redacted; a failing endpoint is reported on stderr and never stops the loop.

Event record (one JSON object per line; format documented in docs/serve.md):
  {"format_version": "1", "time": "2026-11-30T12:00:00Z", "event": "drift" | "heal" | "heal_failed"
   | "in_sync" | "cycle_failed" | "recovered", "model": NAME or null, ...event fields}
"""

from __future__ import annotations

import json
import queue
import threading
import urllib.request
from collections.abc import Callable
from typing import Any

from reconciler.redact import redact, register_secret

FORMAT_VERSION = "1"
POST_TIMEOUT = 10.0
QUEUE_LIMIT = 1000  # notifications waiting to be sent; more are dropped (and said so)


class Outbox:
    """Sends notifications one after another from a thread of its own: a slow endpoint never
    delays a cycle, and messages arrive in the order of the transitions."""

    def __init__(self, url: str | None, say: Callable[[str], None]):
        self.url = url
        self.say = say
        self.sent = 0
        self.failed = 0
        self._queue: queue.Queue = queue.Queue(QUEUE_LIMIT)
        self._thread: threading.Thread | None = None
        if url:
            register_secret(url)  # a Slack webhook URL is a credential
            self._thread = threading.Thread(target=self._run, name="serve-notify", daemon=True)
            self._thread.start()

    def post(self, message: dict[str, Any]) -> None:
        if not self.url:
            return
        try:
            self._queue.put_nowait(message)
        except queue.Full:
            self.say("Notification queue full: dropped a notification.")

    def _run(self) -> None:
        while True:
            message = self._queue.get()
            if message is None:
                return
            body = redact(json.dumps(message)).encode()
            request = urllib.request.Request(self.url, data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=POST_TIMEOUT) as response:
                    response.read()
                self.sent += 1
            except Exception as e:  # noqa: BLE001 - any failure of the endpoint is reported, never raised
                self.failed += 1
                self.say(f"Could not send a notification to --notify-url: {type(e).__name__}: {e}")

    def close(self, wait: float = 5.0) -> None:
        """Send what is queued (up to `wait` seconds), then stop."""
        if self._thread is None:
            return
        try:
            self._queue.put(None, timeout=wait)
        except queue.Full:
            return
        self._thread.join(timeout=wait)


class EventLog:
    """Appends one JSON line per event; every line is written whole and flushed, so a reader
    (`history`) never sees half an event, even while `serve` runs."""

    def __init__(self, path: str | None, say: Callable[[str], None]):
        self.path = path
        self.say = say
        self._mutex = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        if not self.path:
            return
        line = redact(json.dumps({"format_version": FORMAT_VERSION, **record}, sort_keys=False)) + "\n"
        with self._mutex:
            try:
                with open(self.path, "a", encoding="utf-8") as f:
                    f.write(line)
            except OSError as e:
                self.say(f"Could not append to the events file {self.path}: {e}")
