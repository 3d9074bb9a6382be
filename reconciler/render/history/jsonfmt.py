"""History as JSON (`format_version` "1", `kind` "history"): full SHAs, for scripts."""

from __future__ import annotations

import json

from reconciler.history.timeline import History


class JsonHistoryRenderer:
    name = "json"

    def render(self, history: History) -> str:
        return json.dumps(history.to_json(), indent=2) + "\n"
