"""The drift report as JSON (`format_version` "1", `kind` "drift"): for scripts and dashboards."""

from __future__ import annotations

import json

from reconciler.drift.report import DriftReport


class JsonDriftRenderer:
    name = "json"

    def render(self, report: DriftReport) -> str:
        return json.dumps(report.to_json(), indent=2) + "\n"
