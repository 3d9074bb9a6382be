"""Registry layer, for `propose`: the best active run of an experiment (the seed's `search_runs`).

Two round trips whatever the experiment's size: the experiment by name (by id when no experiment
has that name and it looks like one), then one `search_runs` with `max_results=1`, the server
doing the filtering and ordering.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reconciler.errors import RegistryError
from reconciler.redact import redact
from reconciler.registry.client import Registry, error_code, short

BAD_SEARCH_CODES = ("INVALID_PARAMETER_VALUE", "BAD_REQUEST")


class SearchError(RegistryError):
    """The experiment does not exist, or the server refused the filter or ordering."""


@dataclass(frozen=True)
class BestRun:
    run_id: str
    experiment_id: str
    experiment_name: str
    metrics: dict[str, float] = field(default_factory=dict)  # latest value of each metric
    params: dict[str, str] = field(default_factory=dict)


def best_run(registry: Registry, experiment: str, filter_string: str | None,
             order_by: list[str]) -> BestRun | None:
    """The first active run of `experiment` (name or id) matching `filter_string` in `order_by`
    order, or None when no run matches."""
    from mlflow.entities import ViewType

    from reconciler import uris

    if uris.sqlite_missing(registry.target.tracking_uri):  # opening it would create it: it has no runs
        raise SearchError(f"no experiment named '{experiment}' in {registry.target.display} (no such database)")
    client = registry.client
    found = _read(registry, "reading the experiment", client.get_experiment_by_name, experiment)
    if found is None and experiment.isdigit():
        found = _read(registry, "reading the experiment", client.get_experiment, experiment, missing_ok=True)
    if found is None:
        raise SearchError(f"no experiment named '{experiment}' in {registry.target.display}")
    if found.lifecycle_stage != "active":
        raise SearchError(f"experiment '{found.name}' is deleted; restore it or pick another")
    runs = _read(
        registry, "searching the experiment's runs", client.search_runs,
        [found.experiment_id], filter_string or "", ViewType.ACTIVE_ONLY, 1, order_by or None,
    )
    if not runs:
        return None
    run = runs[0]
    return BestRun(
        run_id=run.info.run_id,
        experiment_id=found.experiment_id,
        experiment_name=found.name,
        metrics=dict(run.data.metrics),
        params=dict(run.data.params),
    )


def _read(registry: Registry, what: str, fn, *args, missing_ok: bool = False):
    try:
        return registry._call(what, fn, *args)
    except Exception as e:  # MlflowException, connection errors after retries, ...
        code = error_code(e)
        if missing_ok and code == "RESOURCE_DOES_NOT_EXIST":
            return None
        if code in BAD_SEARCH_CODES:
            raise SearchError(redact(f"{what}: the server refused the search ({short(e)}); check --filter and "
                                     "--order-by (MLflow search syntax, e.g. \"metrics.rmse < 7\")")) from None
        if isinstance(e, RegistryError):
            raise
        raise RegistryError(redact(f"{what} failed against {registry.target.display}: {short(e)}")) from None
