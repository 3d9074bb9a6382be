"""The runs behind plan evidence and gates, read in bulk.

One paged experiment search (search_runs needs experiment ids, which model versions do not carry),
then `attributes.run_id IN (...)` batches, concurrently: a constant number of round trips.
"""

from __future__ import annotations

import functools
import threading

from reconciler import uris
from reconciler.registry import decode
from reconciler.registry.failures import registry_call
from reconciler.registry.filters import quote
from reconciler.registry.reads import Background
from reconciler.registry.snapshot import RunRecord

EXPERIMENTS_SEARCH = "/api/2.0/mlflow/experiments/search"
RUNS_SEARCH = "/api/2.0/mlflow/runs/search"
EXPERIMENTS_PAGE = 50_000  # server maximum (SEARCH_MAX_RESULTS_THRESHOLD)
RUN_IDS_PER_SEARCH = 250


class Runs:
    """Mixin over `reconciler.registry.connection.Connection`."""

    @registry_call("reading runs")
    def runs(self, run_ids) -> dict[str, RunRecord]:
        """The runs with these ids (deleted ones too), latest metric values included; ids of runs
        that do not exist are simply absent. A constant number of round trips: one experiment
        search plus one search per RUN_IDS_PER_SEARCH ids, the batches run concurrently."""
        ids = sorted({r for r in run_ids if r})
        if not ids or (self.read_only and uris.sqlite_missing(self.target.tracking_uri)):
            return {}  # a tracking store that does not exist has no runs (and is not made by reading)
        experiments = self._experiment_ids()
        if not experiments:
            return {}
        batches = [ids[i:i + RUN_IDS_PER_SEARCH] for i in range(0, len(ids), RUN_IDS_PER_SEARCH)]
        slots = threading.BoundedSemaphore(max(1, self.parallelism))

        def search(batch: list[str]) -> list[RunRecord]:
            with slots:
                return self._runs_batch(experiments, batch)

        running = [Background(functools.partial(search, b)) for b in batches]
        wanted = set(ids)
        return {r.run_id: r for job in running for r in job.result() if r.run_id in wanted}

    def _experiment_ids(self) -> list[str]:
        from mlflow.entities import ViewType

        ids: list[str] = []
        token = None
        while True:
            if self.tracking_rest is not None:
                doc = self._rest_call(self.tracking_rest, EXPERIMENTS_SEARCH, "reading experiments", {
                    "max_results": EXPERIMENTS_PAGE, "view_type": "ALL", **({"page_token": token} if token else {}),
                })  # fmt: skip
                ids += [str(e["experiment_id"]) for e in doc.get("experiments", ())]
                token = doc.get("next_page_token")
            else:
                page = self._call("reading experiments", self.tracking_store.search_experiments,
                                  ViewType.ALL, EXPERIMENTS_PAGE, None, None, token)
                ids += [str(e.experiment_id) for e in page]
                token = page.token
            if not token:
                return ids

    def _runs_batch(self, experiments: list[str], batch: list[str]) -> list[RunRecord]:
        from mlflow.entities import ViewType

        filter_string = f"attributes.run_id IN ({','.join(quote(r) for r in batch)})"
        # One more than can match: a full page would come with a token for an empty next page.
        size = len(batch) + 1
        out: list[RunRecord] = []
        token = None
        while True:
            if self.tracking_rest is not None:
                doc = self._rest_call(self.tracking_rest, RUNS_SEARCH, "reading runs", {
                    "experiment_ids": experiments, "filter": filter_string, "run_view_type": "ALL",
                    "max_results": size, **({"page_token": token} if token else {}),
                })  # fmt: skip
                out += [decode.run_from_json(r) for r in doc.get("runs", ())]
                token = doc.get("next_page_token")
            else:
                page = self._call("reading runs", self.tracking_store.search_runs, experiments,
                                  filter_string, ViewType.ALL, size, None, token)
                out += [decode.run_from_entity(r) for r in page]
                token = page.token
            if not token:
                return out
