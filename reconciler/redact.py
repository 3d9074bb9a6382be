"""Credential redaction: every byte the tool prints or writes passes through `redact`.

Secrets come from MLflow's own variables and from URIs (`http://user:pass@host`). They are
registered once at start-up and replaced wherever they appear, including inside messages of
errors raised by MLflow or requests, in the forms they travel in: as given, percent-encoded or
decoded, JSON- or repr-escaped, and as the base64 `user:password` of a Basic Authorization header
(a server may echo the request back in an error body).

`install()` (called by the CLI's error handler) also redacts what does not go through our
console: log records of any logger (MLflow, urllib3, requests), warnings printed by the
warnings module, tracebacks (MLFLOW_GITOPS_DEBUG=1) and any other write to sys.stdout/stderr.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import sys
import threading
import traceback
import warnings
from collections.abc import Callable
from urllib.parse import parse_qsl, quote, unquote, urlsplit

MASK = "***"
SECRET_ENV = (
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_CLIENT_CERT_PATH",
    # credentials of other backends MLflow may use for the same URIs or for run artifacts
    "DATABRICKS_TOKEN",
    "DATABRICKS_CLIENT_SECRET",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_CLIENT_SECRET",
)
SECRET_QUERY_KEYS = re.compile(r"(token|password|secret|key|sig|signature|credential)", re.I)
# userinfo in any URL-looking text, even URIs we never registered (e.g. in a server's error text)
USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s'\"]+)@")
# an Authorization header echoed back (by a proxy or server error page), whoever's credentials
AUTH_HEADER = re.compile(
    r"(?P<name>(?:proxy-)?authorization['\"]?\s*[:=]\s*['\"]?(?:(?:basic|bearer|token|digest)\s+)?)"
    r"(?P<value>[^\s'\",;}\]]+)",
    re.I,
)
# Values shorter than this would mask ordinary words (and corrupt plans); MLflow tokens and
# passwords are longer. URIs' userinfo is masked whatever its length.
MIN_SECRET_LENGTH = 3

_secrets: set[str] = set()
_pattern: re.Pattern | None = None


def _add(value: str) -> None:
    global _pattern
    if value and len(value) >= MIN_SECRET_LENGTH and value not in _secrets:
        _secrets.add(value)
        _pattern = None


def register_secret(value: str | None) -> None:
    if not value:
        return
    for form in {value, unquote(value)}:
        _add(form)
        _add(quote(form, safe=""))  # as it appears inside a URL
        _add(json.dumps(form)[1:-1])  # as it appears in JSON output
        _add(repr(form)[1:-1])  # as it appears in a Python error message


def register_basic_auth(username: str | None, password: str | None) -> None:
    """The Authorization header requests/MLflow send: base64 of `user:password`."""
    if username is None or not password:
        return
    for user, pw in {(username, password), (unquote(username), unquote(password))}:
        _add(base64.b64encode(f"{user}:{pw}".encode()).decode())


def register_uri(uri: str | None) -> None:
    if not uri:
        return
    try:
        parts = urlsplit(uri)
        password, username = parts.password, parts.username
    except ValueError:
        return
    if password:
        register_secret(password)
        register_basic_auth(username or "", password)
    for key, value in parse_qsl(parts.query):
        if SECRET_QUERY_KEYS.search(key):
            register_secret(value)


def register_environment() -> None:
    for name in SECRET_ENV:
        register_secret(os.environ.get(name))
    register_basic_auth(os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD"))
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        register_uri(os.environ.get(name))


def redact(text: str) -> str:
    global _pattern
    if not text:
        return text
    text = USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
    text = AUTH_HEADER.sub(lambda m: f"{m['name']}{MASK}", text)
    if _secrets:
        pattern = _pattern
        if pattern is None:  # longest first, so a secret containing another is masked whole
            alternatives = sorted(_secrets, key=len, reverse=True)
            pattern = _pattern = re.compile("|".join(re.escape(s) for s in alternatives))
        text = pattern.sub(MASK, text)
    return text


# ---- everything that does not go through reconciler.console -------------------------------------


class RedactingFilter(logging.Filter):
    """Redacts log records (MLflow logs its own warnings, sometimes with URIs in them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        _redact_record(record)
        return True


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a malformed record: leave it to logging's own error reporting
        return
    record.msg = redact(message)
    record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def install_logging_filter() -> None:
    flt = RedactingFilter()
    root = logging.getLogger()
    for handler in root.handlers:
        handler.addFilter(flt)
    for name in ("mlflow", "urllib3", "requests"):
        logger = logging.getLogger(name)
        logger.addFilter(flt)
        for handler in logger.handlers:
            handler.addFilter(flt)


class RedactingStream(io.TextIOBase):
    """A text stream that redacts whole lines before passing them on.

    Writes are buffered up to the end of a line (a secret split over two writes is still
    masked), and on flush(), so prompts without a newline still appear."""

    def __init__(self, stream):
        super().__init__()
        self._stream = stream
        self._pending = ""
        self._lock = threading.RLock()

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            if "\n" in self._pending:
                head, _, self._pending = self._pending.rpartition("\n")
                self._stream.write(redact(head + "\n"))
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._pending:
                text, self._pending = self._pending, ""
                self._stream.write(redact(text))
            self._stream.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self):
        return getattr(self._stream, "encoding", "utf-8")

    @property
    def errors(self):
        return getattr(self._stream, "errors", "strict")

    @property
    def buffer(self):  # raw bytes bypass redaction; nothing of ours writes them
        return self._stream.buffer

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    target = file if file is not None else sys.stderr
    if target is None:
        return
    try:
        target.write(redact(warnings.formatwarning(message, category, filename, lineno, line)))
    except OSError:
        pass


def _excepthook(exc_type, exc, tb) -> None:
    sys.stderr.write(redact("".join(traceback.format_exception(exc_type, exc, tb))))
    sys.stderr.flush()


def _thread_excepthook(args) -> None:
    if args.exc_type is SystemExit:
        return
    text = "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback))
    sys.stderr.write(redact(f"Exception in thread {getattr(args.thread, 'name', '?')}:\n{text}"))
    sys.stderr.flush()


def install() -> Callable[[], None]:
    """Redact every other way text leaves the process; returns a function undoing it (the CLI
    runs in-process in tests, which must get their interpreter back as it was)."""
    saved_factory = logging.getLogRecordFactory()
    saved = (sys.stdout, sys.stderr, warnings.showwarning, sys.excepthook, threading.excepthook)

    def factory(*args, **kwargs):
        record = saved_factory(*args, **kwargs)
        _redact_record(record)  # every record of every logger, whichever handler prints it
        return record

    logging.setLogRecordFactory(factory)
    install_logging_filter()
    warnings.showwarning = _show_warning
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook
    if sys.stdout is not None and not isinstance(sys.stdout, RedactingStream):
        sys.stdout = RedactingStream(sys.stdout)
    if sys.stderr is not None and not isinstance(sys.stderr, RedactingStream):
        sys.stderr = RedactingStream(sys.stderr)

    def undo() -> None:
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, RedactingStream):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
        logging.setLogRecordFactory(saved_factory)
        sys.stdout, sys.stderr, warnings.showwarning, sys.excepthook, threading.excepthook = saved

    return undo


def print_traceback(exc: BaseException) -> None:
    """The traceback MLFLOW_GITOPS_DEBUG=1 asks for, redacted like everything else."""
    sys.stderr.write(redact("".join(traceback.format_exception(type(exc), exc, exc.__traceback__))))
    sys.stderr.flush()

