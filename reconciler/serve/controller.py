"""The reconciliation loop of `serve`.

A cycle is `drift` done continuously, with the code of `plan` and `apply`: (optionally `git pull
--ff-only`), read the manifests, read the declared models in the same round trips as `plan`,
diff, and report the drift (reconciler.drift). Models that may self-heal (`--self-heal`, or their
`policy.self_heal`) get their part of that same diff applied as a plan, under the registry lease
(reconciler.lock), checked model by model right before writing (reconciler.guard) and stamped
with the audit trail (reconciler.audit), exactly as `apply --lock` would.

Failures never end the loop: a cycle that fails (registry down, git unreachable, a broken
manifest) is counted and logged, /healthz turns 503, and the next cycle comes sooner (1, 2, 4 s
... up to the interval). A signal (SIGTERM, SIGINT) ends the loop after the registry call in
progress: during a heal, each model stops after its current change and the lease is released.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from reconciler.apply import audit
from reconciler.apply.audit import APPLIED_TAG, AuditTrail
from reconciler.apply.executor import ModelOutcome, apply_plan
from reconciler.apply.guard import ModelGuard
from reconciler.apply.lock import RegistryLock, ttl_from_env
from reconciler.apply.permissions import preflight
from reconciler.constants import DEFAULT_PARALLELISM, DEFAULT_TIMEOUT
from reconciler.drift.report import DriftReport, build, gate_rows, without_missing_versions
from reconciler.errors import ApplyFailed, ReconcilerError
from reconciler.manifest.desired import DesiredState
from reconciler.manifest.load import load_tree
from reconciler.plan import evidence
from reconciler.plan.build import plan_of
from reconciler.plan.diff import diff
from reconciler.plan.model import Change
from reconciler.redact import redact
from reconciler.registry import retry
from reconciler.registry.protocol import Registry
from reconciler.serve.metrics import Metrics
from reconciler.serve.notify import EventLog, Outbox
from reconciler.serve.promotions import PromotionHistory
from reconciler.serve.status import (
    ERROR,
    HEALING,
    OUT_OF_SYNC,
    RECENT_EVENTS,
    SYNCED,
    CycleInfo,
    ModelView,
    View,
    utc,
)
from reconciler.target import Target

GIT_TIMEOUT = 60.0


class GitError(ReconcilerError):
    """`git pull --ff-only` of the manifests' repository failed."""


@dataclass(frozen=True)
class Options:
    interval: float = 60.0
    self_heal: bool = False
    git_pull: bool = False
    notify_url: str | None = None
    events: str | None = None
    timeout: float | None = DEFAULT_TIMEOUT
    parallelism: int = DEFAULT_PARALLELISM


@dataclass
class Outcome:
    ok: bool
    drift_left: bool = False
    error: str | None = None
    report: DriftReport | None = None


