"""The plan: an ordered list of plain-data changes, plus what was seen of each touched model.

A plan is the only thing renderers and the applier receive; neither recomputes the diff.
Its JSON form (`format_version` "1") is a public, versioned format (SPEC.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from reconciler.errors import PlanFileError
from reconciler.plan.actions import ACTIONS, ADD, CHANGE, DESTROY, Action
from reconciler.plan.gates import GateResult

FORMAT_VERSION = "1"



@dataclass(frozen=True)
class Change:
    action: Action  # a plain string is accepted and converted (plan JSON, tests)
    model: str
    version: str | None = None  # None for model-level changes and versions not registered yet
    before: Any = None
    after: Any = None
    source: str | None = None  # manifest `file:line` the change comes from
    key: str | None = None  # tag changes
    alias: str | None = None  # alias changes
    # Names a declared version that is not registered yet ("source:s3://..."): the applier maps it
    # to the version number `register_version` returns.
    ref: str | None = None
    run_id: str | None = None  # register_version by run_id
    reason: str | None = None  # explains a change (e.g. a policy); never drives apply
    # promotions: the runs of the version coming in and of the one it replaces (reconciler.plan.evidence)
    evidence: dict[str, Any] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.action, Action):
            object.__setattr__(self, "action", Action(self.action))

    @property
    def mark(self) -> str:
        return self.action.spec.mark_for(self.before)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "action": self.action.value,
            "model": self.model,
            "version": self.version,
            "before": self.before,
            "after": self.after,
            "source": self.source,
        }
        for optional in ("key", "alias", "ref", "run_id", "reason", "evidence"):
            value = getattr(self, optional)
            if value is not None:
                doc[optional] = value
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Change:
        known = set(cls.__dataclass_fields__)
        if doc.get("action") not in ACTIONS:
            raise PlanFileError(f"unknown action {doc.get('action')!r} in plan file")
        return cls(**{k: v for k, v in doc.items() if k in known})


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    tracking_uri: str  # already redacted: plans never carry credentials
    registry_uri: str | None = None
    # model name -> fingerprint of its live state when planned ("absent" when it did not exist)
    prior_state: dict[str, str] = field(default_factory=dict)
    # model name -> the manifest its `mlflow-gitops.manifest` tag named when planned (reconciler.apply.audit)
    managed_by: dict[str, str] = field(default_factory=dict)
    # one row per gate per version entering a gated target (reconciler.plan.gates)
    gates: tuple[GateResult, ...] = ()

    @property
    def blocked_by(self) -> list[GateResult]:
        return [g for g in self.gates if not g.passed]

    @property
    def empty(self) -> bool:
        return not self.changes

    def counts(self) -> dict[str, int]:
        marks = [c.mark for c in self.changes]
        return {"add": marks.count(ADD), "change": marks.count(CHANGE), "destroy": marks.count(DESTROY)}

    def by_model(self) -> dict[str, list[Change]]:
        grouped: dict[str, list[Change]] = {}
        for c in self.changes:
            grouped.setdefault(c.model, []).append(c)
        return grouped

    def to_json(self) -> dict[str, Any]:
        by_action: dict[str, int] = {}
        for c in self.changes:
            by_action[c.action] = by_action.get(c.action, 0) + 1
        doc: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "tracking_uri": self.tracking_uri,
        }
        if self.registry_uri and self.registry_uri != self.tracking_uri:
            doc["registry_uri"] = self.registry_uri
        doc["changes"] = [c.to_json() for c in self.changes]
        doc["gates"] = [g.to_json() for g in self.gates]
        doc["summary"] = {"changes": len(self.changes), **self.counts(), "by_action": by_action,
                          "gates_failed": len(self.blocked_by)}
        doc["prior_state"] = dict(sorted(self.prior_state.items()))
        if self.managed_by:
            doc["managed_by"] = dict(sorted(self.managed_by.items()))
        return doc

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def loads(cls, text: str, origin: str) -> Plan:
        """A saved plan, checked as untrusted input (reconciler.plan.savedfile)."""
        from reconciler.plan import savedfile

        return savedfile.load(text, origin)
