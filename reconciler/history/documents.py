"""What one manifest blob declares about one model, leniently: history reads every past version of
the manifests, including ones that `validate` would refuse today; what cannot be read is skipped
(and counted), never an error."""

from __future__ import annotations

from dataclasses import dataclass

import yaml

try:
    Loader = yaml.CSafeLoader
except AttributeError:  # PyYAML without libyaml
    Loader = yaml.SafeLoader

STAGES = ("Production", "Staging")  # stages one version (or a few) hold; Archived/None hold the rest


@dataclass(frozen=True)
class Ref:
    """A declared version: by number, or by the run / source a registered version came from."""

    kind: str  # version | run_id | source
    value: str

    def __str__(self) -> str:
        return self.value if self.kind == "version" else f"{self.kind} {self.value}"


def holdings(blob: bytes, model: str) -> frozenset[tuple[str, Ref]] | None:
    """{(target, ref)} the model's document in this blob declares: target is a stage of STAGES or
    `@alias`. None: the blob does not declare the model (or cannot be read)."""
    if model.encode() not in blob:
        return None
    try:
        documents = list(yaml.load_all(blob, Loader=Loader))
    except yaml.YAMLError:
        return None
    for doc in documents:
        if isinstance(doc, dict) and doc.get("name") == model:
            return frozenset(_targets(doc.get("versions")))
    return None


def _targets(versions) -> set[tuple[str, Ref]]:
    found: set[tuple[str, Ref]] = set()
    if not isinstance(versions, list):
        return found
    for entry in versions:
        if not isinstance(entry, dict):
            continue
        ref = _ref(entry)
        if ref is None:
            continue
        if entry.get("stage") in STAGES:
            found.add((entry["stage"], ref))
        aliases = entry.get("aliases")
        for alias in aliases if isinstance(aliases, list) else ():
            if isinstance(alias, str):
                found.add(("@" + alias, ref))
    return found


def _ref(entry: dict) -> Ref | None:
    for kind in ("version", "run_id", "source"):
        value = entry.get(kind)
        if value is not None and not isinstance(value, (dict, list)):
            return Ref(kind, str(value))
    return None
