"""Retries and deadlines for every call to the registry.

MLflow's own HTTP retries are switched off (`RetryControl` gives its session zero retries): MLflow
retries every method, POST included, so a `create_model_version` whose response was lost would be
sent again and register the same source twice. Here instead:

- each registry call is retried on transient faults only: connection refused/reset/dropped,
  timeouts, HTTP 408/429/500/502/503/504; never on 4xx answers;
- up to `retries` times (MLFLOW_GITOPS_HTTP_MAX_RETRIES, default 3), after a backoff of
  `backoff * 2**(n-1)` seconds (MLFLOW_GITOPS_HTTP_BACKOFF_FACTOR, default 0.5; capped at 8 s)
  plus a random jitter of up to MLFLOW_GITOPS_HTTP_BACKOFF_JITTER seconds (default 0.5), or what
  a 429/503 answer's Retry-After asks for;
- a call that is not idempotent (creating a model or a version) and whose request may have
  reached the server is retried only after `recover` found no trace of the first attempt;
- everything within the command's deadline (`--timeout`): each request's timeout is cut to the
  time left, and no attempt starts after it.

A fault is decided from the exception chain (requests, urllib3, socket errors) and from the HTTP
status of the last response this thread received, which `RetryControl.send` records.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from reconciler.errors import ReconcilerError

if TYPE_CHECKING:
    import tenacity

T = TypeVar("T")

DEFAULT_TIMEOUT = 300.0  # seconds for a whole plan/apply command (--timeout)
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = 0.5
DEFAULT_JITTER = 0.5
DEFAULT_REQUEST_TIMEOUT = 30.0  # seconds to wait for one response
CONNECT_TIMEOUT = 5.0  # seconds to open a connection (capped by the request timeout)
MAX_BACKOFF = 8.0
# The tool's own names (README "Failures and retries"); MLflow's MLFLOW_HTTP_REQUEST_* are MLflow's.
ENV_RETRIES = "MLFLOW_GITOPS_HTTP_MAX_RETRIES"
ENV_BACKOFF = "MLFLOW_GITOPS_HTTP_BACKOFF_FACTOR"
ENV_JITTER = "MLFLOW_GITOPS_HTTP_BACKOFF_JITTER"
ENV_TIMEOUT = "MLFLOW_GITOPS_HTTP_TIMEOUT"


class ConfigError(ReconcilerError):
    """An environment variable the tool reads holds a value it cannot use."""


def printable_value(raw: str) -> str:
    return repr(raw[:40] + ("…" if len(raw) > 40 else "")).encode("ascii", "backslashreplace").decode("ascii")

TRANSIENT_STATUS = {408: "Request Timeout", 429: "Too Many Requests", 500: "Internal Server Error",
                    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}  # fmt: skip
# Answers that say the request was refused before it was processed.
NOT_PROCESSED_STATUS = {408, 429}


class DeadlineExceeded(ReconcilerError):
    """The command's --timeout ran out."""


class GaveUp(Exception):
    """A call still failed after its retries; `str()` is the one-line reason shown to people."""

    def __init__(self, fault: Fault, attempts: int, elapsed: float, detail: str = "", unsafe: bool = False,
                 maybe_made: bool = False, out_of_time: float | None = None):
        self.fault = fault
        self.attempts = attempts
        self.elapsed = elapsed
        text = fault.reason + (f": {detail}" if detail else "")
        if attempts > 1:
            text += f" ({attempts} attempts in {elapsed:.1f} s)"
        if out_of_time:
            text += f"; no time left to retry within --timeout {out_of_time:g} s"
        if unsafe:
            text += "; not retried, as it may have been made: run plan to see"
        elif maybe_made:
            text += "; it may have been made before the connection was lost: run plan to see"
        super().__init__(text)


@dataclass(frozen=True)
class Fault:
    """A transient failure. `maybe_applied`: the request may have been processed by the server."""

    reason: str
    maybe_applied: bool
    retry_after: float | None = None


@dataclass(frozen=True)
class Policy:
    retries: int = DEFAULT_RETRIES
    backoff: float = DEFAULT_BACKOFF
    jitter: float = DEFAULT_JITTER
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT

    @classmethod
    def from_env(cls, env: dict[str, str] | os._Environ = os.environ) -> Policy:
        """The tool's own variables (`MLFLOW_GITOPS_HTTP_*`). Not MLflow's `MLFLOW_HTTP_REQUEST_*`:
        MLflow parses those itself, some as whole numbers, so a documented `0.5` would break
        MLflow's HTTP layer; a value here that is not a number in range is a clear error."""

        def number(name: str, default: float, low: float, high: float, whole: bool = False) -> float:
            raw = env.get(name)
            if raw is None or raw.strip() == "":
                return default
            try:
                value = int(raw) if whole else float(raw)
            except ValueError:
                value = None
            if value is None or not math.isfinite(value) or not low <= value <= high:
                kind = "a whole number" if whole else "a number"
                raise ConfigError(f"{name} must be {kind} from {low:g} to {high:g}, not {printable_value(raw)}")
            return value

        return cls(
            retries=int(number(ENV_RETRIES, DEFAULT_RETRIES, 0, 10, whole=True)),
            backoff=number(ENV_BACKOFF, DEFAULT_BACKOFF, 0, MAX_BACKOFF),
            jitter=number(ENV_JITTER, DEFAULT_JITTER, 0, MAX_BACKOFF),
            request_timeout=number(ENV_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, 1, 3600),
        )

    def delay(self, retry: int, fault: Fault) -> float:
        """Seconds to wait before retry number `retry` (1-based)."""
        if fault.retry_after is not None:
            return min(fault.retry_after, MAX_BACKOFF)
        return min(self.backoff * 2 ** (retry - 1), MAX_BACKOFF) + random.random() * self.jitter


