"""The drift report: what differs between git and the live registry, as plain data.

Built from the same diff as a plan (so drift is exactly what `apply` would revert), read the other
way round: each change becomes a field whose live value differs from its git value, with when it
last changed and by whom, where the registry knows. MLflow records a version's creator (`user_id`)
and last update time, and a model's last update time; it does not record who moved a stage or an
alias. The audit trail that apply leaves (reconciler.apply.audit) says when mlflow-gitops last set it,
so a live value that differs from it was changed by hand afterwards.

Models in the registry that no manifest declares are listed apart: `orphaned` when apply once
managed them (their `mlflow-gitops.manifest` tag names a manifest that no longer declares them),
`unmanaged` otherwise. They count as drift only with `--fail-on-unmanaged`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from reconciler.apply.audit import APPLIED_TAG, MANIFEST_TAG, STAGE_TAG
from reconciler.manifest.desired import DesiredState
from reconciler.plan.model import Change
from reconciler.registry.snapshot import LiveModel, Snapshot

FORMAT_VERSION = "1"


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def field_of(c: Change) -> str:
    name = c.action.spec.drift_field
    if name == "aliases.":
        return name + (c.alias or "")
    if name == "tags.":
        return name + (c.key or "")
    return name


@dataclass(frozen=True)
class Drifted:
    """One managed field whose live value differs from git: `apply` would make `action`."""

    model: str
    version: str | None  # None: a model-level field, or a version not registered
    field: str  # stage | aliases.NAME | tags.KEY | description | model | version
    git: Any  # what the manifests declare (None: should not exist)
    live: Any  # what the registry holds (None: does not exist)
    action: str | None  # None: nothing apply can do (a declared version is gone)
    source: str | None  # manifest file:line
    changed_at: str | None = None  # when the registry last updated this version (or model)
    user_id: str | None = None  # the version's user_id (its creator: MLflow keeps no editor)
    last_applied: str | None = None  # what mlflow-gitops last recorded (reconciler.apply.audit)
    ref: str | None = None  # the selector of a version not registered yet
    reason: str | None = None  # the policy that makes it drift

    @property
    def where(self) -> str:
        if self.version is not None:
            return f"v{self.version}"
        return f"({self.ref})" if self.ref else ""

    def to_json(self) -> dict[str, Any]:
        doc = {
            "model": self.model, "version": self.version, "field": self.field, "git": self.git,
            "live": self.live, "action": self.action, "source": self.source,
            "changed_at": self.changed_at, "user_id": self.user_id, "last_applied": self.last_applied,
        }
        for optional in ("ref", "reason"):
            if getattr(self, optional) is not None:
                doc[optional] = getattr(self, optional)
        return doc


@dataclass(frozen=True)
class Undeclared:
    """A registry model that no manifest declares."""

    name: str
    last_updated: str | None = None
    manifest: str | None = None  # set: orphaned, apply once managed it from this manifest
    last_applied: str | None = None

    @property
    def orphaned(self) -> bool:
        return self.manifest is not None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "last_updated": self.last_updated, "manifest": self.manifest,
                "last_applied": self.last_applied}


@dataclass(frozen=True)
class DriftReport:
    tracking_uri: str
    managed: tuple[str, ...]  # declared models, sorted
    drift: tuple[Drifted, ...]  # in plan order
    undeclared: tuple[Undeclared, ...]  # sorted by name
    fail_on_unmanaged: bool = False

    @property
    def drifted_models(self) -> list[str]:
        return sorted({d.model for d in self.drift})

    @property
    def unmanaged(self) -> list[Undeclared]:
        return [u for u in self.undeclared if not u.orphaned]

    @property
    def orphaned(self) -> list[Undeclared]:
        return [u for u in self.undeclared if u.orphaned]

    @property
    def in_sync(self) -> bool:
        return not self.drift and not (self.fail_on_unmanaged and self.undeclared)

    @property
    def exit_code(self) -> int:
        return 0 if self.in_sync else 2

    def by_model(self) -> dict[str, list[Drifted]]:
        grouped: dict[str, list[Drifted]] = {name: [] for name in self.managed}
        for d in self.drift:
            grouped.setdefault(d.model, []).append(d)
        return grouped

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "kind": "drift",
            "tracking_uri": self.tracking_uri,
            "in_sync": self.in_sync,
            "drift": [d.to_json() for d in self.drift],
            "unmanaged": [u.to_json() for u in self.unmanaged],
            "orphaned": [u.to_json() for u in self.orphaned],
            "summary": {
                "managed_models": len(self.managed),
                "drifted_models": len(self.drifted_models),
                "drifted_fields": len(self.drift),
                "unmanaged_models": len(self.unmanaged),
                "orphaned_models": len(self.orphaned),
                "fail_on_unmanaged": self.fail_on_unmanaged,
            },
        }


def drifted(c: Change, live: LiveModel | None) -> Drifted:
    # an alias belongs to the model (moving it updates the model), not to the version it points at
    at_version = live is not None and c.version is not None and c.alias is None
    version = live.versions.get(c.version) if at_version else None
    git, now = c.after, c.before
    if c.action == "create_model":
        git, now = "declared", None
    elif c.action == "register_version":
        git, now = c.after, None
    elif c.action.startswith("delete_"):
        git = None
    if version is not None:
        changed_at, user_id = iso(version.last_updated_timestamp), version.user_id
    else:
        changed_at, user_id = iso(live.last_updated_timestamp) if live is not None else None, None
    if c.alias is not None or c.key is not None:
        # MLflow does not bump last_updated_timestamp on tag or alias writes: the model's (or
        # version's) timestamp says nothing about when this field changed
        changed_at = None
    applied = None
    if live is not None:
        stamp = version.audit.get(STAGE_TAG) if version is not None and c.action == "transition_stage" else None
        applied = stamp or live.audit.get(APPLIED_TAG)
    return Drifted(
        model=c.model, version=c.version, field=field_of(c), git=git, live=now, action=c.action,
        source=c.source, changed_at=changed_at, user_id=user_id, last_applied=applied, ref=c.ref,
        reason=c.reason,
    )


def without_missing_versions(desired: DesiredState, snapshot: Snapshot) -> tuple[DesiredState, list[Drifted]]:
    """Declared `version: N` selectors that the registry lacks (deleted by hand, say) are drift, not
    an input error as they are for `plan`: the desired state without them, and their rows."""
    rows: list[Drifted] = []
    models = []
    for dm in desired.models:
        live = snapshot.models.get(dm.name)
        have = live.versions if live is not None else {}
        kept = []
        for dv in dm.versions:
            number = dv.selector.version
            if number is not None and number not in have:
                rows.append(Drifted(
                    model=dm.name, version=number, field="version", git="declared", live=None, action=None,
                    source=dv.location.short,
                    last_applied=live.audit.get(APPLIED_TAG) if live is not None else None,
                    reason="deleted from the registry; apply cannot bring it back: declare another version",
                ))
            else:
                kept.append(dv)
        models.append(replace(dm, versions=tuple(kept)) if len(kept) != len(dm.versions) else dm)
    return replace(desired, models=tuple(models)), rows


def gate_rows(desired: DesiredState, snapshot: Snapshot, failures) -> list[Drifted]:
    """A live version holding a stage or alias whose gate (policy.gates) it fails: apply cannot
    fix that by itself (move the target, or fix the run or tag)."""
    models = {m.name: m for m in desired.models}
    rows = []
    for g in failures:
        live = snapshot.models.get(g.model)
        version = live.versions.get(g.version) if live is not None and g.version else None
        rows.append(Drifted(
            model=g.model, version=g.version, field=f"gates.{g.target}", git=g.check, live=g.reason,
            action=None, source=models[g.model].loc("policy").short if g.model in models else None,
            changed_at=iso(version.last_updated_timestamp) if version is not None else None,
            user_id=version.user_id if version is not None else None,
            reason=f"holds {g.target} but fails its gate",
        ))  # fmt: skip
    return rows


def build(desired: DesiredState, snapshot: Snapshot, changes: list[Change], tracking_uri: str,
          fail_on_unmanaged: bool = False, missing: list[Drifted] = (), gates: list[Drifted] = ()) -> DriftReport:
    """`snapshot` holds the whole registry; `changes` is diff(desired, snapshot); `missing` the rows
    of `without_missing_versions`; `gates` those of `gate_rows`."""
    declared = set(desired.names)
    undeclared = tuple(
        Undeclared(
            name=m.name, last_updated=iso(m.last_updated_timestamp), manifest=m.audit.get(MANIFEST_TAG),
            last_applied=m.audit.get(APPLIED_TAG),
        )
        for name, m in sorted(snapshot.models.items())
        if name not in declared
    )
    return DriftReport(
        tracking_uri=tracking_uri,
        managed=tuple(sorted(declared)),
        drift=tuple(sorted(
            [*missing, *(drifted(c, snapshot.models.get(c.model)) for c in changes), *gates],
            key=lambda d: d.model,  # stable: plan order within a model, missing versions first
        )),
        undeclared=undeclared,
        fail_on_unmanaged=fail_on_unmanaged,
    )
