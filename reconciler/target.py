"""Which registry to talk to: flags, then MLflow's environment variables, then the embedded default."""

from __future__ import annotations

import os
from dataclasses import dataclass

from reconciler.redact import redact, register_environment, register_uri

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"

# Retries and timeouts of registry calls: reconciler.registry.retry (MLflow's own HTTP retries are
# off; the tool reads its own MLFLOW_GITOPS_HTTP_* variables there).


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
    """The URIs to use, each checked (reconciler.uris: one clear line for a URI MLflow cannot use)."""
    from reconciler.uris import store_uri

    tracking = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    registry = registry_uri or os.environ.get("MLFLOW_REGISTRY_URI") or tracking
    register_uri(tracking)
    register_uri(registry)
    tracking_from = "--tracking-uri" if tracking_uri else "MLFLOW_TRACKING_URI"
    if registry_uri:
        registry_from = "--registry-uri"
    elif os.environ.get("MLFLOW_REGISTRY_URI"):
        registry_from = "MLFLOW_REGISTRY_URI"
    else:
        registry_from = tracking_from
    return Target(tracking_uri=store_uri(tracking, tracking_from), registry_uri=store_uri(registry, registry_from))
