"""Export as a pure function of a live snapshot: what is written, what is left out and why, file
names, and the laws (the files load, validate, and diff to nothing against the snapshot)."""

from __future__ import annotations

import re
import string
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.export.documents import export_model, export_snapshot, file_names, schema_comment, shown
from reconciler.manifest.desired import DesiredState, Policy
from reconciler.manifest.load import load_tree
from reconciler.plan.diff import diff
from reconciler.registry.snapshot import LiveModel, LiveVersion, Snapshot


def load(documents, tmp: Path):
    """Write the exported documents as `export --out` names them, and load them as `plan` does."""
    names = file_names([d.name for d in documents])
    for d in documents:
        (tmp / names[d.name]).write_text(schema_comment("x.json") + d.body, encoding="utf-8")
    return load_tree([str(tmp)])


def test_a_model_is_written_in_a_stable_order_with_only_versions_that_carry_something():
    model = LiveModel(
        name="taxi",
        description="NYC taxi\ntrip durations\n",
        tags={"zeta": "1", "team": "mlops"},
        aliases={"champion": "3", "challenger": "2"},
        versions={
            "10": LiveVersion("10", stage="Archived", tags={"b": "2", "a": "yes"}),
            "3": LiveVersion("3", stage="Production", description="promoted"),
            "2": LiveVersion("2"),  # carries only an alias
            "1": LiveVersion("1"),  # bare: left out
        },
    )
    assert export_model(model).body == (
        "apiVersion: mlflow-gitops/v1\n"
        "kind: RegisteredModel\n"
        "name: taxi\n"
        "description: |\n"
        "  NYC taxi\n"
        "  trip durations\n"
        "tags:\n"
        "  team: mlops\n"
        '  zeta: "1"\n'
        "versions:\n"
        "  - version: 2\n"
        "    aliases: [challenger]\n"
        "  - version: 3\n"
        "    stage: Production\n"
        "    aliases: [champion]\n"
        "    description: promoted\n"
        "  - version: 10\n"
        "    stage: Archived\n"
        "    tags:\n"
        '      a: "yes"\n'
        '      b: "2"\n'
    )


def test_a_model_without_anything_to_manage_is_just_declared():
    body = export_model(LiveModel(name="bare", versions={"1": LiveVersion("1")})).body
    assert body == "apiVersion: mlflow-gitops/v1\nkind: RegisteredModel\nname: bare\n"


def test_refused_values_are_left_out_with_a_comment_and_a_warning(tmp_path):
    model = LiveModel(
        name="m",
        description="x" * 5001,
        tags={"ok": "fine", "team\n": "newline in key", "long": "y" * 5001, "bell": "ding\x07"},
        aliases={"ünï": "1", "champion": "1"},
        versions={"1": LiveVersion("1", stage="Staging", description="esc\x1b[2J", tags={"url": "https://u:p@h/x"})},
    )
    exported = export_model(model)
    body = exported.body
    assert "# description left out (not managed): 5001 characters, over the 5000 a manifest allows" in body
    assert "# tag left out (not managed): tag key 'team\\n' contains '\\n'" in body
    assert "# tag 'long' left out (not managed): 5001 characters" in body
    assert "# tag 'bell' left out (not managed): contains the control character U+0007" in body
    assert "# version 1's alias left out (not managed): alias 'ünï' is not valid" in body
    assert "# version 1's description left out (not managed): contains the control character U+001B" in body
    assert "# version 1's tag 'url' left out (not managed): it looks like a credential" in body
    assert "u:p@" not in body and "yyyy" not in body and "\x07" not in body
    assert len(exported.warnings) == 7
    assert all(w.startswith("model 'm': ") for w in exported.warnings)
    desired = load([exported], tmp_path)
    (dm,) = desired.models
    assert dm.description is None and dm.tags == {"ok": "fine"}
    assert dm.versions[0].aliases == ("champion",) and dm.versions[0].description is None
    assert diff(desired, Snapshot({"m": model})) == []


def test_values_in_comments_and_warnings_are_escaped_and_bounded():
    assert shown("x" * 100) == "'" + "x" * 60 + "...' (100 characters)"
    assert shown("it's" * 20).endswith('..." (80 characters)')
    assert shown("a\u2028b\x1b") == "'a\\u2028b\\x1b'"


