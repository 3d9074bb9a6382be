"""The check right before a model is applied: unchanged -> as planned; changed by a concurrent apply
of the same manifests -> only what is still needed; changed otherwise -> that model stops."""

from __future__ import annotations

import threading

import pytest
from support.builders import desired, dm, dv
from support.memregistry import MemoryRegistry

from reconciler.apply.guard import ModelChanged, ModelGuard
from reconciler.errors import ApplyFailed
from reconciler.plan.build import make_plan

SEED = [{"name": "m", "description": "", "tags": {}, "aliases": {},
         "versions": [{"stage": "Production", "description": "", "tags": {}, "source": "s3://m/1"}]}]  # fmt: skip


def manifests():
    return desired(
        dm("m",
           dv(10, version=1, stage="Archived"),
           dv(20, source="s3://m/2", stage="Production", aliases=["champion"], tags={"k": "v"}),
           description="the model"),
    )  # fmt: skip


def by_model(plan, name="m"):
    return plan.by_model()[name]


def test_an_unchanged_model_is_applied_as_planned():
    reg = MemoryRegistry(SEED)
    plan = make_plan(manifests(), reg)
    guard = ModelGuard(reg, plan, manifests())
    assert guard("m", by_model(plan)) == by_model(plan)
    assert guard.replanned == {}


def test_work_done_by_a_concurrent_apply_is_not_done_again():
    reg = MemoryRegistry(SEED)
    plan = make_plan(manifests(), reg)
    assert [c.action for c in by_model(plan)] == [
        "register_version", "transition_stage", "transition_stage", "set_alias", "set_version_tag",
        "update_model_description",
    ]
    # another apply of the same manifests got there first and did half of it
    v = reg.register_version("m", "s3://m/2", None)
    reg.transition_stage("m", v, "Production")
    reg.transition_stage("m", "1", "Archived")
    said = []
    guard = ModelGuard(reg, plan, manifests(), say=said.append)
    fresh = guard("m", by_model(plan))
    assert [(c.action, c.version) for c in fresh] == [
        ("set_alias", v), ("set_version_tag", v), ("update_model_description", None),
    ]
    assert guard.replanned == {"m": 3}
    assert "3 of its 6 changes still needed" in said[0]


def test_a_model_created_meanwhile_by_a_concurrent_apply():
    reg = MemoryRegistry()
    plan = make_plan(desired(dm("new", dv(5, source="s3://new/1", stage="Staging"))), reg)
    reg.create_model("new")
    fresh = ModelGuard(reg, plan, desired(dm("new", dv(5, source="s3://new/1", stage="Staging"))))(
        "new", by_model(plan, "new"))
    assert [c.action for c in fresh] == ["register_version", "transition_stage"]


def test_an_unforeseen_change_stops_the_model_naming_it():
    reg = MemoryRegistry(SEED)
    plan = make_plan(manifests(), reg)
    reg.transition_stage("m", "1", "Staging")  # someone moved v1; harmless: we archive it anyway
    reg.set_version_tag("m", "1", "owner", "x")  # unmanaged: invisible to the manifests
    assert len(ModelGuard(reg, plan, manifests())("m", by_model(plan))) == 6
    # but a changed description of a model that already had the declared one...
    reg.update_model_description("m", "the model")
    plan = make_plan(manifests(), reg)
    reg.update_model_description("m", "edited by hand")
    with pytest.raises(ModelChanged, match=r"now needs ~ m: description: \"edited by hand\" -> \"the model\""):
        ModelGuard(reg, plan, manifests())("m", by_model(plan))


def test_a_saved_plan_stops_on_any_change():
    reg = MemoryRegistry(SEED)
    plan = make_plan(manifests(), reg)
    reg.set_model_tag("m", "team", "x")
    with pytest.raises(ModelChanged, match="since plan.json was made; none of its 6 planned changes"):
        ModelGuard(reg, plan, None, origin="plan.json")("m", by_model(plan))


def test_the_lock_is_checked_first():
    class Lost:
        def check(self):
            raise ModelChanged("lost the registry lock")

    reg = MemoryRegistry(SEED)
    plan = make_plan(manifests(), reg)
    with pytest.raises(ModelChanged, match="lost"):
        ModelGuard(reg, plan, manifests(), lock=Lost())("m", by_model(plan))


