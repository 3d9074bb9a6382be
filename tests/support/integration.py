"""Helpers for integration tests: writing manifests and reading registry state with MLflow's own client."""

from __future__ import annotations

import re
import textwrap
import warnings
from pathlib import Path


def client(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def promotion_manifest(name: str, prune_aliases: bool = False, description: str | None = None,
                       prune_tags: bool = False) -> str:
    """The seed's promote/demote step for a model seeded with two versions: v2 to Production as
    champion, v1 archived."""
    described = f"description: {description}\n" if description is not None else ""
    return f"""\
apiVersion: mlflow-gitops/v1
kind: RegisteredModel
name: {name}
{described}tags: {{team: mlops}}
policy: {{prune_aliases: {str(prune_aliases).lower()}, prune_tags: {str(prune_tags).lower()}}}
versions:
  - version: 2
    stage: Production
    aliases: [champion]
  - version: 1
    stage: Archived
"""


def seed_versions(uri: str, name: str, stages: list[str], description: str = "") -> None:
    """Register len(stages) versions of `name` (sources s3://seed/<name>/<i>) in those stages."""
    c = client(uri)
    c.create_registered_model(name, description=description)
    for i, stage in enumerate(stages, start=1):
        mv = c.create_model_version(name, source=f"s3://seed/{name}/{i}")
        if stage != "None":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                c.transition_model_version_stage(name, mv.version, stage)


AUDIT_PREFIX = "mlflow-gitops."


def managed(tags) -> dict:
    return {k: v for k, v in dict(tags).items() if not k.startswith(AUDIT_PREFIX)}


def audit_tags(uri: str, name: str) -> dict:
    """The audit trail apply records (reconciler.apply.audit): {"model": {...}, "<version>": {...}}."""
    c = client(uri)
    m = c.get_registered_model(name)
    out = {"model": {k: v for k, v in m.tags.items() if k.startswith(AUDIT_PREFIX)}}
    for v in c.search_model_versions(filter_string=f"name = '{name}'"):
        out[str(v.version)] = {k: t for k, t in v.tags.items() if k.startswith(AUDIT_PREFIX)}
    return out


def state(uri: str, name: str) -> dict:
    """Everything the tool manages about a model, read with MlflowClient, comparable with ==
    (without the audit trail's mlflow-gitops.* tags: `audit_tags`)."""
    c = client(uri)
    models = c.search_registered_models(filter_string=f"name = '{name}'")
    if not models:
        return {}
    m = models[0]
    versions = c.search_model_versions(filter_string=f"name = '{name}'")
    return {
        "description": m.description or "",
        "tags": managed(m.tags),
        "aliases": {a: str(v) for a, v in m.aliases.items()},
        "versions": {
            str(v.version): {"stage": v.current_stage, "description": v.description or "", "tags": managed(v.tags),
                             "source": v.source}
            for v in versions
        },
        "timestamps": sorted([m.last_updated_timestamp] + [v.last_updated_timestamp for v in versions]),
    }


def writes_reported(stderr: str) -> int:
    m = re.search(r"(\d+) registry writes", stderr)
    assert m, f"no write count in: {stderr!r}"
    return int(m.group(1))