def test_a_model_whose_name_manifests_refuse_is_skipped_with_a_warning():
    snapshot = Snapshot({n: LiveModel(name=n) for n in ["ok", "bad\x01name", "x" * 300, "a\u202eb"]})
    result = export_snapshot(snapshot)
    assert [d.name for d in result.documents] == ["ok"]
    assert len(result.skipped) == 3 and all("skipped" in w for w in result.skipped)
    assert "\x01" not in "".join(result.skipped) and "\u202e" not in "".join(result.skipped)


def test_by_source_selects_unique_sources_and_explains_every_fallback(tmp_path):
    versions = {
        "1": LiveVersion("1", stage="Archived", source="s3://b/shared"),
        "2": LiveVersion("2", stage="Archived", source="s3://b/shared"),
        "3": LiveVersion("3", stage="Production", source="s3://b/three"),
        "4": LiveVersion("4", stage="Staging", source=None),
        "5": LiveVersion("5", stage="Staging", source="s3://" + "x" * 500),
        "6": LiveVersion("6", stage="None", source="s3://b/six"),  # bare: not exported, still shares nothing
        "7": LiveVersion("7", stage="None", source="s3://b/three-bis", tags={"t": "v"}),
    }
    model = LiveModel(name="m", versions=versions)
    exported = export_model(model, by="source")
    body = exported.body
    assert "  # version 1: selected by number, its source is also the source of version 2\n  - version: 1\n" in body
    assert "  # version 2: selected by number, its source is also the source of version 1\n  - version: 2\n" in body
    assert "  - source: s3://b/three\n    stage: Production\n" in body
    assert "  # version 4: selected by number, it has no source\n  - version: 4\n" in body
    assert "# version 5: selected by number, its source is 505 characters, over the 500" in body
    assert "  - source: s3://b/three-bis\n" in body
    assert exported.by_number == 4 and exported.warnings == ()
    assert diff(load([exported], tmp_path), Snapshot({"m": model})) == []


def test_by_run_id_selects_unique_runs_and_keeps_a_non_default_artifact_path(tmp_path):
    run = "0a1b2c3d4e5f"
    versions = {
        "1": LiveVersion("1", stage="Archived", run_id="1e10", source="runs:/1e10/model"),
        "2": LiveVersion("2", stage="Production", run_id=run, source=f"runs:/{run}/clf/model"),
        "3": LiveVersion("3", stage="Staging", run_id="dup", source="s3://a"),
        "4": LiveVersion("4", stage="Staging", run_id="dup", source="s3://b"),
        "5": LiveVersion("5", stage="Staging", run_id="r5", source="mlflow-artifacts:/0/r5/artifacts/model"),
    }
    model = LiveModel(name="m", versions=versions)
    exported = export_model(model, by="run_id")
    body = exported.body
    assert '  - run_id: "1e10"\n    stage: Archived\n' in body  # a float to a YAML reader: quoted
    assert f"  - run_id: {run}\n    artifact_path: clf/model\n    stage: Production\n" in body
    assert "# version 3: selected by number, its run_id is also the run_id of version 4" in body
    assert "  - run_id: r5\n    stage: Staging\n" in body
    assert exported.by_number == 2
    assert diff(load([exported], tmp_path), Snapshot({"m": model})) == []


def test_file_names_are_safe_distinct_and_deterministic():
    names = ["churn", "Churn", "CHURN", "taxi trip", "modèle", "a.b", ".hidden", "con", "CON.model", "x" * 256,
             "a/b", "taxi_trip", "-dash", "ok-1"]
    files = file_names(names)
    assert files == file_names(list(reversed(names)))
    assert len({f.lower() for f in files.values()}) == len(names)
    for name, file in files.items():
        assert re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*\.yaml", file), file
        assert len(file) < 100
    assert files["taxi_trip"] == "taxi_trip.yaml" and files["a.b"] == "a.b.yaml" and files["ok-1"] == "ok-1.yaml"
    # changed names carry a hash of the original, so that two names changed alike cannot clash
    assert re.fullmatch(r"taxi_trip-[0-9a-f]{8}\.yaml", files["taxi trip"])
    assert re.fullmatch(r"mod_le-[0-9a-f]{8}\.yaml", files["modèle"])
    assert not files["con"].lower().startswith("con.")
    # names that differ in case only would share a file on macOS and Windows
    assert files["churn"] != "churn.yaml" and files["Churn"] != "Churn.yaml"


