"""`apply --lock`: a lease on the whole registry, stored in the registry itself.

A lease is a registered model named `mlflow-gitops.lock.<random id>`, tagged with its holder and
its expiry (`mlflow-gitops.lock.expires`, seconds since the epoch). A lease is *live* while it is
not expired; the registry is locked while any lease is live.

Acquiring (no compare-and-set is needed, only MLflow's read-after-write consistency):

1. list the leases; while another live lease exists, wait (polling) — bounded by `--timeout`;
2. create our own lease (a fresh, unique name: creation never conflicts);
3. list the leases again: if another live lease exists, we may have raced with another run:
   delete ours, back off a random while, and start over. Otherwise we hold the lock.

Two runs that race both create, then both list. Whichever lists last sees the other's lease
(each creates before it lists), so at least one of them backs off: never two holders. Both may
back off; the random pause makes a rerun of the race unlikely.

While held, a heartbeat thread pushes the expiry forward every `ttl/3` seconds. A holder that
dies stops renewing: its lease expires `ttl` seconds after its last renewal, and the next run
ignores it (and deletes it). A holder that could not renew for `ttl` seconds (paused, cut off)
considers the lock lost and stops before its next model (`check`). Release deletes the lease.

Expiry is judged against the waiter's clock: hosts that share a registry must agree on the time
to well within the TTL (MLFLOW_GITOPS_LOCK_TTL, default 60 s).
"""

from __future__ import annotations

import getpass
import math
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from reconciler.constants import OWN_PREFIX
from reconciler.errors import ReconcilerError
from reconciler.registry import retry
from reconciler.registry.protocol import LeaseStore
from reconciler.render.describe import printable

PREFIX = OWN_PREFIX + "lock."
HOLDER_TAG = PREFIX + "holder"
EXPIRES_TAG = PREFIX + "expires"
DESCRIPTION = "Lease of `mlflow-gitops apply --lock` (deleted on release, ignored once expired)."
DEFAULT_TTL = 60.0
MIN_TTL = 2.0


class LockError(ReconcilerError):
    """The lock could not be taken (timed out waiting, or refused), or was lost."""


def is_lease(name: str) -> bool:
    return name.startswith(PREFIX)


def ttl_from_env() -> float:
    raw = os.environ.get("MLFLOW_GITOPS_LOCK_TTL", "")
    try:
        value = float(raw) if raw else DEFAULT_TTL
    except ValueError:
        raise LockError(f"MLFLOW_GITOPS_LOCK_TTL must be a number of seconds, not {raw!r}") from None
    if not value >= MIN_TTL or value == float("inf"):
        raise LockError(f"MLFLOW_GITOPS_LOCK_TTL must be at least {MIN_TTL:g} seconds")
    return value


def holder_id() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


# Lease tags are registry data anyone with write access can set: never trusted as they are.
MAX_EXPIRES = 253402300799.0  # 9999-12-31 23:59:59 UTC; later (or inf/nan) is unreadable
MAX_HOLDER = 200  # characters of a holder shown


def _when(epoch: float) -> str:
    try:
        return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return "an unreadable time"


def _holder(raw) -> str:
    """A holder as read from the registry: one line, control and bidi characters escaped, capped."""
    text = printable(str(raw)) if raw else "unknown holder"
    return text if len(text) <= MAX_HOLDER else text[: MAX_HOLDER - 1] + "…"


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str
    expires: float  # epoch seconds; 0 when unreadable (treated as expired)

    def live(self, now: float) -> bool:
        return self.expires > now

    @classmethod
    def from_tags(cls, name: str, tags: dict[str, str]) -> Lease:
        try:
            expires = float(tags.get(EXPIRES_TAG, "0"))
        except (TypeError, ValueError):
            expires = 0.0
        if not math.isfinite(expires) or not 0 <= expires <= MAX_EXPIRES:
            expires = 0.0  # unreadable: treated as expired, like a missing tag
        return cls(name, _holder(tags.get(HOLDER_TAG)), expires)


