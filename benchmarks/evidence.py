"""Benchmark scenario: a plan promoting 500 versions, with and without promotion evidence.

Two sets of 500 models, each with v1 in Production and v2 in None, seeded straight into MLflow's
tables; the manifests promote v2 to Production and archive v1 (1,000 changes per set).
- with evidence: every version comes from a run (rmse, mae logged); the manifests name
  `policy.evidence` and a gate (`rmse` max), so the plan reads 1,000 runs;
- without: the versions have no run, the manifests no policy: no run is read.
The difference in round trips is the whole cost of evidence and gates: one experiment search plus
one `search_runs` per 250 run ids, whatever the number of models.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

MODELS = 500


def seed(db_uri: str, prefix: str, with_runs: bool) -> tuple[float, list[str]]:
    """Seed MODELS models (and their runs); the model names and the seconds it took."""
    from mlflow.store.model_registry.dbmodels.models import SqlModelVersion, SqlRegisteredModel
    from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric, SqlRun
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    start = time.perf_counter()
    store = SqlAlchemyStore(db_uri, "/tmp/mlflow-gitops-bench-artifacts")
    experiment = store.create_experiment(f"{prefix}-{uuid.uuid4().hex[:8]}") if with_runs else None
    now = int(time.time() * 1000)
    rows: dict = {t: [] for t in (SqlRegisteredModel, SqlRun, SqlMetric, SqlLatestMetric, SqlModelVersion)}
    names = []
    for i in range(MODELS):
        name = f"{prefix}_{i:03d}"
        names.append(name)
        rows[SqlRegisteredModel].append({"name": name, "creation_time": now, "last_updated_time": now,
                                         "description": None})
        for n, stage in ((1, "Production"), (2, "None")):
            run_id = None
            if with_runs:
                run_id = uuid.uuid4().hex
                rows[SqlRun].append({
                    "run_uuid": run_id, "name": f"{name}-{n}", "source_type": "LOCAL", "source_name": "",
                    "entry_point_name": "", "user_id": "bench", "status": "FINISHED", "start_time": now,
                    "end_time": now, "source_version": "", "lifecycle_stage": "active",
                    "artifact_uri": f"/tmp/mlflow-gitops-bench-artifacts/{run_id}", "experiment_id": int(experiment),
                })  # fmt: skip
                for key, value in (("rmse", 6.0 - n * 0.5 - i / 1000), ("mae", 3.0 - n * 0.2)):
                    metric = {"key": key, "value": value, "timestamp": now, "step": 0, "is_nan": False,
                              "run_uuid": run_id}
                    rows[SqlMetric].append(metric)
                    rows[SqlLatestMetric].append(dict(metric))
            rows[SqlModelVersion].append({
                "name": name, "version": n, "creation_time": now, "last_updated_time": now, "description": None,
                "user_id": None, "current_stage": stage, "source": f"s3://bench/{name}/{n}",
                "storage_location": f"s3://bench/{name}/{n}", "run_id": run_id, "run_link": None,
                "status": "READY", "status_message": None,
            })  # fmt: skip
    with store.engine.begin() as conn:
        for table, batch in rows.items():
            if batch:
                conn.execute(table.__table__.insert(), batch)
    if store.engine.dialect.name == "postgresql":
        with store.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    store.engine.dispose()
    return time.perf_counter() - start, names


def write_manifests(directory: Path, names: list[str], with_policy: bool) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    policy = ("policy:\n  evidence: [rmse, mae]\n  gates:\n    - target: Production\n      metric: rmse\n"
              "      max: 6.5\n    - target: Production\n      metric: rmse\n      vs_current: lower\n")
    for name in names:
        (directory / f"{name}.yaml").write_text(
            f"apiVersion: mlflow-gitops/v1\nkind: RegisteredModel\nname: {name}\n"
            + (policy if with_policy else "")
            + "versions:\n  - version: 2\n    stage: Production\n  - version: 1\n    stage: Archived\n",
            encoding="utf-8",
        )
    return directory
