"""The applier: executes a plan's changes, one registry call per change.

Models are independent: up to `parallelism` of them are applied at once, each by one worker that
makes that model's changes strictly in plan order (create, register, promote, demote, aliases, tags,
descriptions). A model whose call fails stops there; the other models go on. Only when several
models fail in a row (the registry is down, credentials expired) does it stop starting new ones.

It never recomputes the diff. Versions that the plan registers are referred to by their selector
(`ref`) until `register_version` returns their number.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from reconciler.errors import ApplyFailed, ReconcilerError
from reconciler.plan.actions import Action
from reconciler.plan.model import Change, Plan
from reconciler.registry.protocol import RegistryWriter


@dataclass
class ModelOutcome:
    """What happened to one model's changes."""

    model: str
    applied: list[Change] = field(default_factory=list)
    failed: Change | None = None
    error: str | None = None
    not_applied: list[Change] = field(default_factory=list)  # after the failure, or never started
    registered: dict[str, str] = field(default_factory=dict)  # ref -> the number the version got


@dataclass
class ApplyResult:
    """What an apply did; carried by ApplyFailed when it stopped part-way."""

    applied: list[Change] = field(default_factory=list)  # in the order they were made
    registered: dict[tuple[str, str], str] = field(default_factory=dict)  # (model, ref) -> version
    outcomes: list[ModelOutcome] = field(default_factory=list)  # in the order models finished
    interrupted: bool = False  # Ctrl-C: models in progress stopped after their current change
    stopped_early: bool = False  # models in a row failed: no further model was started

    @property
    def failures(self) -> list[tuple[Change, str]]:
        """Each failed change with its error, one per failed model."""
        return [(o.failed, o.error) for o in self.outcomes if o.failed is not None]

    @property
    def not_applied(self) -> list[Change]:
        return [c for o in self.outcomes for c in o.not_applied]


def _version(change: Change, result: ApplyResult) -> str:
    if change.version is not None:
        return change.version
    try:
        return result.registered[(change.model, change.ref)]
    except KeyError:
        raise ReconcilerError(f"plan refers to unregistered version {change.ref!r} of '{change.model}'") from None


def _create_model(reg: RegistryWriter, c: Change, result: ApplyResult) -> None:
    reg.create_model(c.model)


def _register_version(reg: RegistryWriter, c: Change, result: ApplyResult) -> None:
    result.registered[(c.model, c.ref)] = reg.register_version(c.model, c.after, c.run_id)


def _transition_stage(reg: RegistryWriter, c: Change, result: ApplyResult) -> None:
    reg.transition_stage(c.model, _version(c, result), c.after)


def _set_alias(reg: RegistryWriter, c: Change, result: ApplyResult) -> None:
    reg.set_alias(c.model, c.alias, _version(c, result))


def _delete_alias(reg: RegistryWriter, c: Change, result: ApplyResult) -> None:
    reg.delete_alias(c.model, c.alias)


def _set_model_tag(reg: RegistryWriter, c: Change, result: ApplyResult) -> None:
    reg.set_model_tag(c.model, c.key, c.after)


def _delete_model_tag(reg: RegistryWriter, c: Change, result: ApplyResult) -> None:
    reg.delete_model_tag(c.model, c.key)


def _set_version_tag(reg: RegistryWriter, c: Change, result: ApplyResult) -> None:
    reg.set_version_tag(c.model, _version(c, result), c.key, c.after)


def _delete_version_tag(reg: RegistryWriter, c: Change, result: ApplyResult) -> None:
    reg.delete_version_tag(c.model, _version(c, result), c.key)


def _update_model_description(reg: RegistryWriter, c: Change, result: ApplyResult) -> None:
    reg.update_model_description(c.model, c.after)


def _update_version_description(reg: RegistryWriter, c: Change, result: ApplyResult) -> None:
    reg.update_version_description(c.model, _version(c, result), c.after)


EXECUTORS: dict[Action, Callable[[RegistryWriter, Change, ApplyResult], None]] = {
    Action.CREATE_MODEL: _create_model,
    Action.REGISTER_VERSION: _register_version,
    Action.TRANSITION_STAGE: _transition_stage,
    Action.SET_ALIAS: _set_alias,
    Action.DELETE_ALIAS: _delete_alias,
    Action.SET_MODEL_TAG: _set_model_tag,
    Action.DELETE_MODEL_TAG: _delete_model_tag,
    Action.SET_VERSION_TAG: _set_version_tag,
    Action.DELETE_VERSION_TAG: _delete_version_tag,
    Action.UPDATE_MODEL_DESCRIPTION: _update_model_description,
    Action.UPDATE_VERSION_DESCRIPTION: _update_version_description,
}