def git_pull(paths: list[str]) -> None:
    first = Path(paths[0])
    where = first if first.is_dir() else first.parent
    try:
        done = subprocess.run(["git", "-C", str(where), "pull", "--ff-only", "--quiet"], capture_output=True,
                              text=True, timeout=GIT_TIMEOUT, check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as e:
        raise GitError(f"git pull --ff-only in {where} failed: {e}") from None
    if done.returncode != 0:
        reason = " ".join((done.stderr or done.stdout).split()) or f"exit {done.returncode}"
        raise GitError(f"git pull --ff-only in {where} failed: {reason}")


def backoff(failures: int, interval: float) -> float:
    """Seconds before the next cycle after `failures` failed cycles in a row."""
    if failures <= 0:
        return interval
    return min(interval, 2.0 ** min(failures - 1, 16))


class Controller:
    def __init__(self, paths: list[str], target: Target, options: Options, say=print,
                 registry_factory: Callable[[Target], Registry] | None = None):
        self.paths = paths
        self.target = target
        self.options = options
        self.say = say
        self.metrics = Metrics()
        self.events = EventLog(options.events, say)
        self.outbox = Outbox(options.notify_url, say)
        self.wake = threading.Event()  # a webhook or a signal: end the wait before the next cycle
        self.stopping = False
        self.healing = False  # a signal during a heal interrupts the applier (models stop after their call)
        self.failures = 0  # failed cycles in a row
        self._registry = None
        self._registry_factory = registry_factory
        self.number = 0  # of the cycle running (or last run)
        self._models: dict[str, ModelView] = {}
        self._heal_errors: dict[str, str] = {}  # model -> why its last heal failed (reported once)
        self._recent: list[dict] = []
        self.promotions = PromotionHistory(paths)
        self.view = View(tracking_uri=target.display, interval=options.interval, self_heal=options.self_heal,
                         started=utc(time.time()))

    # ---- the loop ---------------------------------------------------------------------------

    def run_forever(self, first_trigger: str = "start") -> None:
        trigger = first_trigger
        while not self.stopping:
            self.wake.clear()
            self.cycle(trigger)
            if self.stopping:
                break
            woken = self.wake.wait(backoff(self.failures, self.options.interval))
            trigger = "webhook" if woken else ("retry" if self.failures else "interval")

    def stop(self) -> None:
        self.stopping = True
        self.wake.set()

    def close(self) -> None:
        self.outbox.close()

    # ---- one cycle --------------------------------------------------------------------------

    def registry(self) -> Registry:
        # A sqlite registry that does not exist yet is read as empty and not created (as `plan` and
        # `drift` do) unless --self-heal may write; once something creates it, the next cycle opens it.
        if self._registry is not None and getattr(self._registry, "absent", False):
            self._registry = None
        if self._registry is None:
            if self._registry_factory is not None:
                self._registry = self._registry_factory(self.target)
            else:
                # imports MLflow and configures the process for it: only once a cycle needs it
                from reconciler.registry.client import connect

                self._registry = connect(self.target, parallelism=self.options.parallelism,
                                         read_only=not self.options.self_heal)
        return self._registry

    def cycle(self, trigger: str = "interval") -> Outcome:
        retry.configure(self.options.timeout)  # each cycle has the whole --timeout
        started = time.time()
        number = self.number = self.view.cycles + 1
        try:
            if self.options.git_pull:
                git_pull(self.paths)
            desired = load_tree(self.paths)
            registry = self.registry()
            before = registry.round_trips
            snapshot = registry.snapshot(desired.names)  # the same read as `plan`
            present, missing = without_missing_versions(desired, snapshot)
            changes = diff(present, snapshot)
            # as `drift`: a version holding a gated stage or alias whose gate it fails (runs: one bulk read)
            needed = evidence.holder_run_ids(present, snapshot)
            failing = evidence.failing_holders(present, snapshot, registry.runs(needed) if needed else {})
            report = build(present, snapshot, changes, self.target.display, False, missing,
                           gate_rows(present, snapshot, failing))
            reads = registry.round_trips - before
            self._promotion_history(desired, snapshot)
            self._observe(desired, report, snapshot)
            healable = {m.name for m in desired.models if self.options.self_heal or m.policy.self_heal}
            heal = [c for c in changes if c.model in healable]
            if heal and not self.stopping:
                self._heal(desired, snapshot, heal, registry)
            round_trips = registry.round_trips - before
        except Exception as e:  # noqa: BLE001 - the loop outlives any failure; a bug says so
            message = redact("; ".join(" ".join(m.split()) for m in e.messages()) if isinstance(e, ReconcilerError)
                             else f"internal error: {type(e).__name__}: {' '.join(str(e).split())}")
            self._failed(number, started, trigger, message)
            return Outcome(ok=False, error=message)
        self._succeeded(number, started, trigger, reads, round_trips)
        left = any(m.status != SYNCED for m in self._models.values())
        return Outcome(ok=True, drift_left=left, report=report)

    def _observe(self, desired: DesiredState, report: DriftReport, snapshot) -> None:
        now = utc(time.time())
        self.metrics.models(desired.names)
        rows = report.by_model()
        models: dict[str, ModelView] = {}
        for dm in desired.models:
            drift = tuple(d.to_json() for d in rows.get(dm.name, ()))
            live = snapshot.models.get(dm.name)
            stamp = live.audit.get(APPLIED_TAG) if live is not None else None
            old = self._models.get(dm.name)
            status = OUT_OF_SYNC if drift else SYNCED
            since = old.since if old is not None and old.status == status else now
            view = ModelView(model=dm.name, status=status, drift=drift, since=since, last_applied=stamp,
                             manifest=dm.location.short, self_heal=self.options.self_heal or dm.policy.self_heal,
                             heals=old.heals if old is not None else 0)
            models[dm.name] = view
            self.metrics.model(dm.name, len(drift))
            self._transition(old, view)
        self._models = models
        for name in [n for n in self._heal_errors if n not in models or models[n].status == SYNCED]:
            del self._heal_errors[name]
        self._publish()

    def _promotion_history(self, desired: DesiredState, snapshot) -> None:
        """Refreshed when the manifests' HEAD moved (or a stamp changed); never fails the cycle."""
        try:
            self.promotions.refresh(desired.names, snapshot)
        except Exception as e:  # noqa: BLE001 - the page says why instead of the loop failing
            self.promotions.current = replace(self.promotions.current, note=redact(
                f"promotion history unavailable: {type(e).__name__}: {' '.join(str(e).split())}"))

    def _transition(self, old: ModelView | None, new: ModelView) -> None:
        was_drift = old is not None and old.status != SYNCED and old.drift
        if new.status == OUT_OF_SYNC and (not was_drift or old.drift != new.drift):
            fields = ", ".join(f"{d['field']}" + (f" of v{d['version']}" if d.get("version") else "")
                               for d in new.drift)
            self._event("drift", new.model, drift=list(new.drift))
            if not new.self_heal and not was_drift:
                self._notify("out_of_sync", new.model,
                             f":warning: MLflow model `{new.model}` is out of sync with git ({len(new.drift)} "
                             f"fields: {fields}) on {self.target.display}.")
        elif new.status == SYNCED and old is not None and old.status in (OUT_OF_SYNC, ERROR):
            self._event("in_sync", new.model)

    def _heal(self, desired: DesiredState, snapshot, changes: list[Change], registry: Registry) -> None:
        plan = plan_of(desired, changes, snapshot, registry)
        names = list(plan.by_model())
        # gates hold for heals as for apply: a model whose promotion fails a gate is not healed
        blocked: dict[str, str] = {}
        for g in plan.blocked_by:
            blocked.setdefault(g.model, f"blocked by gate {g.target} {g.check}: {g.reason}")
        if blocked:
            plan = plan_of(desired, [c for c in changes if c.model not in blocked], snapshot, registry)
        for name in names:
            self._set(name, status=HEALING)
        self._publish()
        for name, reason in blocked.items():
            self._heal_failed(name, reason)
        names = [n for n in names if n not in blocked]
        if not names:
            self._publish()
            return
        outcomes: dict[str, ModelOutcome] = {}
        error: str | None = None
        held = None
        context = None
        try:
            self.healing = True
            preflight(plan, registry)
            held = RegistryLock(registry, ttl=ttl_from_env(), say=self.say)
            held.acquire()
            guard = ModelGuard(registry, plan, desired, lock=held, say=self.say, origin="the heal")
            context = audit.from_environment(self.paths, registry.user_name())
            trail = AuditTrail(registry, plan, context, warn=self.say)
            apply_plan(plan, registry, parallelism=registry.parallelism, prepare=guard, finish=trail,
                       on_model=lambda o: outcomes.__setitem__(o.model, o))
        except ApplyFailed as e:
            # each failed model's error is in its outcome
            error = "interrupted by a signal" if e.result.interrupted else None
        except KeyboardInterrupt:
            error = "interrupted by a signal"
        except ReconcilerError as e:
            error = redact(" ".join(str(e).split()))
        finally:
            self.healing = False
            if held is not None:
                held.release()
        by = context.applied() if context is not None else None
        for name in names:
            outcome = outcomes.get(name)
            failed = error if outcome is None or outcome.error is None else outcome.error
            if outcome is not None and outcome.failed is None and not outcome.not_applied:
                applied = [c.to_json() for c in outcome.applied]
                self.metrics.heals.labels(name).inc()
                # what no apply can fix stays: a declared version deleted, a holder failing its gate
                left = tuple(d for d in self._models[name].drift if d.get("action") is None)
                self.metrics.model(name, len(left))
                self._set(name, status=OUT_OF_SYNC if left else SYNCED, drift=left, error=None,
                          heals=self._models[name].heals + 1, since=utc(time.time()), last_applied=by)
                self._heal_errors.pop(name, None)
                self._event("heal", name, changes=applied, applied=by)
                self._notify("healed", name, f":white_check_mark: MLflow model `{name}` was healed: "
                             f"{len(applied)} change{'' if len(applied) == 1 else 's'} made outside git reverted on "
                             f"{self.target.display}.")
            else:
                self._heal_failed(name, redact(" ".join(str(failed or "not applied").split())))
        self._publish()

    def _heal_failed(self, name: str, reason: str) -> None:
        """Counted every time; reported (event, notification) when the reason is new, not each cycle
        that retries the same failing heal."""
        self.metrics.heal_errors.labels(name).inc()
        self._set(name, status=ERROR, error=reason, since=utc(time.time()))
        if self._heal_errors.get(name) != reason:
            self._heal_errors[name] = reason
            self._event("heal_failed", name, error=reason)
            self._notify("heal_failed", name, f":x: Self-heal of MLflow model `{name}` failed: {reason}")

    def _set(self, name: str, **fields) -> None:
        self._models[name] = replace(self._models[name], **fields)

    def _failed(self, number: int, started: float, trigger: str, message: str) -> None:
        self.failures += 1
        self.metrics.cycles.inc()
        self.metrics.cycle_errors.inc()
        self.metrics.duration.set(time.time() - started)
        failing_since = self.view.failing_since or utc(started)
        if self.failures == 1:
            self._event("cycle_failed", None, error=message)
            self._notify("cycle_failed", None, f":rotating_light: mlflow-gitops serve cannot reconcile "
                         f"{self.target.display}: {message}")
        for name, m in self._models.items():
            self._models[name] = replace(m, status=ERROR, error=message, since=m.since if m.status == ERROR
                                         else utc(time.time()))
        self.say(f"Cycle {number} failed ({self.failures} in a row; next in "
                 f"{backoff(self.failures, self.options.interval):g} s): {message}")
        info = CycleInfo(number=number, started=utc(started), seconds=round(time.time() - started, 3), ok=False,
                         error=message, trigger=trigger)
        self.view = replace(self._snapshot_view(), last_cycle=info, cycles=number,
                            cycle_errors=self.view.cycle_errors + 1, failing_since=failing_since)

    def _succeeded(self, number: int, started: float, trigger: str, reads: int, round_trips: int) -> None:
        finished = time.time()
        if self.failures:
            self._event("recovered", None, failed_cycles=self.failures)
            self._notify("recovered", None, f":large_green_circle: mlflow-gitops serve reconciles "
                         f"{self.target.display} again after {self.failures} failed cycles.")
        self.failures = 0
        self.metrics.cycles.inc()
        self.metrics.last_success.set(finished)
        self.metrics.duration.set(finished - started)
        self.metrics.round_trips.set(reads)
        info = CycleInfo(number=number, started=utc(started), seconds=round(finished - started, 3), ok=True,
                         round_trips=round_trips, read_round_trips=reads, trigger=trigger)
        self.view = replace(self._snapshot_view(), last_cycle=info, cycles=number, last_success=utc(finished),
                            failing_since=None)
        counts = self.view.counts()
        self.say(f"Cycle {number} ({trigger}): {len(self._models)} models, {counts[SYNCED]} in sync, "
                 f"{counts[OUT_OF_SYNC]} out of sync, {counts[ERROR]} errors; {reads} registry round "
                 f"trips to read, {round_trips} in all; {finished - started:.2f} s.")

    # ---- reporting --------------------------------------------------------------------------

    def _event(self, kind: str, model: str | None, **fields) -> None:
        record = {"time": utc(time.time()), "event": kind, "model": model, "cycle": self.number, **fields}
        self.events.write(record)
        self._recent.insert(0, record)
        del self._recent[RECENT_EVENTS:]

    def _notify(self, kind: str, model: str | None, text: str) -> None:
        self.outbox.post({"text": text, "event": kind, "model": model, "tracking_uri": self.target.display})

    def _snapshot_view(self) -> View:
        return replace(self.view, models=tuple(self._models[n] for n in sorted(self._models)),
                       events=tuple(self._recent), history=self.promotions.current)

    def _publish(self) -> None:
        self.view = self._snapshot_view()
