"""Builds a Plan: desired state + one bulk read of the named models -> diff -> ordered changes, with\nthe evidence and gate results of each promotion (one more bulk read: the runs behind them)."""

from __future__ import annotations

from reconciler.apply.audit import MANIFEST_TAG
from reconciler.manifest.desired import DesiredState
from reconciler.plan import evidence
from reconciler.plan.diff import diff
from reconciler.plan.model import Change, Plan
from reconciler.registry.protocol import PlanReader
from reconciler.registry.snapshot import Snapshot


def make_plan(desired: DesiredState, registry: PlanReader) -> Plan:
    snapshot = registry.snapshot(desired.names)
    return plan_of(desired, diff(desired, snapshot), snapshot, registry)


def plan_of(desired: DesiredState, changes: list[Change], snapshot: Snapshot, registry: PlanReader) -> Plan:
    """The plan of `changes` (a diff, or part of one, against `snapshot`): the evidence and gate
    results of each promotion, and what it saw of each model it touches, for the applier's checks.
    `serve` heals part of a diff it already made."""
    # the runs behind every promotion, in one bulk read (none when nothing is promoted)
    needed = evidence.run_ids(snapshot, changes)
    runs = registry.runs(needed) if needed else {}
    changes, gates = evidence.attach(desired, snapshot, changes, runs)
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
        gates=tuple(gates),
    )
