"""Builds a Plan: desired state + one bulk read of the named models -> diff -> ordered changes."""

from __future__ import annotations

from reconciler.apply.audit import MANIFEST_TAG
from reconciler.manifest.desired import DesiredState
from reconciler.plan.diff import diff
from reconciler.plan.model import Change, Plan
from reconciler.registry.snapshot import Snapshot


def make_plan(desired: DesiredState, registry) -> Plan:
    snapshot = registry.snapshot(desired.names)
    return plan_of(diff(desired, snapshot), snapshot, registry)


def plan_of(changes: list[Change], snapshot: Snapshot, registry) -> Plan:
    """The plan of `changes` (a diff, or part of one, against `snapshot`): what it saw of each model
    it touches, for the applier's checks. `serve` heals part of a diff it already made."""
    touched = sorted({c.model for c in changes})
    return Plan(
        changes=tuple(changes),
        tracking_uri=registry.target.display,
        registry_uri=registry.target.registry_display,
        prior_state={name: snapshot.fingerprint(name) for name in touched},
        managed_by={
            name: snapshot.models[name].audit[MANIFEST_TAG]
            for name in touched
            if name in snapshot.models and MANIFEST_TAG in snapshot.models[name].audit
        },
        round_trips=snapshot.round_trips,
    )
