"""The optimistic check made right before a model's changes are applied.

A plan records a fingerprint of each model it touches. Right before applying a model, the applier
re-reads that model (one search of models and one of versions, by name). Same fingerprint: the
planned changes are applied. Otherwise someone wrote to the model in between (another apply, a
person, a training pipeline):

- applying manifests (`apply PATH...`), the model is planned again against what it is now. When
  every change of the new plan was already in the approved one (typically: a concurrent apply of
  the same manifests did part of the work), the new plan is applied -- usually less, often
  nothing. Anything the approved plan did not contain (a change someone else made that would now
  be reverted, a different version to promote) is not applied: that model stops with a message
  naming the first such change, and apply exits 1 after the other models;
- applying a saved plan (`apply PLANFILE`), whose changes were approved exactly, the model stops.

Versions that the approved plan would register and that meanwhile exist (registered by a
concurrent apply) are matched to it by their selector, so their changes still count as approved.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from reconciler.desired import DesiredState
from reconciler.diff import diff_model, resolve_versions
from reconciler.errors import InputError, Problem, ReconcilerError
from reconciler.order import ordered
from reconciler.plan import Change, Plan
from reconciler.render.describe import describe, new_version_labels, subject
from reconciler.state import ABSENT_FINGERPRINT


class ModelChanged(ReconcilerError):
    """A model changed since it was planned, beyond what the plan foresaw; nothing of it applied."""


def _key(c: Change, ref_of: dict[str, str]) -> tuple:
    subject_ = c.ref if c.ref is not None else ref_of.get(c.version or "", c.version)
    after = None if c.action == "set_alias" else json.dumps(c.after, sort_keys=True)
    return (c.action, subject_, c.key, c.alias, after)


class ModelGuard:
    """Callable(model, planned changes) -> the changes to apply now; raises ModelChanged."""

    def __init__(
        self,
        registry,
        plan: Plan,
        desired: DesiredState | None = None,
        lock=None,
        say: Callable[[str], None] = lambda _: None,
        origin: str = "the plan",
    ):
        self.registry = registry
        self.plan = plan
        self.desired = {m.name: m for m in desired.models} if desired is not None else None
        self.lock = lock
        self.say = say
        self.origin = origin
        self.replanned: dict[str, int] = {}  # model -> changes still needed after re-planning

    def __call__(self, model: str, changes: list[Change]) -> list[Change]:
        if self.lock is not None:
            self.lock.check()
        seen = self.plan.prior_state.get(model)
        if seen is None:
            return changes
        now = self.registry.snapshot([model])
        if now.fingerprint(model) == seen:
            return changes
        what = "was created" if seen == ABSENT_FINGERPRINT else "changed"
        if self.desired is None or model not in self.desired:
            raise ModelChanged(
                f"model '{model}' {what} in the registry since {self.origin} was made; none of its "
                f"{len(changes)} planned changes were applied. Run plan again."
            )
        fresh = self._replan(model, now.models.get(model), changes)
        self.replanned[model] = len(fresh)
        self.say(
            f"Model '{model}' {what} in the registry since it was planned (another apply?); "
            f"planned it again: {len(fresh)} of its {len(changes)} changes still needed."
        )
        return fresh

    def _replan(self, model: str, live, approved: list[Change]) -> list[Change]:
        dm = self.desired[model]
        problems: list[Problem] = []
        fresh = ordered(diff_model(dm, live, problems))
        if problems:
            raise InputError(problems)
        refs = {c.ref for c in approved if c.ref is not None}
        ref_of: dict[str, str] = {}
        if live is not None:
            for r in resolve_versions(dm, live, []):
                key = r.declared.selector.key
                if r.version is not None and key in refs:
                    ref_of[r.version] = key
        allowed = {_key(c, {}) for c in approved}
        unforeseen = [c for c in fresh if _key(c, ref_of) not in allowed]
        if unforeseen:
            first = unforeseen[0]
            labels = new_version_labels(fresh)
            more = f" (and {len(unforeseen) - 1} more)" if len(unforeseen) > 1 else ""
            raise ModelChanged(
                f"model '{model}' changed in the registry since it was planned (by another apply or "
                f"by hand): it now needs {first.mark} {subject(first, labels)}: {describe(first)}{more}, "
                f"which the approved plan did not contain; none of its changes were applied. "
                "Run plan again to review."
            )
        return fresh
