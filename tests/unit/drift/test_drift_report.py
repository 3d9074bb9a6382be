"""The drift report (pure) and its renderers, on in-memory snapshots."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace

from support.builders import desired, dm, dv, lm, lv, snap

from reconciler.drift.report import build
from reconciler.plan.diff import diff
from reconciler.registry.snapshot import LiveModel
from reconciler.render.drift import DRIFT_RENDERERS, render
from reconciler.render.plan.markdown import COMMENT_LIMIT


def report(want, have, fail_on_unmanaged=False):
    return build(want, have, diff(want, have), "http://mlflow.example", fail_on_unmanaged)


def test_exit_code_counts_undeclared_models_only_with_fail_on_unmanaged():
    want = desired(dm("m", dv(version=1, stage="Production")))
    have = snap(lm("m", lv(1, "Production")), lm("stray"),
                LiveModel(name="gone", audit={"mlflow-gitops.manifest": "old.yaml"}))
    lenient, strict = report(want, have), report(want, have, fail_on_unmanaged=True)
    assert (lenient.exit_code, strict.exit_code) == (0, 2)
    assert [u.name for u in lenient.unmanaged] == ["stray"]
    assert [u.name for u in lenient.orphaned] == ["gone"]
    doc = json.loads(render("json", strict))
    assert doc["summary"] == {"managed_models": 1, "drifted_models": 0, "drifted_fields": 0, "unmanaged_models": 1,
                              "orphaned_models": 1, "fail_on_unmanaged": True}


def test_each_managed_field_becomes_one_drifted_row_with_git_and_live_values():
    want = desired(dm("m", dv(version=2, stage="Production", aliases=["champion"], tags={"k": "v"}),
                      description="git"))
    have = snap(lm("m", lv(1, "Production"), lv(2, "Staging", tags={"k": "hand"}), description="live",
                   aliases={"champion": "1"}))
    rows = [(d.version, d.field, d.git, d.live) for d in report(want, have).drift]
    assert rows == [
        ("2", "stage", "Production", "Staging"),
        ("2", "aliases.champion", "2", "1"),
        ("2", "tags.k", "v", "hand"),
        (None, "description", "git", "live"),
    ]


def test_hostile_live_values_cannot_break_the_xml_or_fake_terminal_lines():
    evil = "x\x1b[2K\x00\x07\u202e done\nfake line"
    want = desired(dm("m", description="clean"))
    have = snap(lm("m", description=evil), lm("stray\x1b[31m\x01"))
    r = report(want, have)
    suites = ET.fromstring(render("junit", r))  # parses: no raw control characters in XML
    assert suites.get("failures") == "1"
    for fmt in DRIFT_RENDERERS:
        text = render(fmt, r)
        assert "\x1b" not in text and "\x00" not in text and "\u202e" not in text, fmt


def test_markdown_stays_under_the_comment_limit_and_collapses_long_reports():
    want = desired(*(dm(f"model_{i}", description="x" * 200) for i in range(2000)))
    have = snap(*(lm(f"model_{i}", description="y" * 200) for i in range(2000)))
    text = render("markdown", report(want, have))
    assert len(text) < COMMENT_LIMIT
    assert "<details>" in text
    assert "more not shown" in text and text.count("<details>") == text.count("</details>")


def test_in_sync_text_says_so():
    want = desired(dm("m", dv(version=1, stage="Staging")))
    text = render("text", report(want, snap(lm("m", lv(1, "Staging")))))
    assert "No drift: the 1 managed model matches git." in text


def test_a_declared_version_deleted_by_hand_is_drift_not_an_input_error():
    from reconciler.drift.report import without_missing_versions

    want = desired(dm("m", dv(version=5, stage="Production"), dv(version=1, stage="Archived")))
    have = snap(lm("m", lv(1, "Production")))
    present, missing = without_missing_versions(want, have)
    r = build(present, have, diff(present, have), "uri", missing=missing)
    assert [(d.version, d.field, d.action) for d in r.drift] == [("5", "version", None), ("1", "stage", "transition_stage")]
    assert r.exit_code == 2
    text = render("text", r)
    assert "~ version 5: declared in git, absent from the registry [deleted from the registry; apply cannot bring it " \
        "back: declare another version]" in text
    # one story: the footer does not then tell to "restore" it with apply
    assert ("Run `mlflow-gitops apply` to restore what git declares, or change the manifests to adopt the live values "
            "(1 deleted version cannot be brought back: declare another version).") in text


def test_only_deleted_versions_are_not_sent_to_apply():
    from reconciler.drift.report import without_missing_versions

    want = desired(dm("m", dv(version=5, stage="Production")))
    have = snap(lm("m", lv(1, "None")))
    present, missing = without_missing_versions(want, have)
    text = render("text", build(present, have, diff(present, have), "uri", missing=missing))
    assert "Run `mlflow-gitops apply`" not in text
    assert "Change the manifests: apply cannot bring back a version deleted from the registry." in text
    assert "Drift: 1 field in 1 of 1 managed model differs from git." in text


def test_tag_and_alias_drift_claims_no_time_mlflow_does_not_keep():
    # MLflow leaves last_updated_timestamp alone on tag and alias writes: the model's timestamp is
    # not when the tag changed
    want = desired(dm("m", dv(version=1, aliases=["champion"], tags={"k": "v"}), tags={"team": "a"}))
    stamp = 1_700_000_000_000
    have = snap(replace(lm("m", replace(lv(1, "None", tags={"k": "hand"}), last_updated_timestamp=stamp),
                           tags={"team": "b"}), last_updated_timestamp=stamp))
    r = report(want, have)
    assert {d.field: d.changed_at for d in r.drift} == {"aliases.champion": None, "tags.k": None, "tags.team": None}
    text = render("text", r)
    assert "last updated" not in text
    assert "when unknown (MLflow keeps no time of tag and alias changes)" in text


def test_commit_shas_are_12_characters_in_human_formats_and_whole_in_json():
    from reconciler.apply.audit import APPLIED_TAG

    sha = "0123456789abcdef0123456789abcdef01234567"
    want = desired(dm("m", description="git"))
    have = snap(replace(lm("m", description="live"),
                        audit={APPLIED_TAG: f"2026-11-27T16:06:15Z by ci-bot, commit {sha}+dirty"}))
    r = report(want, have)
    for fmt in ("text", "markdown", "junit"):
        shown = render(fmt, r)
        assert "commit 0123456789ab+dirty" in shown and sha not in shown, fmt
    assert json.loads(render("json", r))["drift"][0]["last_applied"].endswith(f"commit {sha}+dirty")
