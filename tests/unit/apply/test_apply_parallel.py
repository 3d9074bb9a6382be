"""The applier's scheduling: models run concurrently, each model's changes strictly in plan order,
a failing model stops alone and is reported with everything else that was (not) applied.

The registry here is the in-memory one, wrapped to record calls, to make chosen calls fail, and
(with a barrier) to prove that several models really are in flight at once."""

from __future__ import annotations

import threading

import pytest
from support.memregistry import MemoryRegistry

from reconciler.apply.executor import apply_plan
from reconciler.errors import ApplyFailed, RegistryError
from reconciler.plan.model import Change, Plan

MODELS = [f"m{i}" for i in range(6)]


SEED = [
    {"name": n, "description": "", "tags": {}, "aliases": {"champion": "1"},
     "versions": [{"stage": stage, "description": "", "tags": {}, "source": f"s3://{n}/{i}"}
                  for i, stage in ((1, "Production"), (2, "Staging"))]}
    for n in MODELS
]


def promotion_plan(models=MODELS) -> Plan:
    """Per model: promote v2, then demote v1, then move the alias, then tag (plan order)."""
    changes = []
    for n in models:
        changes += [
            Change("transition_stage", n, "2", before="Staging", after="Production"),
            Change("transition_stage", n, "1", before="Production", after="Archived"),
            Change("set_alias", n, "2", alias="champion", before="1", after="2"),
            Change("set_model_tag", n, key="team", after="mlops"),
        ]
    return Plan(changes=tuple(changes), tracking_uri="memory://")


class Recording(MemoryRegistry):
    """Records (model, action) per call; fails calls listed in `fail`; optionally meets `barrier`
    on each model's first call, which only returns once that many models are in flight."""

    def __init__(self, fail=(), barrier: threading.Barrier | None = None):
        super().__init__(SEED)
        self.calls: list[tuple[str, str]] = []
        self.fail = set(fail)
        self.barrier = barrier
        self.lock = threading.Lock()

    def _record(self, name, action):
        with self.lock:
            first = all(m != name for m, _ in self.calls)
            self.calls.append((name, action))
        if first and self.barrier is not None:
            self.barrier.wait()
        if (name, action) in self.fail or (name, "*") in self.fail:
            raise RegistryError(f"{action} failed against memory://: boom on {name}")

    def transition_stage(self, name, version, stage):
        self._record(name, f"stage v{version} {stage}")
        super().transition_stage(name, version, stage)

    def set_alias(self, name, alias, version):
        self._record(name, "alias")
        super().set_alias(name, alias, version)

    def set_model_tag(self, name, key, value):
        self._record(name, "tag")
        super().set_model_tag(name, key, value)


def calls_of(registry: Recording, name: str) -> list[str]:
    return [a for m, a in registry.calls if m == name]


EXPECTED = ["stage v2 Production", "stage v1 Archived", "alias", "tag"]


def test_models_run_concurrently_and_each_model_keeps_plan_order():
    # Three models must be in flight together for the barrier to open; a sequential applier
    # would break the barrier (timeout) instead.
    registry = Recording(barrier=threading.Barrier(3, timeout=30))
    result = apply_plan(promotion_plan(MODELS[:3]), registry, parallelism=3)
    assert len(result.applied) == 12
    for name in MODELS[:3]:
        assert calls_of(registry, name) == EXPECTED
        model = registry.models[name]
        assert model.versions["2"].stage == "Production" and model.versions["1"].stage == "Archived"
        assert model.aliases == {"champion": "2"}


def test_parallel_result_equals_sequential_result():
    plan = promotion_plan()
    sequential, parallel = Recording(), Recording()
    apply_plan(plan, sequential, parallelism=1)
    apply_plan(plan, parallel, parallelism=4)
    assert parallel.models == sequential.models
    assert sequential.calls == [(c.model, a) for c in plan.changes[::4] for a in EXPECTED]


def test_callbacks_are_serialised_and_report_each_model_once():
    registry = Recording()
    seen_models, seen_changes = [], []
    busy = threading.Lock()

    def on_applied(change, result):
        assert busy.acquire(blocking=False), "callbacks overlapped"
        seen_changes.append(change)
        busy.release()

    apply_plan(promotion_plan(), registry, on_applied=on_applied, parallelism=4,
               on_model=lambda o: seen_models.append((o.model, [c.action for c in o.applied])))
    assert sorted(m for m, _ in seen_models) == MODELS
    assert all(actions == ["transition_stage", "transition_stage", "set_alias", "set_model_tag"]
               for _, actions in seen_models)
    assert len(seen_changes) == 24


def test_a_failing_model_stops_alone_and_everything_is_reported():
    registry = Recording(fail={("m2", "stage v1 Archived")})
    plan = promotion_plan()
    with pytest.raises(ApplyFailed) as info:
        apply_plan(plan, registry, parallelism=3)
    e = info.value
    assert isinstance(e, ApplyFailed)
    assert [(c.model, c.version) for c, _ in e.failures] == [("m2", "1")]
    assert e.failed.model == "m2" and "boom on m2" in str(e)
    assert [(c.model, c.action) for c in e.pending] == [("m2", "set_alias"), ("m2", "set_model_tag")]
    # m2 stopped after its promotion; every other model converged and is counted as applied
    assert calls_of(registry, "m2") == EXPECTED[:2]
    assert registry.models["m2"].versions["2"].stage == "Production"
    assert registry.models["m2"].versions["1"].stage == "Production"
    for name in set(MODELS) - {"m2"}:
        assert calls_of(registry, name) == EXPECTED
    assert len(e.applied) == 4 * 5 + 1
    assert not e.result.stopped_early


def test_several_failing_models_are_all_reported():
    registry = Recording(fail={("m1", "alias"), ("m4", "stage v2 Production")})
    with pytest.raises(ApplyFailed) as info:
        apply_plan(promotion_plan(), registry, parallelism=2)
    e = info.value
    assert sorted((c.model, c.action) for c, _ in e.failures) == [("m1", "set_alias"), ("m4", "transition_stage")]
    assert "2 models failed" in str(e)
    assert sorted((c.model, c.action) for c in e.pending) == [
        ("m1", "set_model_tag"),
        ("m4", "set_alias"), ("m4", "set_model_tag"), ("m4", "transition_stage"),
    ]
    assert len(e.applied) == 24 - 1 - 4 - 1


def test_when_every_model_fails_it_stops_starting_new_ones():
    registry = Recording(fail={(n, "*") for n in MODELS})
    with pytest.raises(ApplyFailed) as info:
        apply_plan(promotion_plan(), registry, parallelism=1)
    e = info.value
    assert e.result.stopped_early
    assert len(e.failures) == 3  # max(3, parallelism) failures in a row, then no new model starts
    assert {c.model for c in e.pending} == set(MODELS)  # the rest of the failed ones and the unstarted
    assert len(e.pending) == 3 * 3 + 3 * 4
    assert [m for m, _ in registry.calls] == MODELS[:3]
