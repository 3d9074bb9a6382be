"""The benchmark's registry: model shapes, bulk seeding straight into MLflow's tables, manifests.

One shape per model (`ModelShape`) is the single source for the rows seeded into the database,
the manifest that declares it and the state the benchmark expects to read back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

STAGES = ("None", "Staging", "Production", "Archived")


@dataclass(frozen=True)
class VersionShape:
    stage: str
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelShape:
    name: str
    description: str
    tags: dict[str, str]
    versions: dict[int, VersionShape]
    aliases: dict[str, int]  # alias -> version

    def state(self) -> dict:
        """Comparable with `read_states()`."""
        return {
            "description": self.description,
            "tags": dict(self.tags),
            "aliases": {a: str(v) for a, v in self.aliases.items()},
            "versions": {
                str(n): {"stage": v.stage, "description": v.description, "tags": dict(v.tags)}
                for n, v in self.versions.items()
            },
        }


def model(name: str, n_versions: int) -> ModelShape:
    """Newest version in Production (alias champion), the one before in Staging (challenger),
    older ones Archived; a model tag, a validated tag and a description on the two live versions."""
    versions = {}
    for n in range(1, n_versions + 1):
        if n == n_versions:
            versions[n] = VersionShape("Production", "Uploaded model to production on 2026-11-20",
                                       {"validated": "true"})
        elif n == n_versions - 1:
            versions[n] = VersionShape("Staging", "candidate", {"validated": "true"})
        else:
            versions[n] = VersionShape("Archived")
    return ModelShape(
        name=name,
        description=f"benchmark model {name}",
        tags={"team": "bench", "tier": str(len(name) % 3)},
        versions=versions,
        aliases={"champion": n_versions, "challenger": n_versions - 1},
    )


def changed(shape: ModelShape, index: int) -> tuple[ModelShape, list[tuple]]:
    """The desired state after two changes, and those changes as MlflowClient calls:
    even models promote their Staging version and archive the old Production one (two stage
    moves), odd models move both aliases one version back (two alias moves)."""
    top = max(shape.versions)
    if index % 2 == 0:
        versions = dict(shape.versions)
        versions[top - 1] = replace(versions[top - 1], stage="Production")
        versions[top] = replace(versions[top], stage="Archived")
        calls = [("transition_model_version_stage", shape.name, str(top - 1), "Production"),
                 ("transition_model_version_stage", shape.name, str(top), "Archived")]
        return replace(shape, versions=versions), calls
    aliases = {"champion": top - 1, "challenger": top - 2}
    calls = [("set_registered_model_alias", shape.name, "champion", str(top - 1)),
             ("set_registered_model_alias", shape.name, "challenger", str(top - 2))]
    return replace(shape, aliases=aliases), calls


# ---- seeding -------------------------------------------------------------------------------------


def seed(db_uri: str, shapes: list[ModelShape]) -> float:
    """Write the models straight into MLflow's tables (created/migrated by MLflow itself) in a few
    bulk INSERTs. Returns the seconds it took."""
    from mlflow.store.model_registry.dbmodels.models import (
        SqlModelVersion,
        SqlModelVersionTag,
        SqlRegisteredModel,
        SqlRegisteredModelAlias,
        SqlRegisteredModelTag,
    )
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

    start = time.perf_counter()
    store = SqlAlchemyStore(db_uri)  # creates and migrates the schema like `mlflow server` does
    now = int(time.time() * 1000)
    rows: dict = {t: [] for t in (SqlRegisteredModel, SqlModelVersion, SqlRegisteredModelTag,
                                  SqlModelVersionTag, SqlRegisteredModelAlias)}
    for m in shapes:
        rows[SqlRegisteredModel].append(
            {"name": m.name, "creation_time": now, "last_updated_time": now, "description": m.description})
        rows[SqlRegisteredModelTag] += [{"name": m.name, "key": k, "value": v} for k, v in m.tags.items()]
        rows[SqlRegisteredModelAlias] += [{"name": m.name, "alias": a, "version": v} for a, v in m.aliases.items()]
        for n, v in m.versions.items():
            rows[SqlModelVersion].append({
                "name": m.name, "version": n, "creation_time": now, "last_updated_time": now,
                "description": v.description or None, "user_id": None, "current_stage": v.stage,
                "source": f"s3://bench/{m.name}/{n}", "storage_location": f"s3://bench/{m.name}/{n}",
                "run_id": None, "run_link": None, "status": "READY", "status_message": None,
            })
            rows[SqlModelVersionTag] += [{"name": m.name, "version": n, "key": k, "value": val}
                                         for k, val in v.tags.items()]
    with store.engine.begin() as conn:
        for table, batch in rows.items():  # parents first: the dict keeps insertion order
            if batch:
                conn.execute(table.__table__.insert(), batch)
    if store.engine.dialect.name == "postgresql":
        # What autovacuum does shortly after bulk inserts in a live database; without statistics
        # PostgreSQL plans MLflow's search queries badly (20 s instead of 0.8 s per 1,000 models).
        with store.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    store.engine.dispose()
    return time.perf_counter() - start


# ---- manifests -----------------------------------------------------------------------------------


def manifest(shape: ModelShape) -> str:
    lines = [
        "apiVersion: mlflow-gitops/v1",
        "kind: RegisteredModel",
        f"name: {shape.name}",
        f"description: {shape.description}",
        "tags:",
        *(f"  {k}: '{v}'" for k, v in shape.tags.items()),
        "versions:",
    ]
    by_version: dict[int, list[str]] = {}
    for alias, n in shape.aliases.items():
        by_version.setdefault(n, []).append(alias)
    for n, v in sorted(shape.versions.items(), reverse=True):
        lines.append(f"  - version: {n}")
        lines.append(f"    stage: {v.stage}")
        if n in by_version:
            lines.append(f"    aliases: [{', '.join(sorted(by_version[n]))}]")
        if v.description:
            lines.append(f"    description: {v.description}")
        if v.tags:
            lines.append("    tags: {" + ", ".join(f"{k}: '{val}'" for k, val in v.tags.items()) + "}")
    return "\n".join(lines) + "\n"


def write_manifests(directory: Path, shapes: list[ModelShape]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for s in shapes:
        (directory / f"{s.name}.yaml").write_text(manifest(s), encoding="utf-8")
    return directory


# ---- reading back ----------------------------------------------------------------------------------


AUDIT_PREFIX = "mlflow-gitops."  # apply's audit trail (reconciler.apply.audit): not part of the desired state


def managed(tags) -> dict[str, str]:
    return {k: v for k, v in dict(tags).items() if not k.startswith(AUDIT_PREFIX)}


def read_states(uri: str, names: list[str]) -> dict[str, dict]:
    """The managed state of `names` as MLflow's client reports it (bulk searches, not timed);
    the audit-trail tags that apply adds are left out."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    wanted = set(names)
    states: dict[str, dict] = {}
    token = None
    while True:
        page = client.search_registered_models(max_results=1000, page_token=token)
        for m in page:
            if m.name in wanted:
                states[m.name] = {
                    "description": m.description or "",
                    "tags": managed(m.tags),
                    "aliases": {a: str(v) for a, v in m.aliases.items()},
                    "versions": {},
                }
        token = page.token
        if not token:
            break
    token = None
    while True:
        page = client.search_model_versions(max_results=200_000, page_token=token)
        for v in page:
            if v.name in states:
                states[v.name]["versions"][str(v.version)] = {
                    "stage": v.current_stage, "description": v.description or "", "tags": managed(v.tags)}
        token = page.token
        if not token:
            break
    return states
