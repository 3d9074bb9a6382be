"""Property tests of the plan/apply laws over random registries and manifests (in memory)."""


from hypothesis import given, settings
from support.memregistry import MemoryRegistry
from support.strategies import registry_and_manifest

from reconciler.apply.executor import apply_plan
from reconciler.plan.build import make_plan

NAMES = ["alpha", "beta", "gamma"]


@settings(max_examples=300, deadline=None)
@given(registry_and_manifest(NAMES))
def test_apply_then_plan_is_empty_and_second_apply_writes_nothing(case):
    seed, desired = case
    registry = MemoryRegistry(seed)
    plan = make_plan(desired, registry)
    result = apply_plan(plan, registry)
    assert registry.writes == len(plan.changes) == len(result.applied)
    again = make_plan(desired, registry)
    assert again.changes == ()
    before = registry.writes
    apply_plan(again, registry)
    assert registry.writes == before


@settings(max_examples=200, deadline=None)
@given(registry_and_manifest(NAMES))
def test_a_production_version_exists_at_every_step_if_one_existed_and_one_is_declared(case):
    seed, desired = case
    registry = MemoryRegistry(seed)
    plan = make_plan(desired, registry)

    def has_production(name):
        m = registry.models.get(name)
        return m is not None and any(v.stage == "Production" for v in m.versions.values())

    keep = {
        m.name for m in desired.models
        if has_production(m.name) and any(v.stage == "Production" for v in m.versions)
    }

    def check(change, result):
        for name in keep:
            assert has_production(name), f"{name} lost its Production version at {change}"

    apply_plan(plan, registry, check)


@settings(max_examples=200, deadline=None)
@given(registry_and_manifest(NAMES))
def test_drift_is_exactly_what_apply_would_revert_and_is_empty_once_applied(case):
    from reconciler.drift.report import build
    from reconciler.plan.diff import diff

    seed, desired = case
    registry = MemoryRegistry(seed)
    plan = make_plan(desired, registry)
    snapshot = registry.snapshot(None)
    before = build(desired, snapshot, diff(desired, snapshot), "memory://")
    assert [(d.model, d.action) for d in before.drift] == [(c.model, c.action) for c in plan.changes]
    assert before.exit_code == (2 if plan.changes else 0)
    apply_plan(plan, registry)
    snapshot = registry.snapshot(None)
    after = build(desired, snapshot, diff(desired, snapshot), "memory://")
    assert after.drift == () and after.exit_code == 0
