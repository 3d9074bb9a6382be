"""TLS failures deep inside requests/urllib3 chains: classified without crashing (ssl.SSLError's
`reason` is a string, not an exception), and told in one line."""

from __future__ import annotations

import ssl

import requests
import urllib3.exceptions as u3

from reconciler.registry import retry, tls


def wrapped(inner: BaseException) -> Exception:
    """How MLflow's http_request hands it over: MlflowException <- requests <- MaxRetryError."""
    from mlflow.exceptions import MlflowException

    pool_error = u3.MaxRetryError(None, "/api", reason=u3.SSLError(inner))
    try:
        try:
            raise requests.exceptions.SSLError(pool_error)
        except requests.exceptions.SSLError as e:
            raise MlflowException(f"API request to https://h/api failed with exception {e}") from None
    except MlflowException as outer:
        outer.__context__ = requests.exceptions.SSLError(pool_error)
        return outer


def test_a_string_reason_does_not_break_the_chain():
    e = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)")
    e.reason = "WRONG_VERSION_NUMBER"
    assert retry.classify(wrapped(e)) is None  # not retried, and no AttributeError


def test_plain_http_behind_https():
    e = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)")
    e.reason = "WRONG_VERSION_NUMBER"
    assert tls.failure(wrapped(e), "https://127.0.0.1:5055") == (
        "TLS handshake with 127.0.0.1:5055 failed: wrong version number (is it plain http?)")


def test_untrusted_certificate_names_the_variables():
    e = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    e.reason = "CERTIFICATE_VERIFY_FAILED"
    e.verify_message = "self-signed certificate"
    line = tls.failure(wrapped(e), "https://mlflow.example.com")
    assert line.startswith("TLS handshake with mlflow.example.com:443 failed: certificate verify failed: "
                           "self-signed certificate (")
    assert "MLFLOW_TRACKING_SERVER_CERT_PATH" in line and "MLFLOW_TRACKING_INSECURE_TLS" in line


def test_other_errors_are_not_tls():
    assert tls.failure(ConnectionRefusedError(111, "refused"), "https://h") is None
