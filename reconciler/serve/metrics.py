"""Prometheus metrics of `serve` (names fixed by SPEC.md), in a registry of their own: the process's
default registry would add Python/process collectors that the contract does not promise.

Label sets follow the manifests: a model no longer declared loses its series, so a long-running
process does not grow with models that come and go."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    disable_created_metrics,
    generate_latest,
)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        disable_created_metrics()  # `*_created` series: noise for counters that live as long as the process
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.in_sync = Gauge("mlflow_gitops_model_in_sync", "1 when the model matches its manifest, else 0",
                             ["model"], registry=r)
        self.drifted = Gauge("mlflow_gitops_drifted_fields", "Managed fields of the model that differ from git",
                             ["model"], registry=r)
        self.heals = Counter("mlflow_gitops_heals", "Times serve applied the model's drift (self-heal)",
                             ["model"], registry=r)
        self.heal_errors = Counter("mlflow_gitops_heal_errors", "Self-heals of the model that failed",
                                   ["model"], registry=r)
        self.cycles = Counter("mlflow_gitops_cycles", "Reconciliation cycles run", registry=r)
        self.cycle_errors = Counter("mlflow_gitops_cycle_errors", "Cycles that failed (registry, git or manifests)",
                                    registry=r)
        self.last_success = Gauge("mlflow_gitops_last_success_timestamp_seconds",
                                  "Unix time the last successful cycle finished", registry=r)
        self.duration = Gauge("mlflow_gitops_cycle_duration_seconds", "Duration of the last cycle", registry=r)
        self.round_trips = Gauge("mlflow_gitops_cycle_round_trips", "Registry round trips that the last cycle took to read the registry",
                                 registry=r)
        self.webhooks = Counter("mlflow_gitops_webhooks", "Webhook deliveries received, by result",
                                ["result"], registry=r)
        for result in ("accepted", "refused"):
            self.webhooks.labels(result)
        self._models: set[str] = set()

    def models(self, declared: list[str]) -> None:
        """Keep series for exactly the declared models (a new one starts at 0 heals)."""
        now = set(declared)
        for gone in self._models - now:
            for metric in (self.in_sync, self.drifted, self.heals, self.heal_errors):
                try:
                    metric.remove(gone)
                except KeyError:
                    pass
        for new in now - self._models:
            self.heals.labels(new)
            self.heal_errors.labels(new)
        self._models = now

    def model(self, name: str, drifted_fields: int) -> None:
        self.in_sync.labels(name).set(0 if drifted_fields else 1)
        self.drifted.labels(name).set(drifted_fields)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
