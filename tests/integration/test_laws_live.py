"""The plan/apply laws over random registries and manifests, against real MLflow stores:
apply then plan is empty, and a second apply makes no write call at all."""

from __future__ import annotations

import warnings
from dataclasses import replace
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from support.integration import client
from support.strategies import registry_and_manifest

from reconciler.apply.executor import apply_plan
from reconciler.plan.build import make_plan
from reconciler.registry.client import Registry
from reconciler.target import resolve

pytestmark = pytest.mark.integration

SLOTS = ["a", "b"]


def seed(uri: str, models: list[dict]) -> None:
    c = client(uri)
    for m in models:
        c.create_registered_model(m["name"], tags=m["tags"], description=m["description"])
        for v in m["versions"]:
            mv = c.create_model_version(m["name"], source=v["source"], tags=v["tags"], description=v["description"])
            if v["stage"] != "None":
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", FutureWarning)
                    c.transition_model_version_stage(m["name"], mv.version, v["stage"])
        for alias, version in m["aliases"].items():
            c.set_registered_model_alias(m["name"], alias, version)


def renamed(case, prefix: str):
    """The strategy draws fixed names; give each example its own models on a shared server."""
    live, desired = case
    mapping = {slot: f"{prefix}_{slot}" for slot in SLOTS}
    live = [
        {**m, "name": mapping[m["name"]],
         "versions": [{**v, "source": v["source"].replace(f"/{m['name']}/", f"/{mapping[m['name']]}/")} for v in m["versions"]]}
        for m in live
    ]
    models = []
    for dm in desired.models:
        name = mapping[dm.name]
        versions = tuple(
            replace(v, selector=replace(v.selector, source=v.selector.source.replace(f"/{dm.name}/", f"/{name}/")))
            if v.selector.source else v
            for v in dm.versions
        )
        models.append(replace(dm, name=name, versions=versions))
    return live, replace(desired, models=tuple(sorted(models, key=lambda m: m.name)))


@pytest.mark.parametrize("backend", ["embedded", "server-sqlite"])
def test_apply_converges_and_reapply_writes_nothing(backend, request):
    uri = request.getfixturevalue("embedded_uri" if backend == "embedded" else "sqlite_server")
    uri = uri if isinstance(uri, str) else uri.uri

    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(registry_and_manifest(SLOTS))
    def law(case):
        live, desired = renamed(case, f"law_{uuid4().hex[:8]}")
        seed(uri, live)
        registry = Registry(resolve(uri))
        plan = make_plan(desired, registry)
        apply_plan(plan, registry)
        assert registry.writes == len(plan.changes)

        fresh = Registry(resolve(uri))
        again = make_plan(desired, fresh)
        assert again.changes == (), again.changes
        apply_plan(again, fresh)
        assert fresh.writes == 0

    law()
