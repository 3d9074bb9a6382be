"""What one `apply` did, as one value: the plan, how it ended, and the executor's ApplyResult.
Renderers (reconciler.render.apply) turn it into text or JSON, as they do a Plan or DriftReport."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from reconciler.apply.executor import ApplyResult
from reconciler.plan.model import Change, Plan


class Status(str, Enum):
    """`apply.status` in the JSON output (SPEC "Apply JSON")."""

    APPLIED = "applied"
    NO_CHANGES = "no_changes"
    BLOCKED = "blocked"  # promotion gates failed: nothing was applied
    FAILED = "failed"
    INTERRUPTED = "interrupted"


@dataclass
class ApplyReport:
    plan: Plan
    status: Status
    result: ApplyResult = field(default_factory=ApplyResult)
    audit_tags: int = 0  # mlflow-gitops.* tags written by the audit trail
    audit_models: int = 0  # models those tags went on

    @property
    def applied(self) -> list[Change]:
        return self.result.applied

    @property
    def failures(self) -> list[tuple[Change, str]]:
        return self.result.failures

    @property
    def not_applied(self) -> list[Change]:
        return self.result.not_applied

    @property
    def made_meanwhile(self) -> int:
        """Planned changes someone else made before we got to them (reconciler.apply.guard)."""
        return len(self.plan.changes) - len(self.applied)

    @property
    def exit_code(self) -> int:
        return {Status.FAILED: 1, Status.BLOCKED: 1, Status.INTERRUPTED: 130}.get(self.status, 0)

    def registered_json(self) -> list[dict]:
        """The number each registered version got (SPEC: `apply.registered`), in a stable order."""
        return [{"model": model, "ref": ref, "version": version}
                for (model, ref), version in sorted(self.result.registered.items(),
                                                    key=lambda kv: (kv[0][0], len(kv[1]), kv[1]))]

    def to_json(self) -> dict:
        """The `apply` member of the JSON output."""
        if self.status in (Status.BLOCKED, Status.NO_CHANGES):
            return {"status": self.status.value, "applied": 0, "registered": []}
        if self.status is Status.APPLIED:
            return {"status": "applied", "applied": len(self.applied), "made_meanwhile": self.made_meanwhile,
                    "audit_tags": self.audit_tags, "registered": self.registered_json()}
        return {
            "status": self.status.value,
            "applied": len(self.applied),
            "registered": self.registered_json(),
            "failed": [{**c.to_json(), "error": message} for c, message in self.failures],
            "not_applied": [c.to_json() for c in self.not_applied],
        }