class RegistryLock:
    """The lease protocol over a registry's `LeaseStore` (reconciler.registry.protocol)."""

    def __init__(
        self,
        registry: LeaseStore,
        ttl: float = DEFAULT_TTL,
        holder: str | None = None,
        say: Callable[[str], None] = lambda _: None,
        wall: Callable[[], float] = time.time,
        mono: Callable[[], float] = time.monotonic,
        pause: Callable[[float, str], None] = retry.wait,
    ):
        self.registry = registry
        self.ttl = ttl
        self.holder = holder or holder_id()
        self.name = PREFIX + uuid.uuid4().hex[:16]
        self.say = say
        self.wall = wall
        self.mono = mono
        self.pause = pause
        self.held = False
        self.lost: str | None = None
        self._renewed_at = 0.0  # monotonic time the last successful renewal was sent
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    # ---- acquire / release

    def others(self) -> list[Lease]:
        now = self.wall()
        leases = [Lease.from_tags(n, t) for n, t in self.registry.leases(PREFIX).items() if n != self.name]
        return sorted((x for x in leases if x.live(now)), key=lambda x: x.expires)

    def acquire(self) -> None:
        waited_for: str | None = None
        while True:
            blocking = self.others()
            if blocking:
                lease = blocking[-1]
                if waited_for != lease.holder:
                    waited_for = lease.holder
                    self.say(
                        f"Waiting for the registry lock held by {lease.holder} "
                        f"(expires {_when(lease.expires)} unless renewed)..."
                    )
                self._wait(min(2.0, self.ttl / 4) * (0.5 + random.random()), lease)
                continue
            started = self.mono()
            expires = self.wall() + self.ttl
            self.registry.create_lease(self.name, {HOLDER_TAG: self.holder, EXPIRES_TAG: f"{expires:.3f}"}, DESCRIPTION)
            if self.others():
                # raced with another run: step back, let one of us through
                self._delete_own()
                self._wait(random.uniform(0.2, 1.0), None)
                continue
            self.held = True
            self._renewed_at = started
            self._cleanup()
            self._heartbeat = threading.Thread(target=self._beat, name="lock-heartbeat", daemon=True)
            self._heartbeat.start()
            return

    def _wait(self, seconds: float, lease: Lease | None) -> None:
        try:
            self.pause(seconds, "waiting for the registry lock")
        except retry.DeadlineExceeded:
            holder = f" held by {lease.holder} (expires {_when(lease.expires)} unless renewed)" if lease else ""
            limit = retry.deadline().seconds
            after = f" after {limit:g} s" if limit else ""
            raise LockError(
                f"timed out{after} waiting for the registry lock{holder}; nothing was applied. "
                "Retry later, or raise --timeout."
            ) from None

    def _cleanup(self) -> None:
        """Delete expired leases of dead holders (best effort: they are ignored anyway)."""
        now = self.wall()
        for name, tags in self.registry.leases(PREFIX).items():
            if name != self.name and not Lease.from_tags(name, tags).live(now):
                try:
                    self.registry.delete_lease(name)
                except ReconcilerError:
                    pass

    def _delete_own(self) -> None:
        with retry.grace():
            try:
                self.registry.delete_lease(self.name)
            except ReconcilerError:
                # Could not delete: make it expired instead, so it blocks nobody.
                try:
                    self.registry.renew_lease(self.name, EXPIRES_TAG, "0")
                except ReconcilerError:
                    pass

    def release(self) -> None:
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=5)
        if self.held:
            self.held = False
            self._delete_own()

    def __enter__(self) -> RegistryLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    # ---- while held

    def _beat(self) -> None:
        interval = self.ttl / 3
        while not self._stop.wait(interval):
            started = self.mono()
            try:
                self.registry.renew_lease(self.name, EXPIRES_TAG, f"{self.wall() + self.ttl:.3f}")
            except Exception as e:  # noqa: BLE001 - reported by check()
                if self.mono() - self._renewed_at >= self.ttl:
                    self.lost = f"could not renew the registry lock for {self.ttl:g} s ({e})"
                continue
            self._renewed_at = started

    def check(self) -> None:
        """Raise LockError if the lock may no longer be ours (call before each model)."""
        if not self.held:
            return
        if self.lost is None and self.mono() - self._renewed_at >= self.ttl:
            self.lost = f"the registry lock was not renewed for {self.ttl:g} s"
        if self.lost:
            raise LockError(f"lost the registry lock: {self.lost}; stopping")
