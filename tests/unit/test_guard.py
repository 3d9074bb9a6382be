"""The check right before a model is applied: unchanged -> as planned; changed by a concurrent apply
of the same manifests -> only what is still needed; changed otherwise -> that model stops."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from builders import desired, dm, dv

sys.path.insert(0, str(Path(__file__).parents[1]))

from memregistry import MemoryRegistry  # noqa: E402

from reconciler.guard import ModelChanged, ModelGuard  # noqa: E402
from reconciler.planner import make_plan  # noqa: E402

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
    from reconciler.apply import PartialApplyError, apply_plan

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

    with pytest.raises(PartialApplyError) as e:
        apply_plan(plan, reg, prepare=guard)
    assert sorted(asked) == ["m", "n"]
    assert [c.model for c in e.value.applied] == ["m"] * 6
    assert [(c.model, msg) for c, msg in e.value.failures] == [("n", "n changed")]
    assert reg.models["n"].versions["1"].stage == "Staging"  # nothing of n was applied
