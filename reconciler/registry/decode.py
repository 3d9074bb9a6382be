"""MLflow's answers as snapshot data: pure, no mlflow import, no I/O.

Two shapes come in: the REST JSON of an `mlflow server` (searches read directly, not through
protobuf's pure-Python `ParseDict`, which costs more than a second per 20,000 versions) and
MLflow's entity objects of an in-process store (a database URI). Both decode to the same plain
data: a model row (a dict), `LiveVersion`, `RunRecord`; `live_models` assembles `LiveModel`s.
"""

from __future__ import annotations

from reconciler import constants
from reconciler.registry.snapshot import LiveModel, LiveVersion, RunRecord

PROMPT_TAG = "mlflow.prompt.is_prompt"
SYSTEM_TAG_PREFIX = constants.SYSTEM_PREFIX
# Ours: the audit trail's tags; and models of our own (the `apply --lock` lease, reconciler.apply.lock),
# never part of a snapshot.
AUDIT_TAG_PREFIX = RESERVED_MODEL_PREFIX = constants.OWN_PREFIX


def is_prompt(tags: dict[str, str]) -> bool:
    # MLflow's own test is `== "true"`; any value of its reserved tag is no model of ours to touch
    return PROMPT_TAG in tags


def user_tags(tags: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if not k.startswith((SYSTEM_TAG_PREFIX, AUDIT_TAG_PREFIX))}


def audit_tags(tags: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if k.startswith(AUDIT_TAG_PREFIX)}


def _int(value) -> int | None:
    return None if value is None else int(value)


def _tags(items) -> dict[str, str]:
    return {t["key"]: t.get("value", "") for t in items or ()}


# ---- registered models: a row of name, description, all tags, aliases, last update ------------------


def model_from_json(m: dict) -> dict:
    return {
        "name": m["name"], "description": m.get("description") or "", "tags": _tags(m.get("tags")),
        "aliases": {a["alias"]: str(a["version"]) for a in m.get("aliases", ())},
        "last_updated_timestamp": _int(m.get("last_updated_timestamp")),
    }  # fmt: skip


def model_from_entity(m) -> dict:
    return {
        "name": m.name, "description": m.description or "", "tags": dict(m.tags or {}),
        "aliases": {a: str(v) for a, v in (m.aliases or {}).items()},
        "last_updated_timestamp": m.last_updated_timestamp,
    }  # fmt: skip


# ---- model versions: (model name, LiveVersion) ----------------------------------------------------


def version_from_json(v: dict) -> tuple[str, LiveVersion]:
    tags = _tags(v.get("tags"))
    return v["name"], LiveVersion(
        version=str(v["version"]), stage=v.get("current_stage") or "None",
        description=v.get("description") or "",
        tags=user_tags(tags), run_id=v.get("run_id") or None, source=v.get("source") or None,
        status=v.get("status") or "READY", user_id=v.get("user_id") or None,
        last_updated_timestamp=_int(v.get("last_updated_timestamp")), audit=audit_tags(tags),
    )  # fmt: skip


def version_from_entity(v) -> tuple[str, LiveVersion]:
    tags = dict(v.tags or {})
    return v.name, LiveVersion(
        version=str(v.version), stage=v.current_stage or "None", description=v.description or "",
        tags=user_tags(tags), run_id=v.run_id or None, source=v.source or None,
        status=v.status or "READY", user_id=v.user_id or None,
        last_updated_timestamp=v.last_updated_timestamp, audit=audit_tags(tags),
    )  # fmt: skip


# ---- runs ------------------------------------------------------------------------------------------


def run_from_json(doc: dict) -> RunRecord:
    info, data = doc.get("info", {}), doc.get("data", {})
    return RunRecord(
        run_id=info.get("run_id") or info.get("run_uuid", ""), experiment_id=str(info.get("experiment_id", "")),
        status=info.get("status", ""), lifecycle_stage=info.get("lifecycle_stage", "active"),
        metrics={m["key"]: float(m["value"]) for m in data.get("metrics", ()) if "value" in m},
        params={p["key"]: p.get("value", "") for p in data.get("params", ())},
        start_time=_int(info.get("start_time")),
    )


def run_from_entity(run) -> RunRecord:
    return RunRecord(
        run_id=run.info.run_id, experiment_id=str(run.info.experiment_id), status=run.info.status or "",
        lifecycle_stage=run.info.lifecycle_stage or "active", metrics=dict(run.data.metrics),
        params=dict(run.data.params), start_time=run.info.start_time,
    )


# ---- the snapshot's models ----------------------------------------------------------------------------


def live_models(raw_models: list[dict], raw_versions: list[tuple[str, LiveVersion]],
                wanted: set[str] | None) -> tuple[dict[str, LiveModel], frozenset[str]]:
    """The wanted models (None: all) by name, and the names of MLflow prompts among them (never
    models of the snapshot); the tool's own models (leases) are left out."""
    named = [m for m in raw_models if wanted is None or m["name"] in wanted]
    prompts = frozenset(m["name"] for m in named if is_prompt(m["tags"]))
    models = {
        m["name"]: m for m in named
        if m["name"] not in prompts and not m["name"].startswith(RESERVED_MODEL_PREFIX)
    }
    versions: dict[str, dict[str, LiveVersion]] = {name: {} for name in models}
    for name, v in raw_versions:
        if name in versions:
            versions[name][v.version] = v
    live = {
        name: LiveModel(
            name=name,
            description=m["description"],
            tags=user_tags(m["tags"]),
            aliases=m["aliases"],
            versions=versions[name],
            last_updated_timestamp=m["last_updated_timestamp"],
            audit=audit_tags(m["tags"]),
        )
        for name, m in sorted(models.items())
    }
    return live, prompts