def test_the_applier_asks_the_guard_before_each_model_and_a_refusal_stops_only_that_model():
    from reconciler.apply.executor import apply_plan

    seed = SEED + [{**SEED[0], "name": "n"}]
    reg = MemoryRegistry(seed)
    both = desired(manifests().models[0], dm("n", dv(10, version=1, stage="Archived")))
    plan = make_plan(both, reg)
    reg.set_version_tag("m", "1", "owner", "x")  # harmless for m
    reg.update_model_description("n", "edited")  # n does not manage its description: harmless too
    reg.transition_stage("n", "1", "Staging")  # already moved: the plan's change is still approved
    asked = []

    def guard(model, changes):
        asked.append(model)
        if model == "n":
            raise ModelChanged("n changed")
        return ModelGuard(reg, plan, both)(model, changes)

    with pytest.raises(ApplyFailed) as e:
        apply_plan(plan, reg, prepare=guard)
    assert sorted(asked) == ["m", "n"]
    assert [c.model for c in e.value.applied] == ["m"] * 6
    assert [(c.model, msg) for c, msg in e.value.failures] == [("n", "n changed")]
    assert reg.models["n"].versions["1"].stage == "Staging"  # nothing of n was applied


# ---- shared fresh reads ---------------------------------------------------------------------------


class Reads(MemoryRegistry):
    """Thread-safe; records each snapshot's names and, per model, whether it was read after a
    write of our own to it had been made (it must never be)."""

    def __init__(self, seed, parallelism=1):
        super().__init__(seed)
        self.parallelism = parallelism
        self.lock = threading.Lock()
        self.reads: list[list[str]] = []
        self.written: set[str] = set()
        self.read_after_write: set[str] = set()

    def snapshot(self, names):
        with self.lock:
            if names is not None:
                self.reads.append(list(names))
                self.read_after_write |= self.written & set(names)
            return super().snapshot(names)

    def _put(self, m):
        with self.lock:
            self.written.add(m.name)
            super()._put(m)


def many(n: int):
    names = [f"m{i:03}" for i in range(n)]
    seed = [{**SEED[0], "name": name} for name in names]
    want = desired(*(dm(name, dv(10, version=1, stage="Archived"), description="d") for name in names))
    return names, seed, want


@pytest.mark.parametrize("parallelism", [1, 8])
def test_models_about_to_start_share_one_read(parallelism):
    from reconciler.apply.executor import apply_plan

    names, seed, want = many(100)
    reg = Reads(seed, parallelism=parallelism)
    plan = make_plan(want, reg)
    reg.reads.clear()
    guard = ModelGuard(reg, plan, want)
    apply_plan(plan, reg, parallelism=parallelism, prepare=guard)
    assert all(reg.models[n].versions["1"].stage == "Archived" for n in names)
    read = [n for batch in reg.reads for n in batch]
    assert sorted(set(read)) == names  # every model was read before it was applied...
    assert reg.read_after_write == set()  # ...never after a write of ours to it
    assert max(len(b) for b in reg.reads) <= guard.batch == 4 * parallelism
    # one read per batch; racing workers may split a batch at the start
    assert len(reg.reads) == guard.reads <= -(-100 // guard.batch) + parallelism


def test_a_shared_read_is_used_only_while_fresh():
    names, seed, want = many(3)
    reg = Reads(seed)
    plan = make_plan(want, reg)
    reg.reads.clear()
    now = [0.0]
    said = []
    guard = ModelGuard(reg, plan, want, say=said.append, batch=3, clock=lambda: now[0])
    guard(names[0], plan.by_model()[names[0]])  # reads all three
    reg.set_model_tag(names[1], "team", "x")  # after m001's read: unnoticed (the documented window)
    reg.set_model_tag(names[2], "team", "x")
    assert guard(names[1], plan.by_model()[names[1]]) == plan.by_model()[names[1]]
    now[0] += 2.5  # the read is too old for m002: it is read again, and the change is seen
    assert len(guard(names[2], plan.by_model()[names[2]])) == 2
    assert guard.replanned == {names[2]: 2} and len(said) == 1
    assert reg.reads == [names, [names[2]]]


def test_a_failed_shared_read_fails_each_model_that_waited_for_it():
    from reconciler.apply.executor import apply_plan
    from reconciler.errors import RegistryError

    names, seed, want = many(4)

    class Down(Reads):
        def snapshot(self, names_):
            if names_ is not None and len(self.reads) >= 1:
                raise RegistryError("reading the registry failed: down")
            return super().snapshot(names_)

    reg = Down(seed)
    plan = make_plan(want, reg)
    with pytest.raises(ApplyFailed) as e:
        apply_plan(plan, reg, prepare=ModelGuard(reg, plan, want, batch=2))
    assert e.value.applied == []
    assert [(c.model, msg) for c, msg in e.value.failures] == [
        (n, "reading the registry failed: down") for n in names[:3]
    ]  # three failures in a row: the fourth model is not started
