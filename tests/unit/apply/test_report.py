"""One ApplyReport per apply, rendered as text or JSON (SPEC "Apply JSON"); a failed apply's
ApplyFailed carries the executor's result that the report is built from."""

from __future__ import annotations

import json

import pytest
from test_apply_parallel import Recording, promotion_plan

from reconciler.apply.executor import apply_plan
from reconciler.apply.report import ApplyReport, Status
from reconciler.errors import ApplyFailed
from reconciler.render.apply import failure_lines, renderer


def test_a_failed_apply_reports_what_was_and_was_not_applied_in_every_format():
    plan = promotion_plan()
    with pytest.raises(ApplyFailed) as info:
        apply_plan(plan, Recording(fail={("m2", "alias")}), parallelism=2)
    report = ApplyReport(plan, Status.FAILED, info.value.result)
    assert report.exit_code == 1
    member = json.loads(renderer("json").render(report))["apply"]
    assert list(member) == ["status", "applied", "registered", "failed", "not_applied"]
    assert member["status"] == "failed" and member["applied"] == 22
    assert [(f["model"], f["action"], f["error"]) for f in member["failed"]] == [
        ("m2", "set_alias", "alias failed against memory://: boom on m2")]
    assert [(c["model"], c["action"]) for c in member["not_applied"]] == [("m2", "set_model_tag")]
    lines = failure_lines(report)
    assert lines[0] == "Error: alias failed against memory://: boom on m2"
    assert "Applied 22 of 24 changes." in lines
    assert lines[-1] == "The registry is partly converged; fix the cause and run apply again."
    assert renderer("text").render(report) == ""  # the failure goes to stderr only


def test_a_complete_apply_is_summarised_and_its_json_keeps_the_spec_keys():
    plan = promotion_plan()
    report = ApplyReport(plan, Status.APPLIED, apply_plan(plan, Recording()), audit_tags=12, audit_models=6)
    assert report.exit_code == 0 and failure_lines(report) == []
    assert renderer("text").render(report) == (
        "\nApply complete! 24 changes applied.\nRecorded the audit trail on 6 models (12 mlflow-gitops.* tags).\n")
    member = json.loads(renderer("json").render(report))["apply"]
    assert member == {"status": "applied", "applied": 24, "made_meanwhile": 0, "audit_tags": 12, "registered": []}


@pytest.mark.parametrize("status", [Status.NO_CHANGES, Status.BLOCKED])
def test_nothing_applied_is_a_short_json_member(status):
    report = ApplyReport(promotion_plan([]), status)
    assert report.to_json() == {"status": status.value, "applied": 0, "registered": []}
