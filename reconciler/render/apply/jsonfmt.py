"""Apply as JSON (SPEC "Apply JSON"): the plan document with an `apply` member, printed once at the end."""

from __future__ import annotations

import json

from reconciler.apply.executor import ModelOutcome
from reconciler.apply.report import ApplyReport
from reconciler.plan.model import Plan


class JsonApplyRenderer:
    name = "json"

    def plan(self, plan: Plan) -> str:
        return ""

    def started(self) -> str:
        return ""

    def progress(self, outcome: ModelOutcome) -> str:
        return ""

    def render(self, report: ApplyReport) -> str:
        return json.dumps({**report.plan.to_json(), "apply": report.to_json()}, indent=2) + "\n"
