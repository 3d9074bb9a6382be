"""The versioned plan JSON of SPEC.md (the same document `plan --out` writes)."""

from __future__ import annotations

from reconciler.plan.model import Plan


class JsonRenderer:
    name = "json"

    def render(self, plan: Plan) -> str:
        return plan.dumps()
