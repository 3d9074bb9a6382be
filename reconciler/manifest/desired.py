"""Validated desired state: what the manifests declare, with where each piece was declared.

Fields that are `None` are not managed (absent from the manifest); the diff leaves them alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reconciler.constants import DEFAULT_ARTIFACT_PATH
from reconciler.errors import Location

STAGES = ("None", "Staging", "Production", "Archived")


@dataclass(frozen=True)
class Gate:
    """One entry of `policy.gates`; evaluated by reconciler.plan.gates."""

    target: str  # "Staging" | "Production" | "@<alias>"
    metric: str | None = None
    min: float | None = None
    max: float | None = None
    vs_current: str | None = None  # lower | higher
    tag: str | None = None
    equals: str | None = None

    @property
    def check(self) -> str:
        """What the gate asks, as a reviewer reads it: `rmse <= 6.5`, `tag validation_status = approved`."""
        if self.tag is not None:
            return f"tag {self.tag} = {self.equals}"
        parts = []
        if self.min is not None:
            parts.append(f"{self.metric} >= {bound(self.min)}")
        if self.max is not None:
            parts.append(f"{self.metric} <= {bound(self.max)}")
        if self.vs_current is not None:
            parts.append(f"{self.metric} {'<=' if self.vs_current == 'lower' else '>='} current")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Gate:
        return cls(**{k: doc.get(k) for k in cls.__dataclass_fields__})


def bound(value: float) -> str:
    """A bound as the manifest wrote it: 6.5, 100."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass(frozen=True)
class Policy:
    unmanaged_versions: str = "ignore"  # ignore | archive
    prune_aliases: bool = False
    prune_tags: bool = False
    self_heal: bool = False  # `serve` applies this model's drift even without --self-heal
    stage_aliases: dict[str, str] = field(default_factory=dict)  # stage -> alias kept on its version
    evidence: tuple[str, ...] = ()  # run metrics shown beside each promotion (plan/evidence.py)
    gates: tuple[Gate, ...] = ()  # checks on versions entering a target (plan/gates.py)


@dataclass(frozen=True)
class Selector:
    """Exactly one of version / run_id / source identifies a declared version."""

    version: str | None = None
    run_id: str | None = None
    artifact_path: str = DEFAULT_ARTIFACT_PATH
    source: str | None = None

    @property
    def kind(self) -> str:
        if self.version is not None:
            return "version"
        if self.run_id is not None:
            return "run_id"
        return "source"

    @property
    def key(self) -> str:
        """A stable, human-readable reference, used for versions not registered yet."""
        if self.version is not None:
            return f"version:{self.version}"
        if self.run_id is not None:
            return f"run_id:{self.run_id}/{self.artifact_path}"
        return f"source:{self.source}"

    @property
    def register_uri(self) -> str | None:
        if self.run_id is not None:
            return f"runs:/{self.run_id}/{self.artifact_path}"
        return self.source


@dataclass(frozen=True)
class DesiredVersion:
    selector: Selector
    location: Location
    stage: str | None = None  # one of STAGES, or None = unmanaged
    aliases: tuple[str, ...] = ()
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    # where individual fields were declared, for plan `source` pointers; falls back to `location`
    field_locations: dict[str, Location] = field(default_factory=dict)

    def loc(self, fieldname: str) -> Location:
        return self.field_locations.get(fieldname, self.location)


@dataclass(frozen=True)
class DesiredModel:
    name: str
    location: Location
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    policy: Policy = Policy()
    versions: tuple[DesiredVersion, ...] = ()
    field_locations: dict[str, Location] = field(default_factory=dict)

    def loc(self, fieldname: str) -> Location:
        return self.field_locations.get(fieldname, self.location)


@dataclass(frozen=True)
class DesiredState:
    models: tuple[DesiredModel, ...]  # sorted by name
    files: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.models]
