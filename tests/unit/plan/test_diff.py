import pytest
from support.builders import desired, dm, dv, lm, lv, snap

from reconciler.errors import InputError
from reconciler.manifest.desired import Policy
from reconciler.plan.diff import diff


def rows(changes):
    return [(c.action, c.model, c.version, c.before, c.after, c.alias or c.key) for c in changes]


def test_in_sync_registry_gives_no_changes():
    want = desired(dm("m", dv(version=1, stage="Production", aliases=["champion"], description="d",
                                tags={"a": "1"}), description="x", tags={"t": "v"}))
    have = snap(lm("m", lv(1, "Production", "d", {"a": "1"}), description="x", tags={"t": "v"},
                   aliases={"champion": "1"}))
    assert diff(want, have) == []


def test_seed_promote_and_demote_is_promotion_first():
    want = desired(dm("taxi", dv(version=4, stage="Archived"), dv(version=5, stage="Production")))
    have = snap(lm("taxi", lv(4, "Production"), lv(5, "Staging")))
    assert rows(diff(want, have)) == [
        ("transition_stage", "taxi", "5", "Staging", "Production", None),
        ("transition_stage", "taxi", "4", "Production", "Archived", None),
    ]


def test_full_ordering_within_a_model_and_across_models():
    want = desired(
        dm("b", dv(source="s3://x", stage="Staging", aliases=["challenger"], description="new", tags={"k": "v"}),
           description="model b", tags={"team": "t"}),
        dm("a", dv(version=2, stage="None"), dv(version=1, stage="Production")),
    )
    have = snap(lm("a", lv(1, "Staging"), lv(2, "Production")))
    assert [(c.model, c.action, c.version, c.ref) for c in diff(want, have)] == [
        ("a", "transition_stage", "1", None),
        ("a", "transition_stage", "2", None),
        ("b", "create_model", None, None),
        ("b", "register_version", None, "source:s3://x"),
        ("b", "transition_stage", None, "source:s3://x"),
        ("b", "set_alias", None, "source:s3://x"),
        ("b", "set_model_tag", None, None),
        ("b", "set_version_tag", None, "source:s3://x"),
        ("b", "update_model_description", None, None),
        ("b", "update_version_description", None, "source:s3://x"),
    ]


def test_promotions_to_production_come_before_staging_and_demotions_archived_before_none():
    want = desired(dm("m", dv(version=1, stage="None"), dv(version=2, stage="Archived"),
                      dv(version=3, stage="Staging"), dv(version=4, stage="Production")))
    have = snap(lm("m", lv(1, "Staging"), lv(2, "Production"), lv(3, "None"), lv(4, "None")))
    assert [(c.version, c.after) for c in diff(want, have)] == [
        ("4", "Production"), ("3", "Staging"), ("2", "Archived"), ("1", "None"),
    ]


def test_missing_version_is_an_input_error_at_the_declaration():
    want = desired(dm("m", dv(12, version=9)))
    with pytest.raises(InputError) as e:
        diff(want, snap(lm("m", lv(1), lv(2))))
    assert e.value.messages() == ["m.yaml:12:5: model 'm' has no version 9 (registry has 1, 2)"]


def test_run_id_matching_two_versions_asks_for_version():
    want = desired(dm("m", dv(7, run_id="abc")))
    with pytest.raises(InputError) as e:
        diff(want, snap(lm("m", lv(1, run_id="abc"), lv(3, run_id="abc"))))
    assert "m.yaml:7:5: run_id 'abc' matches versions 1, 3" in str(e.value)
    assert "use `version:`" in str(e.value)


def test_run_id_and_source_match_existing_versions_so_nothing_is_registered_twice():
    want = desired(dm("m", dv(run_id="abc", stage="Staging"), dv(source="s3://b", stage="Production")))
    have = snap(lm("m", lv(1, "Staging", run_id="abc", source="models:/m-1"), lv(2, "Production", source="s3://b")))
    assert diff(want, have) == []


def test_two_selectors_resolving_to_one_version_is_an_error():
    want = desired(dm("m", dv(3, version=1), dv(8, source="s3://b")))
    with pytest.raises(InputError) as e:
        diff(want, snap(lm("m", lv(1, source="s3://b"))))
    assert str(e.value).startswith("m.yaml:8:5: declares version 1 of model 'm' again (already declared at m.yaml:3")


def test_alias_moves_between_versions():
    want = desired(dm("m", dv(version=2, aliases=["champion"])))
    have = snap(lm("m", lv(1), lv(2), aliases={"champion": "1"}))
    assert rows(diff(want, have)) == [("set_alias", "m", "2", "1", "2", "champion")]


def test_undeclared_alias_kept_unless_prune_aliases():
    have = snap(lm("m", lv(1), aliases={"champion": "1", "old": "1"}))
    keep = desired(dm("m", dv(version=1, aliases=["champion"])))
    assert diff(keep, have) == []
    prune = desired(dm("m", dv(version=1, aliases=["champion"]), policy=Policy(prune_aliases=True)))
    changes = diff(prune, have)
    assert rows(changes) == [("delete_alias", "m", "1", "1", None, "old")]
    assert changes[0].reason == "policy prune_aliases: true"