def test_a_hashed_file_name_cannot_clash_with_a_model_named_like_it():
    hashed = file_names(["taxi trip"])["taxi trip"][: -len(".yaml")]
    files = file_names(["taxi trip", hashed])
    assert len({f.lower() for f in files.values()}) == 2


# ---- the laws, over random snapshots ---------------------------------------------------------------

KEY_CHARS = string.ascii_letters + string.digits + "_-.:/ é"
TEXT = st.one_of(
    st.sampled_from(["", "yes", "null", "5", "1e3", "0x1", "~", "2026-11-20", " lead", "trail ", "a: b", "#x",
                     "multi\nline\n", "  indented\nblock", "quote's \"q\"", "cr\r\nlf", "tab\tx", "é ✓"]),
    st.text(max_size=30),
)
# (the snapshot never holds `mlflow.*` or `mlflow-gitops.*` tags: reconciler.registry.client keeps them apart)
KEYS = st.one_of(st.text(KEY_CHARS, min_size=1, max_size=12).filter(lambda k: not k.startswith("mlflow")),
                 st.sampled_from(["yes", "5", "a: b", "bad\nkey"]))
ALIASES = st.one_of(st.sampled_from(["champion", "challenger", "1", "true", "null", "ünï"]),
                    st.text(string.ascii_lowercase + "_-", min_size=1, max_size=6))


@st.composite
def live_models(draw):
    name = draw(st.one_of(st.sampled_from(["taxi", "Taxi", "taxi trip", "modèle", "yes", "5", "a#b"]),
                          st.text(string.ascii_letters + " ._-", min_size=1, max_size=15)))
    count = draw(st.integers(0, 6))
    versions = {}
    for i in range(1, count + 1):
        versions[str(i)] = LiveVersion(
            str(i),
            stage=draw(st.sampled_from(["None", "None", "Staging", "Production", "Archived"])),
            description=draw(TEXT),
            tags=draw(st.dictionaries(KEYS, TEXT, max_size=3)),
            run_id=draw(st.sampled_from([None, "r1", "r2", "1e5", f"run{i}"])),
            source=draw(st.sampled_from([None, "s3://b/1", "s3://b/2", f"s3://b/v{i}", "runs:/r1/model"])),
        )
    aliases = draw(st.dictionaries(ALIASES, st.sampled_from(sorted(versions)), max_size=4)) if versions else {}
    return LiveModel(name=name, description=draw(TEXT), tags=draw(st.dictionaries(KEYS, TEXT, max_size=4)),
                     aliases=aliases, versions=versions)


@settings(max_examples=150, deadline=None)
@given(st.lists(live_models(), max_size=4, unique_by=lambda m: m.name), st.sampled_from(["version", "source", "run_id"]))
def test_exports_load_validate_and_diff_to_nothing(models, by):
    snapshot = Snapshot({m.name: m for m in models})
    result = export_snapshot(snapshot, by)
    assert result == export_snapshot(snapshot, by)  # deterministic
    if not result.documents:
        return
    with tempfile.TemporaryDirectory() as tmp:
        desired = load(result.documents, Path(tmp))  # raises on any validation problem
    assert [m.name for m in desired.models] == sorted(d.name for d in result.documents)
    assert diff(desired, snapshot) == []
    # Nothing was forgotten: with every pruning policy on, the only changes left are deletions of
    # the tags and aliases left out with a warning (an export that wrote nothing would pass above).
    strict = Policy(unmanaged_versions="archive", prune_aliases=True, prune_tags=True)
    pruning = DesiredState(tuple(replace(m, policy=strict) for m in desired.models))
    changes = diff(pruning, snapshot)
    assert all(c.action.startswith("delete_") for c in changes), changes
    warnings = [w for d in result.documents for w in d.warnings]
    assert len(changes) == len([w for w in warnings if "description left out" not in w])
    for dm in desired.models:
        live = snapshot.models[dm.name]
        assert dm.description == (live.description or None) or any("description left out" in w for w in warnings)


@pytest.mark.parametrize("by", ["version", "source", "run_id"])
def test_unknown_by_is_refused(by):
    with pytest.raises(ValueError):
        export_snapshot(Snapshot({}), by + "x")
