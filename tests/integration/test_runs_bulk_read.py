"""Registry.runs: the bulk read of the runs behind plan evidence and gates (real MLflow stores)."""

from __future__ import annotations

import pytest
from support.integration import client

from reconciler.registry import client as live
from reconciler.registry.client import Registry
from reconciler.target import resolve

pytestmark = pytest.mark.integration


def log_runs(uri: str, n_experiments: int, per_experiment: int) -> list[str]:
    from uuid import uuid4

    c = client(uri)
    ids = []
    for _ in range(n_experiments):
        exp = c.create_experiment(f"exp_{uuid4().hex[:10]}")
        for i in range(per_experiment):
            run = c.create_run(exp)
            rid = run.info.run_id
            c.log_metric(rid, "rmse", 9.0 + i, step=0)
            c.log_metric(rid, "rmse", 5.0 + i, step=1)  # the latest value is what plans show
            c.log_param(rid, "alpha", str(i))
            c.set_terminated(rid)
            ids.append(rid)
    return ids


def test_reads_runs_across_experiments_in_constant_round_trips(registry_uri, monkeypatch):
    ids = log_runs(registry_uri, n_experiments=3, per_experiment=3)
    client(registry_uri).delete_run(ids[0])
    monkeypatch.setattr(live, "RUN_IDS_PER_SEARCH", 4)  # 9 ids + 1 unknown -> 3 batches
    registry = Registry(resolve(registry_uri))
    before = registry.round_trips
    runs = registry.runs(ids + ["0" * 32, None])
    assert set(runs) == set(ids)
    first = runs[ids[1]]
    assert first.metrics == {"rmse": 6.0}
    assert first.params == {"alpha": "1"}
    assert first.status == "FINISHED"
    assert runs[ids[0]].lifecycle_stage == "deleted"
    # one experiment search + three run searches, whatever the number of runs
    assert registry.round_trips - before == 4


def test_no_run_ids_no_round_trip(embedded_uri):
    registry = Registry(resolve(embedded_uri))
    assert registry.runs([]) == {}
    assert registry.round_trips == 0