class Deadline:
    """`seconds` from the first time it is asked (the command's first registry call: not counting
    start-up, such as importing MLflow); None or 0: no limit."""

    def __init__(self, seconds: float | None, clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds if seconds and seconds > 0 else None
        self.clock = clock
        self.end: float | None = None

    def remaining(self) -> float:
        if self.seconds is None:
            return math.inf
        if self.end is None:
            self.end = self.clock() + self.seconds
        return self.end - self.clock()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def check(self, what: str) -> None:
        if self.expired():
            raise DeadlineExceeded(f"timed out (--timeout {self.seconds:g} s)")


# ---- process-wide settings of the running command ---------------------------------------------------

_policy = Policy()
_deadline = Deadline(None)


def configure(timeout: float | None = DEFAULT_TIMEOUT, policy: Policy | None = None) -> None:
    """Called once per command, before any registry call: starts the command's deadline."""
    global _policy, _deadline
    _policy = policy or Policy.from_env()
    _deadline = Deadline(timeout)


def policy() -> Policy:
    return _policy


def deadline() -> Deadline:
    return _deadline


def wait(seconds: float, what: str) -> None:
    """Sleep, but never past the deadline (raises DeadlineExceeded when it is reached)."""
    left = _deadline.remaining()
    if seconds >= left:
        time.sleep(max(0.0, left))
        _deadline.check(what)
    time.sleep(max(0.0, seconds))


# ---- what went wrong ------------------------------------------------------------------------------

_last = threading.local()  # HTTP status and Retry-After of the last response this thread received


def record_response(status: int | None, retry_after: str | None = None) -> None:
    _last.status = status
    _last.retry_after = retry_after


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        e = todo.pop(0)
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        # urllib3's MaxRetryError.reason is an exception; ssl.SSLError.reason is a string
        reason = getattr(e, "reason", None)
        todo += [e.__cause__, e.__context__, reason if isinstance(reason, BaseException) else None]
        todo += [a for a in getattr(e, "args", ()) if isinstance(a, BaseException)]


def _retry_after(value: str | None) -> float | None:
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare for an MLflow server; use our own backoff
    return seconds if seconds is not None and 0 <= seconds < 3600 else None


def classify(exc: BaseException) -> Fault | None:
    """A Fault if `exc` is worth retrying, else None."""
    import requests
    import urllib3.exceptions as u3
    from mlflow.exceptions import MlflowException

    chain = list(exception_chain(exc))
    types = tuple(type(e) for e in chain)

    def has(*kinds: type) -> bool:
        return any(issubclass(t, kinds) for t in types)

    if any(isinstance(e, (DeadlineExceeded, GaveUp)) for e in chain):
        return None
    if has(u3.SSLError, requests.exceptions.SSLError, requests.exceptions.InvalidURL):
        return None
    if has(u3.NameResolutionError, socket.gaierror):
        return Fault("cannot resolve the host name", maybe_applied=False)
    if has(ConnectionRefusedError) or any(getattr(e, "errno", None) == errno.ECONNREFUSED for e in chain):
        return Fault("connection refused", maybe_applied=False)
    if has(requests.exceptions.ConnectTimeout, u3.ConnectTimeoutError):
        return Fault("timed out connecting", maybe_applied=False)
    if has(u3.NewConnectionError):
        return Fault("cannot connect", maybe_applied=False)
    if has(requests.exceptions.ReadTimeout, u3.ReadTimeoutError, socket.timeout, TimeoutError):
        return Fault("timed out waiting for the response", maybe_applied=True)
    if has(ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
        return Fault("connection reset by the server", maybe_applied=True)
    if has(u3.ProtocolError, requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError):
        return Fault("connection closed by the server without a response", maybe_applied=True)
    status = getattr(_last, "status", None)
    if status in TRANSIENT_STATUS and has(MlflowException) and not has(requests.exceptions.RequestException, OSError):
        return Fault(
            f"HTTP {status} {TRANSIENT_STATUS[status]}",
            maybe_applied=status not in NOT_PROCESSED_STATUS,
            retry_after=_retry_after(getattr(_last, "retry_after", None)),
        )
    return None


def _detail(e: BaseException) -> str:
    """The server's own words about an error answer, when it said something (MLflow's JSON)."""
    lines = str(e).strip().splitlines()
    first = lines[0] if lines else ""
    return "" if first.startswith("API request to") else first[:200]


# ---- the retry loop: tenacity runs it; what to retry, how long to wait and when to stop are ours ---------


def call(
    fn: Callable[[], T],
    what: str,
    *,
    idempotent: bool = True,
    recover: Callable[[], Any] | None = None,
    on_retry: Callable[[str], None] | None = None,
) -> T:
    """fn() with retries. For a non-idempotent fn, after a fault that may have been applied,
    `recover()` is asked first (itself with retries): a non-None result is what the first attempt
    did, and is returned instead of calling fn again; without `recover` such a fault is final."""
    import tenacity  # here, not at the top: ~60 ms (it imports asyncio) that validate and schema never pay

    loop = _Loop(fn, what, idempotent, recover, on_retry)
    return tenacity.Retrying(
        retry=loop.retryable, stop=loop.stop, wait=loop.wait, sleep=loop.sleep,
        before_sleep=loop.note, retry_error_callback=loop.give_up,
    )(loop.attempt)


class _Loop:
    """One call's retries, as tenacity's hooks. After each failed attempt tenacity asks `retryable`
    (a transient fault, by our classifier?), `wait` (our backoff, or Retry-After), then `stop`
    (retries used up, unsafe to repeat, or that pause would end past the deadline); then `note`
    (--verbose) and `sleep` (never past the deadline), or `give_up`, which raises our GaveUp.
    Before repeating a call that may have been made, `attempt` asks `recover` first."""

    def __init__(self, fn, what, idempotent, recover, on_retry):
        self.fn, self.what, self.idempotent, self.recover, self.on_retry = fn, what, idempotent, recover, on_retry
        self.started = time.monotonic()
        self.fault: Fault | None = None
        self.failure: BaseException | None = None
        self.failures = 0
        self.final: GaveUp | None = None

    def attempt(self):
        if self.failure is not None and self.fault.maybe_applied and not self.idempotent:
            # the previous attempt may have been made: look before repeating it
            try:
                found = call(self.recover, f"{self.what} (checking whether it was made)", on_retry=self.on_retry)
            except GaveUp as lost:
                raise GaveUp(lost.fault, self.failures + lost.attempts, time.monotonic() - self.started,
                             maybe_made=True) from self.failure
            if found is not None:
                return found
        _deadline.check(self.what)
        record_response(None)
        return self.fn()

    def retryable(self, state: tenacity.RetryCallState) -> bool:
        if not state.outcome.failed:
            return False
        self.failure = state.outcome.exception()
        self.failures = state.attempt_number
        self.fault = classify(self.failure)
        return self.fault is not None

    def stop(self, state: tenacity.RetryCallState) -> bool:
        fault, attempts, e = self.fault, state.attempt_number, self.failure
        elapsed = time.monotonic() - self.started
        detail = _detail(e) if fault.reason.startswith("HTTP") else ""
        if attempts > _policy.retries:
            self.final = GaveUp(fault, attempts, elapsed, detail)
        elif fault.maybe_applied and not self.idempotent and self.recover is None:
            self.final = GaveUp(fault, attempts, elapsed, detail, unsafe=True)
        elif state.upcoming_sleep >= _deadline.remaining():
            self.final = GaveUp(fault, attempts, elapsed, detail, out_of_time=_deadline.seconds)
        return self.final is not None

    def wait(self, state: tenacity.RetryCallState) -> float:
        return _policy.delay(state.attempt_number, self.fault)

    def note(self, state: tenacity.RetryCallState) -> None:
        if self.on_retry:
            self.on_retry(f"{self.what}: {self.fault.reason}; retry {state.attempt_number}/{_policy.retries} "
                          f"in {state.upcoming_sleep:.1f} s")

    def sleep(self, seconds: float) -> None:
        wait(seconds, self.what)

    def give_up(self, state: tenacity.RetryCallState):
        raise self.final from self.failure


# ---- MLflow's HTTP session: no retries of its own, timeouts within the deadline ------------------------


class RetryControl:
    """Mixin for MLflow's requests `HTTPAdapter` (see reconciler.registry.session): zero retries inside the
    session, (connect, read) timeouts cut to the deadline, and the last status recorded."""

    def __init__(self, *args, **kwargs):
        from urllib3.util import Retry

        super().__init__(*args, **kwargs)
        # requests' own default: no retry, read errors raised as they are; status codes returned.
        self.max_retries = Retry(0, read=False)

    def send(self, request, stream=False, timeout=None, **kwargs):
        read = _policy.request_timeout
        if isinstance(timeout, (int, float)) and timeout > 0:
            read = min(read, float(timeout))
        left = _deadline.remaining()
        read = max(0.5, min(read, left))
        connect = min(CONNECT_TIMEOUT, read)
        response = super().send(request, stream=stream, timeout=(connect, read), **kwargs)
        record_response(response.status_code, response.headers.get("Retry-After"))
        return response


@contextlib.contextmanager
def grace(seconds: float = 10.0) -> Iterator[None]:
    """A fresh, short deadline for clean-up that must run even after the command's ran out
    (releasing the lock). Only while no other thread makes registry calls."""
    global _deadline
    saved = _deadline
    _deadline = Deadline(seconds)
    try:
        yield
    finally:
        _deadline = saved
