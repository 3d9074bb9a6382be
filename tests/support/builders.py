"""Small constructors for desired and live state, for pure tests of diff, order and renderers."""

from __future__ import annotations

from reconciler.errors import Location
from reconciler.manifest.desired import DesiredModel, DesiredState, DesiredVersion, Policy, Selector
from reconciler.plan.model import Change, Plan
from reconciler.registry.snapshot import LiveModel, LiveVersion, Snapshot

FILE = "m.yaml"


def dv(line: int = 10, *, version=None, run_id=None, source=None, stage=None, aliases=(), description=None,
       tags=None) -> DesiredVersion:
    sel = Selector(version=None if version is None else str(version), run_id=run_id, source=source)
    return DesiredVersion(
        selector=sel, location=Location(FILE, line, 5), stage=stage, aliases=tuple(aliases),
        description=description, tags=dict(tags or {}),
    )


def dm(name: str = "m", *versions: DesiredVersion, description=None, tags=None, policy: Policy = Policy(),
       line: int = 1) -> DesiredModel:
    return DesiredModel(
        name=name, location=Location(FILE, line, 1), description=description, tags=dict(tags or {}),
        policy=policy, versions=tuple(versions),
    )


def desired(*models: DesiredModel) -> DesiredState:
    return DesiredState(models=tuple(sorted(models, key=lambda m: m.name)))


def lv(version, stage="None", description="", tags=None, run_id=None, source=None) -> LiveVersion:
    return LiveVersion(version=str(version), stage=stage, description=description, tags=dict(tags or {}),
                       run_id=run_id, source=source)


def lm(name="m", *versions: LiveVersion, description="", tags=None, aliases=None) -> LiveModel:
    return LiveModel(name=name, description=description, tags=dict(tags or {}),
                     aliases=dict(aliases or {}), versions={v.version: v for v in versions})


def snap(*models: LiveModel) -> Snapshot:
    return Snapshot(models={m.name: m for m in models})


def small_plan() -> Plan:
    """One change of each common kind, for renderers and plan-file tests."""
    return Plan(
        tracking_uri="http://mlflow.internal:5000",
        changes=(
            Change("create_model", "taxi", after="taxi", source="m/taxi.yaml:3"),
            Change("register_version", "taxi", after="s3://b/7", ref="source:s3://b/7", source="m/taxi.yaml:20"),
            Change("transition_stage", "taxi", "5", before="Staging", after="Production", source="m/taxi.yaml:9"),
            Change("set_alias", "taxi", "5", before="4", after="5", alias="champion", source="m/taxi.yaml:10"),
            Change("delete_alias", "taxi", "3", before="3", alias="old", reason="policy prune_aliases: true",
                   source="m/taxi.yaml:7"),
            Change("set_model_tag", "taxi", before=None, after="mlops", key="team", source="m/taxi.yaml:5"),
            Change("update_version_description", "taxi", "5", before="", after='line1\nsaid "hi"',
                   source="m/taxi.yaml:11"),
        ),
        prior_state={"taxi": "absent"},
    )
