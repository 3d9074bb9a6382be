"""Verifying MLflow webhook deliveries (mlflow/webhooks/delivery.py, MLflow 3.3+).

MLflow sends `X-MLflow-Delivery-Id` (a UUID), `X-MLflow-Timestamp` (Unix seconds) and, when the
webhook has a secret, `X-MLflow-Signature: v1,<base64 HMAC-SHA256(secret,
"<delivery id>.<timestamp>.<body>")>`. A delivery is accepted only with a valid signature made
within `MAX_AGE` seconds (either way: clocks differ); a delivery id seen before is a replay: it
is answered but triggers nothing again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Mapping

SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
SIGNATURE_VERSION = "v1"
SECRET_ENV = "MLFLOW_GITOPS_WEBHOOK_SECRET"
MAX_AGE = 300.0
MAX_BODY = 1 << 20  # MLflow's payloads are a few hundred bytes


def signature(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


class Verifier:
    """verify(headers, body) -> None when the delivery is authentic and fresh, else the reason."""

    def __init__(self, secret: str | None, clock: Callable[[], float] = time.time):
        self.secret = secret or None
        self.clock = clock
        self._seen: dict[str, float] = {}  # delivery id -> timestamp, for MAX_AGE
        self._mutex = threading.Lock()

    def verify(self, headers: Mapping[str, str], body: bytes) -> str | None:
        if self.secret is None:
            return f"no webhook secret configured ({SECRET_ENV})"
        given = headers.get(SIGNATURE_HEADER)
        delivery = headers.get(DELIVERY_ID_HEADER)
        stamp = headers.get(TIMESTAMP_HEADER)
        if not given or not delivery or not stamp:
            return "missing signature, delivery id or timestamp header"
        try:
            sent = int(stamp)
        except ValueError:
            return "malformed timestamp"
        if abs(self.clock() - sent) > MAX_AGE:
            return f"timestamp more than {MAX_AGE:g} s away from now (stale or replayed)"
        expected = signature(self.secret, delivery, stamp, body)
        if not hmac.compare_digest(given.strip().encode(), expected.encode()):
            return "signature does not match"
        return None

    def first_time(self, delivery_id: str, sent: str) -> bool:
        """False for a delivery id already accepted (a replay, or MLflow retrying a lost answer)."""
        now = self.clock()
        with self._mutex:
            for old in [d for d, t in self._seen.items() if now - t > MAX_AGE]:
                del self._seen[old]
            if delivery_id in self._seen:
                return False
            self._seen[delivery_id] = float(sent)
            return True
