"""Hypothesis strategies for random registries and random manifests over them."""

from __future__ import annotations

from hypothesis import strategies as st

from reconciler.errors import Location
from reconciler.manifest.desired import DesiredModel, DesiredState, DesiredVersion, Policy, Selector

STAGES = ["None", "Staging", "Production", "Archived"]
ALIASES = ["champion", "challenger", "shadow"]
TAG_KEYS = ["team", "owner", "validated"]
VALUES = ["", "a", "b", "multi\nline: 'q'"]

tags = st.dictionaries(st.sampled_from(TAG_KEYS), st.sampled_from(VALUES), max_size=3)


@st.composite
def live_model(draw, name: str) -> dict:
    """A plain description of a registry model, to seed a real or in-memory registry."""
    n = draw(st.integers(0, 4))
    versions = [
        {
            "source": f"s3://bucket/{name}/{i}",
            "stage": draw(st.sampled_from(STAGES)),
            "description": draw(st.sampled_from(VALUES)),
            "tags": draw(tags),
        }
        for i in range(1, n + 1)
    ]
    aliases = {}
    if n:
        for alias in draw(st.lists(st.sampled_from(ALIASES), unique=True)):
            aliases[alias] = str(draw(st.integers(1, n)))
    return {
        "name": name,
        "description": draw(st.sampled_from(VALUES)),
        "tags": draw(tags),
        "aliases": aliases,
        "versions": versions,
    }


@st.composite
def registry_and_manifest(draw, names: list[str]) -> tuple[list[dict], DesiredState]:
    live = []
    models = []
    for name in names:
        exists = draw(st.booleans())
        lm = draw(live_model(name)) if exists else None
        if lm:
            live.append(lm)
        n_live = len(lm["versions"]) if lm else 0
        declared_numbers = draw(st.lists(st.integers(1, n_live), unique=True)) if n_live else []
        selectors = [Selector(version=str(v)) for v in declared_numbers]
        # by source: some match live versions (idempotent registration), some are new
        for j in draw(st.lists(st.integers(1, n_live + 2), unique=True, max_size=3)):
            if j in declared_numbers:
                continue
            selectors.append(Selector(source=f"s3://bucket/{name}/{j}"))
        free_aliases = list(ALIASES)
        stage_aliases = {}
        for stage in draw(st.lists(st.sampled_from(["Production", "Staging"]), unique=True)):
            stage_aliases[stage] = draw(st.sampled_from(free_aliases))
            free_aliases.remove(stage_aliases[stage])
        versions = []
        for k, sel in enumerate(selectors):
            chosen = draw(st.lists(st.sampled_from(free_aliases), unique=True, max_size=2)) if free_aliases else []
            free_aliases = [a for a in free_aliases if a not in chosen]
            versions.append(
                DesiredVersion(
                    selector=sel,
                    location=Location(f"{name}.yaml", 10 + k),
                    stage=draw(st.none() | st.sampled_from(STAGES)),
                    aliases=tuple(chosen),
                    description=draw(st.none() | st.sampled_from(VALUES)),
                    tags=draw(tags),
                )
            )
        policy = Policy(
            unmanaged_versions=draw(st.sampled_from(["ignore", "archive"])),
            prune_aliases=draw(st.booleans()),
            prune_tags=draw(st.booleans()),
            stage_aliases=stage_aliases,
        )
        models.append(
            DesiredModel(
                name=name,
                location=Location(f"{name}.yaml", 1),
                description=draw(st.none() | st.sampled_from(VALUES)),
                tags=draw(tags),
                policy=policy,
                versions=tuple(versions),
            )
        )
    return live, DesiredState(models=tuple(models))
