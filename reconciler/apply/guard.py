"""The optimistic check made right before a model's changes are applied.

A plan records a fingerprint of each model it touches. Right before applying a model, the applier
compares it with a fresh read of that model. Same fingerprint: the planned changes are applied.
Otherwise someone wrote to the model in between (another apply, a person, a training pipeline):

- applying manifests (`apply PATH...`), the model is planned again against what it is now. When
  every change of the new plan was already in the approved one (typically: a concurrent apply of
  the same manifests did part of the work), the new plan is applied -- usually less, often
  nothing. Anything the approved plan did not contain (a change someone else made that would now
  be reverted, a different version to promote) is not applied: that model stops with a message
  naming the first such change, and apply exits 1 after the other models;
- applying a saved plan (`apply PLANFILE`), whose changes were approved exactly, the model stops.

Versions that the approved plan would register and that meanwhile exist (registered by a
concurrent apply) are matched to it by their selector, so their changes still count as approved.

Fresh reads are shared: reading one model costs the same two searches as reading a few dozen
(`name IN (...)`), so the first model of a batch to start reads itself and the next models about
to start (`BATCH_PER_WORKER` per worker, in the applier's order), and those use that read. A
change made to a model between that read and the model's first write goes unnoticed, as it would
between a per-model read and the write right after it; the window is at most one batch of models
(about `BATCH_PER_WORKER` models' worth of writes per worker) and never more than `MAX_AGE`
seconds: an older read is not used, the model is read again.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from reconciler.errors import InputError, Problem, ReconcilerError
from reconciler.manifest.desired import DesiredState
from reconciler.plan.diff import diff_model, resolve_versions
from reconciler.plan.model import Change, Plan
from reconciler.plan.order import ordered
from reconciler.registry.protocol import SnapshotReader
from reconciler.registry.snapshot import ABSENT_FINGERPRINT, PROMPT_REFUSAL, Snapshot
from reconciler.render.describe import describe, new_version_labels, subject

if TYPE_CHECKING:
    from reconciler.apply.lock import RegistryLock

# Per worker: with 8 workers, 32 models per read -- 16 reads of 2 searches for 500 models instead
# of 500, while a batch is done within a few writes per worker.
BATCH_PER_WORKER = 4
MAX_AGE = 2.0  # seconds a shared read may be used for


class ModelChanged(ReconcilerError):
    """A model changed since it was planned, beyond what the plan foresaw; nothing of it applied."""


def _key(c: Change, ref_of: dict[str, str]) -> tuple:
    subject_ = c.ref if c.ref is not None else ref_of.get(c.version or "", c.version)
    after = None if c.action == "set_alias" else json.dumps(c.after, sort_keys=True)
    return (c.action, subject_, c.key, c.alias, after)


class _Read:
    """One fresh read of a batch of models, made by the first of them to start."""

    def __init__(self, names: list[str]):
        self.names = names
        self.done = threading.Event()
        self.snapshot: Snapshot | None = None
        self.error: Exception | None = None
        self.at = 0.0  # monotonic time the read finished

    def stale(self, now: float) -> bool:
        return self.done.is_set() and now - self.at > MAX_AGE


class ModelGuard:
    """Callable(model, planned changes) -> the changes to apply now; raises ModelChanged.
    Thread-safe: the applier's workers call it concurrently."""

    def __init__(
        self,
        registry: SnapshotReader,
        plan: Plan,
        desired: DesiredState | None = None,
        lock: RegistryLock | None = None,
        say: Callable[[str], None] = lambda _: None,
        origin: str = "the plan",
        batch: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.registry = registry
        self.plan = plan
        self.desired = {m.name: m for m in desired.models} if desired is not None else None
        self.lock = lock
        self.say = say
        self.origin = origin
        self.replanned: dict[str, int] = {}  # model -> changes still needed after re-planning
        workers = max(1, getattr(registry, "parallelism", 1))
        self.batch = max(1, batch if batch is not None else BATCH_PER_WORKER * workers)
        self.clock = clock
        # The applier starts models in plan order (reconciler.apply.executor); only models the plan saw are read.
        self._order = [name for name in plan.by_model() if name in plan.prior_state]
        self._index = {name: i for i, name in enumerate(self._order)}
        self._reads: dict[str, _Read] = {}  # model -> the read it will use (or is being made)
        self._started: set[str] = set()
        self._mutex = threading.Lock()
        self.reads = 0  # batches read (each: the registry's two searches)

    def __call__(self, model: str, changes: list[Change]) -> list[Change]:
        if self.lock is not None:
            self.lock.check()
        seen = self.plan.prior_state.get(model)
        if seen is None:
            return changes
        now = self._fresh(model)
        if now.fingerprint(model) == seen:
            return changes
        if model in now.prompts:
            raise ModelChanged(
                f"'{model}' {PROMPT_REFUSAL} (it became one since {self.origin} was made); none of its "
                f"{len(changes)} planned changes were applied."
            )
        what = "was created" if seen == ABSENT_FINGERPRINT else "changed"
        if self.desired is None or model not in self.desired:
            raise ModelChanged(
                f"model '{model}' {what} in the registry since {self.origin} was made; none of its "
                f"{len(changes)} planned changes were applied. Run plan again."
            )
        fresh = self._replan(model, now.models.get(model), changes)
        with self._mutex:
            self.replanned[model] = len(fresh)
        self.say(
            f"Model '{model}' {what} in the registry since it was planned (another apply?); "
            f"planned it again: {len(fresh)} of its {len(changes)} {'change' if len(changes) == 1 else 'changes'} "
            "still needed."
        )
        return fresh

    def _fresh(self, model: str) -> Snapshot:
        """The model as it is now: from a read shared with the models started just before it, or
        from a new read of it and the next models not yet read."""
        with self._mutex:
            self._started.add(model)
            read = self._reads.pop(model, None)
            mine = read is None or read.stale(self.clock())
            if mine:
                read = self._claim(model)
        if mine:
            try:
                read.snapshot = self.registry.snapshot(read.names)
            except Exception as e:  # every model waiting for this read fails as this one does
                read.error = e
            finally:
                read.at = self.clock()
                read.done.set()
        read.done.wait()
        if read.error is not None:
            raise read.error
        return read.snapshot

    def _claim(self, model: str) -> _Read:
        """A new read of `model` and the models after it that have no usable read (caller holds
        the mutex). It stops at the first model already started or covered by a usable read, so
        a read reaches no further than the models about to start, and never sees our own writes."""
        now = self.clock()
        names = [model]
        start = self._index.get(model, len(self._order)) + 1
        for name in self._order[start:]:
            if len(names) >= self.batch:
                break
            pending = self._reads.get(name)
            if name in self._started or (pending is not None and not pending.stale(now)):
                break
            names.append(name)
        read = _Read(names)
        for name in names[1:]:
            self._reads[name] = read
        self.reads += 1
        return read

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