def test_tags_listed_keys_managed_prune_deletes_undeclared_but_never_reserved():
    have = snap(lm("m", lv(1, tags={"a": "1", "x": "y"}), tags={"team": "old", "extra": "e",
                                                                "mlflow-gitops.managed": "true"}))
    want = desired(dm("m", dv(version=1, tags={"a": "2"}), tags={"team": "new"}))
    assert rows(diff(want, have)) == [
        ("set_model_tag", "m", None, "old", "new", "team"),
        ("set_version_tag", "m", "1", "1", "2", "a"),
    ]
    pruned = desired(dm("m", dv(version=1, tags={"a": "2"}), tags={"team": "new"}, policy=Policy(prune_tags=True)))
    assert rows(diff(pruned, have)) == [
        ("set_model_tag", "m", None, "old", "new", "team"),
        ("delete_model_tag", "m", None, "e", None, "extra"),
        ("set_version_tag", "m", "1", "1", "2", "a"),
        ("delete_version_tag", "m", "1", "y", None, "x"),
    ]


def test_description_absent_is_unmanaged_and_empty_clears():
    have = snap(lm("m", lv(1, description="v"), description="old"))
    assert diff(desired(dm("m", dv(version=1))), have) == []
    assert rows(diff(desired(dm("m", dv(version=1, description=""), description="")), have)) == [
        ("update_model_description", "m", None, "old", "", None),
        ("update_version_description", "m", "1", "v", "", None),
    ]


def test_unmanaged_versions_archive_only_touches_active_undeclared_versions():
    have = snap(lm("m", lv(1, "Production"), lv(2, "Staging"), lv(3, "None"), lv(4, "Production")))
    want = desired(dm("m", dv(version=4, stage="Production"), policy=Policy(unmanaged_versions="archive")))
    changes = diff(want, have)
    assert rows(changes) == [
        ("transition_stage", "m", "1", "Production", "Archived", None),
        ("transition_stage", "m", "2", "Staging", "Archived", None),
    ]
    assert {c.reason for c in changes} == {"policy unmanaged_versions: archive"}
    assert diff(desired(dm("m", dv(version=4, stage="Production"))), have) == []


def test_stage_absent_is_unmanaged():
    assert diff(desired(dm("m", dv(version=1))), snap(lm("m", lv(1, "Production")))) == []


def test_changes_point_at_the_manifest_line():
    want = desired(dm("m", dv(14, version=1, stage="Production")))
    [change] = diff(want, snap(lm("m", lv(1))))
    assert change.source == "m.yaml:14"


STAGE_ALIASES = Policy(stage_aliases={"Production": "champion", "Staging": "challenger"})


def test_stage_aliases_follow_the_version_that_will_be_in_the_stage():
    want = desired(dm("m", dv(version=2, stage="Production"), dv(version=1, stage="Archived"), policy=STAGE_ALIASES))
    have = snap(lm("m", lv(1, "Production"), lv(2, "Staging"), lv(3, "Staging"), aliases={"champion": "1"}))
    changes = diff(want, have)
    assert rows(changes) == [
        ("transition_stage", "m", "2", "Staging", "Production", None),
        ("transition_stage", "m", "1", "Production", "Archived", None),
        ("set_alias", "m", "2", "1", "2", "champion"),
        ("set_alias", "m", "3", None, "3", "challenger"),  # undeclared v3 stays in Staging
    ]
    assert all(c.reason.startswith("policy stage_aliases") for c in changes if c.action == "set_alias")


def test_stage_alias_of_an_empty_stage_is_deleted_and_newest_version_wins():
    want = desired(dm("m", dv(version=1, stage="Archived"), policy=STAGE_ALIASES))
    have = snap(lm("m", lv(1, "Production"), lv(4, "Staging"), lv(5, "Staging"), aliases={"champion": "1"}))
    assert rows(diff(want, have)) == [
        ("transition_stage", "m", "1", "Production", "Archived", None),
        ("set_alias", "m", "5", None, "5", "challenger"),
        ("delete_alias", "m", "1", "1", None, "champion"),
    ]


def test_stage_alias_points_at_a_version_still_to_register_and_is_kept_by_prune_aliases():
    policy = Policy(stage_aliases={"Production": "champion"}, prune_aliases=True, unmanaged_versions="archive")
    want = desired(dm("m", dv(source="s3://new", stage="Production"), policy=policy))
    have = snap(lm("m", lv(1, "Production"), aliases={"champion": "1", "old": "1"}))
    changes = diff(want, have)
    assert [(c.action, c.version, c.ref, c.alias) for c in changes if "alias" in c.action] == [
        ("set_alias", None, "source:s3://new", "champion"),
        ("delete_alias", "1", None, "old"),
    ]


def test_stage_aliases_in_sync_give_no_changes():
    want = desired(dm("m", dv(version=2, stage="Production"), policy=STAGE_ALIASES))
    have = snap(lm("m", lv(1, "Archived"), lv(2, "Production"), aliases={"champion": "2"}))
    assert diff(want, have) == []