def apply_plan(
    plan: Plan,
    registry: RegistryWriter,
    on_applied: Callable[[Change, ApplyResult], None] | None = None,
    parallelism: int = 1,
    on_model: Callable[[ModelOutcome], None] | None = None,
    prepare: Callable[[str, list[Change]], list[Change]] | None = None,
    finish: Callable[[str, list[Change], Callable[[Change], str]], object] | None = None,
    on_interrupt: Callable[[int], None] | None = None,
) -> ApplyResult:
    """Apply `plan`; raise ApplyFailed (carrying the ApplyResult) after all workers stopped if any
    model failed. Callbacks run one at a time (never concurrently): `on_applied` after each change,
    `on_model` when a model is done (its changes applied, or stopped at a failure). `prepare`
    (reconciler.apply.guard) is asked, in the model's worker right before its first change, which
    changes to make; if it raises, none of the model's changes are made. `finish` (reconciler.apply.audit)
    is called in the worker after the model's changes, with those applied and a function giving the
    version number a change was made to.

    Ctrl-C (KeyboardInterrupt in the calling thread) starts no further model and stops each model
    in progress after its current change (a registry call is never cut off half-way: its answer
    would be lost), tells `on_interrupt` how many models are finishing, then raises ApplyFailed
    (`result.interrupted`); a second Ctrl-C stops waiting for them."""
    result = ApplyResult()
    stop = threading.Event()
    groups = list(plan.by_model().items())
    lock = threading.Lock()  # guards result and serialises callbacks

    def run_model(model: str, changes: list[Change]) -> ModelOutcome:
        outcome = ModelOutcome(model)
        if prepare is not None:
            try:
                changes = prepare(model, changes)
            except ReconcilerError as e:
                outcome.failed, outcome.error, outcome.not_applied = changes[0], str(e), changes[1:]
                changes = []
        for i, change in enumerate(changes):
            if stop.is_set():
                outcome.not_applied = changes[i:]
                break
            try:
                EXECUTORS[change.action](registry, change, result)
            except ReconcilerError as e:
                outcome.failed, outcome.error, outcome.not_applied = change, str(e), changes[i + 1 :]
                break
            outcome.applied.append(change)
            if change.action == "register_version":
                outcome.registered[change.ref] = result.registered[(model, change.ref)]
            with lock:
                result.applied.append(change)
                if on_applied:
                    on_applied(change, result)
        if finish is not None and outcome.applied:
            finish(model, outcome.applied, lambda c: _version(c, result))
        with lock:
            result.outcomes.append(outcome)
            if on_model:
                on_model(outcome)
        return outcome

    def interrupted(in_progress: int) -> None:
        stop.set()
        if on_interrupt:
            on_interrupt(in_progress)

    stopped = _schedule(groups, run_model, max(1, parallelism), interrupted)
    for model, changes in stopped:
        result.outcomes.append(ModelOutcome(model, not_applied=changes))
    result.interrupted, result.stopped_early = stop.is_set(), bool(stopped) and not stop.is_set()
    if result.interrupted or result.failures:
        raise ApplyFailed(result)
    return result


def _schedule(groups: list[tuple[str, list[Change]]], run_model, parallelism: int,
              interrupted: Callable[[int], None] = lambda n: None) -> list:
    """Run `run_model` over the groups, at most `parallelism` at once, in order of the groups.
    Stops starting groups after `give_up` consecutive failures, or after a KeyboardInterrupt (then
    calls `interrupted` with the number of groups still running, and waits for them); returns the
    groups not started."""
    give_up = max(3, parallelism)
    todo: Iterator = iter(groups)
    failures_in_a_row = 0
    with ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="apply") as pool:
        running: set[Future] = set()

        def start_next() -> bool:
            group = next(todo, None)
            if group is not None:
                running.add(pool.submit(run_model, *group))
            return group is not None

        while len(running) < parallelism and start_next():
            pass
        stopping = False
        while running:
            try:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
            except KeyboardInterrupt:
                if stopping:
                    raise  # a second Ctrl-C: leave the workers' last calls to end on their own
                stopping = True
                interrupted(len(running))
                continue
            for future in done:
                running.discard(future)
                outcome = future.result()  # a bug of ours (not a ReconcilerError) surfaces here
                failures_in_a_row = failures_in_a_row + 1 if outcome.failed is not None else 0
                if failures_in_a_row < give_up and not stopping:
                    start_next()
    return list(todo)
