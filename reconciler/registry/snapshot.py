"""Live registry snapshot as plain data; built by `reconciler.registry.client`, consumed by the pure diff."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LiveVersion:
    version: str
    stage: str = "None"
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    run_id: str | None = None
    source: str | None = None
    status: str = "READY"
    user_id: str | None = None
    last_updated_timestamp: int | None = None
    audit: dict[str, str] = field(default_factory=dict)  # mlflow-gitops.* tags (reconciler.apply.audit)


@dataclass(frozen=True)
class LiveModel:
    name: str
    description: str = ""
    # user tags: neither MLflow's `mlflow.*` nor our own `mlflow-gitops.*` (those are in `audit`;
    # they record who applied what, and are never diffed, pruned, exported or fingerprinted)
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # alias -> version
    versions: dict[str, LiveVersion] = field(default_factory=dict)  # version -> LiveVersion
    last_updated_timestamp: int | None = None
    audit: dict[str, str] = field(default_factory=dict)

    def aliases_of(self, version: str) -> list[str]:
        return sorted(a for a, v in self.aliases.items() if v == version)

    def fingerprint(self) -> str:
        """Digest of everything the tool reads from this model; timestamps are left out on purpose
        so that a no-op write elsewhere does not make a saved plan stale."""
        doc = {
            "name": self.name,
            "description": self.description or "",
            "tags": self.tags,
            "aliases": self.aliases,
            "versions": {
                v.version: [v.stage, v.description or "", v.tags, v.run_id, v.source]
                for v in self.versions.values()
            },
        }
        raw = json.dumps(doc, sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()


ABSENT_FINGERPRINT = "absent"
# An MLflow prompt (a registered model tagged `mlflow.prompt.is_prompt`): seen, never touched.
PROMPT_FINGERPRINT = "prompt"
PROMPT_REFUSAL = "is an MLflow prompt, which mlflow-gitops never reads, changes or prunes"


@dataclass(frozen=True)
class Snapshot:
    models: dict[str, LiveModel]  # name -> LiveModel, only the models that were read
    round_trips: int = 0
    # names of MLflow prompts among the names read: not in `models` (nothing diffs, exports or
    # prunes them), but known, so that a manifest or saved plan naming one is refused
    prompts: frozenset[str] = frozenset()

    def fingerprint(self, name: str) -> str:
        if name in self.prompts:
            return PROMPT_FINGERPRINT
        m = self.models.get(name)
        return m.fingerprint() if m else ABSENT_FINGERPRINT


@dataclass(frozen=True)
class RunRecord:
    """What plans show of a version's run: its latest metric values (MLflow keeps the last logged
    value of each metric on the run), params and where it lives."""

    run_id: str
    experiment_id: str = ""
    status: str = ""
    lifecycle_stage: str = "active"
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    start_time: int | None = None
