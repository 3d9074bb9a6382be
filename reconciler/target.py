"""Which registry to talk to: flags, then MLflow's environment variables, then the embedded default."""

from __future__ import annotations

import os
from dataclasses import dataclass

from reconciler.redact import redact, register_environment, register_uri

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"

# MLflow's default HTTP retry policy (7 retries, exponential backoff) can take minutes against a
# server that is down; a CI plan should fail in seconds. Users can still override these.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}


@dataclass(frozen=True)
class Target:
    tracking_uri: str
    registry_uri: str

    @property
    def display(self) -> str:
        """The tracking URI as shown to people and written to plans: credentials masked."""
        return redact(self.tracking_uri)

    @property
    def registry_display(self) -> str:
        return redact(self.registry_uri)


def resolve(tracking_uri: str | None = None, registry_uri: str | None = None) -> Target:
    register_environment()
    tracking = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    registry = registry_uri or os.environ.get("MLFLOW_REGISTRY_URI") or tracking
    register_uri(tracking)
    register_uri(registry)
    for name, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)
    return Target(tracking_uri=tracking, registry_uri=registry)
