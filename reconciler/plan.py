"""The plan: an ordered list of plain-data changes, plus what was seen of each touched model.

A plan is the only thing renderers and the applier receive; neither recomputes the diff.
Its JSON form (`format_version` "1") is a public, versioned format (SPEC.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from reconciler.errors import PlanFileError

FORMAT_VERSION = "1"

ACTIONS = (
    "create_model",
    "register_version",
    "transition_stage",
    "set_alias",
    "delete_alias",
    "set_model_tag",
    "delete_model_tag",
    "set_version_tag",
    "delete_version_tag",
    "update_model_description",
    "update_version_description",
)

# Terraform-style marks: what a reviewer sees first on each line.
ADD, CHANGE, DESTROY = "+", "~", "-"


@dataclass(frozen=True)
class Change:
    action: str
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

    @property
    def mark(self) -> str:
        if self.action.startswith("delete_"):
            return DESTROY
        if self.action in ("create_model", "register_version"):
            return ADD
        if self.action in ("set_alias", "set_model_tag", "set_version_tag") and self.before is None:
            return ADD
        return CHANGE

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "action": self.action,
            "model": self.model,
            "version": self.version,
            "before": self.before,
            "after": self.after,
            "source": self.source,
        }
        for optional in ("key", "alias", "ref", "run_id", "reason"):
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
    # model name -> the manifest its `mlflow-gitops.manifest` tag named when planned (reconciler.audit)
    managed_by: dict[str, str] = field(default_factory=dict)
    round_trips: int = 0

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
        doc["summary"] = {"changes": len(self.changes), **self.counts(), "by_action": by_action}
        doc["prior_state"] = dict(sorted(self.prior_state.items()))
        if self.managed_by:
            doc["managed_by"] = dict(sorted(self.managed_by.items()))
        return doc

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def loads(cls, text: str, origin: str) -> Plan:
        """A saved plan, checked as untrusted input (reconciler.planfile)."""
        from reconciler import planfile

        return planfile.load(text, origin)
