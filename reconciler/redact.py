"""Credential redaction: every byte the tool prints or writes passes through `redact`.

Secrets come from MLflow's own variables and from URIs (`http://user:pass@host`). They are
registered once at start-up and replaced wherever they appear, including inside messages of
errors raised by MLflow or requests.
"""

from __future__ import annotations

import logging
import os
import re
from urllib.parse import parse_qsl, unquote, urlsplit

MASK = "***"
SECRET_ENV = ("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_CLIENT_CERT_PATH")
SECRET_QUERY_KEYS = re.compile(r"(token|password|secret|key|sig|signature|credential)", re.I)
# userinfo in any URL-looking text, even URIs we never registered (e.g. in a server's error text)
USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s'\"]+)@")

_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    # Very short values would mask ordinary words; MLflow tokens and passwords are longer.
    if value and len(value) >= 3:
        _secrets.add(value)
        _secrets.add(unquote(value))


def register_uri(uri: str | None) -> None:
    if not uri:
        return
    try:
        parts = urlsplit(uri)
    except ValueError:
        return
    if parts.password:
        register_secret(parts.password)
    for key, value in parse_qsl(parts.query):
        if SECRET_QUERY_KEYS.search(key):
            register_secret(value)


def register_environment() -> None:
    for name in SECRET_ENV:
        register_secret(os.environ.get(name))
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        register_uri(os.environ.get(name))


def redact(text: str) -> str:
    if not text:
        return text
    text = USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def redact_uri(uri: str) -> str:
    return redact(uri)


class RedactingFilter(logging.Filter):
    """Redacts log records (MLflow logs its own warnings, sometimes with URIs in them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        record.msg = redact(message)
        record.args = None
        return True


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
