"""Small constructors for desired and live state, for pure tests of diff, order and renderers."""

from __future__ import annotations

from reconciler.errors import Location
from reconciler.manifest.desired import DesiredModel, DesiredState, DesiredVersion, Policy, Selector
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
