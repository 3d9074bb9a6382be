"""TLS failures as one line people can act on.

MLflow's own TLS variables are honoured by its HTTP layer (MLFLOW_TRACKING_SERVER_CERT_PATH: the
CA bundle to trust; MLFLOW_TRACKING_INSECURE_TLS=true: no verification;
MLFLOW_TRACKING_CLIENT_CERT_PATH: a client certificate, its key in the same PEM file).
When the handshake fails, requests and urllib3 wrap OpenSSL's words three
levels deep inside a URL-long message; here they become `TLS handshake with HOST:PORT failed:
WHAT (WHAT TO DO)`.
"""

from __future__ import annotations

import os
import ssl
from urllib.parse import urlsplit

from reconciler.registry.retry import exception_chain

TRUST = ("trust its CA with MLFLOW_TRACKING_SERVER_CERT_PATH=/path/to/ca.pem, or skip the check with "
         "MLFLOW_TRACKING_INSECURE_TLS=true")
# requests' words when a certificate file it was given is missing
MISSING_FILES = {
    "TLS CA certificate bundle": "MLFLOW_TRACKING_SERVER_CERT_PATH",
    "TLS certificate file": "MLFLOW_TRACKING_CLIENT_CERT_PATH",
    "TLS key file": "MLFLOW_TRACKING_CLIENT_CERT_PATH",
}


def host_port(uri: str) -> str:
    parts = urlsplit(uri)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


def failure(exc: BaseException, uri: str) -> str | None:
    """One line for a TLS failure anywhere in `exc`'s chain talking to `uri`; None for others."""
    errors = list(exception_chain(exc))
    for e in errors:
        text = str(e)
        for words, variable in MISSING_FILES.items():
            if words in text and "invalid path:" in text:
                path = text.split("invalid path:", 1)[1].strip().split()[0].rstrip(")'\"")
                return f"{variable}: no such file: {path}"
    found = [e for e in errors if isinstance(e, ssl.SSLError)]
    if not found:
        return None
    e = found[-1]  # the innermost: OpenSSL's own
    where = f"TLS handshake with {host_port(uri)} failed"
    reason = str(getattr(e, "reason", "") or "")
    if isinstance(e, ssl.SSLCertVerificationError):
        said = getattr(e, "verify_message", "") or reason.lower().replace("_", " ")
        return f"{where}: certificate verify failed: {said} ({TRUST})"
    if reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST", "PACKET_LENGTH_TOO_LONG"):
        return f"{where}: {reason.lower().replace('_', ' ')} (is it plain http?)"
    if isinstance(e, ssl.SSLEOFError) or "CERTIFICATE_REQUIRED" in reason or "HANDSHAKE_FAILURE" in reason \
            or "UNKNOWN_CA" in reason or "BAD_CERTIFICATE" in reason:
        said = reason.lower().replace("_", " ") if reason and reason != "UNEXPECTED_EOF_WHILE_READING" else \
            "the server closed the connection"
        if os.environ.get("MLFLOW_TRACKING_CLIENT_CERT_PATH"):
            hint = "did the server accept the client certificate in MLFLOW_TRACKING_CLIENT_CERT_PATH?"
        else:
            hint = "does the server require a client certificate? set MLFLOW_TRACKING_CLIENT_CERT_PATH"
        return f"{where}: {said} ({hint})"
    said = reason.lower().replace("_", " ") if reason else " ".join(str(e).split())
    return f"{where}: {said}"
