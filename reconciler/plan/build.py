"""Builds a Plan: desired state + one bulk read of the named models -> diff -> ordered changes."""

from __future__ import annotations

from reconciler.apply.audit import MANIFEST_TAG
from reconciler.manifest.desired import DesiredState
from reconciler.plan.diff import diff
from reconciler.plan.model import Plan


def make_plan(desired: DesiredState, registry) -> Plan:
    snapshot = registry.snapshot(desired.names)
    changes = diff(desired, snapshot)
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
