"""The `--lock` lease protocol over an in-memory lease store, with fake clocks (nothing sleeps).

The real registry is exercised in tests/integration/test_concurrency.py; here the interleavings
that matter are forced: two runs creating their leases at the same moment, a holder that dies,
a holder that keeps renewing."""

from __future__ import annotations

import threading

import pytest

from reconciler.apply.lock import EXPIRES_TAG, HOLDER_TAG, PREFIX, LockError, RegistryLock, is_lease
from reconciler.errors import RegistryError
from reconciler.registry import retry


class Clock:
    def __init__(self, limit: float = 1000.0):
        self.now = 1_000_000.0
        self.waited = 0.0
        self.limit = limit
        self.pauses: list[float] = []
        self.on_pause = None

    def wall(self) -> float:
        return self.now

    def mono(self) -> float:
        return self.now

    def pause(self, seconds: float, what: str) -> None:
        if self.waited + seconds > self.limit:
            raise retry.DeadlineExceeded(what)
        self.pauses.append(seconds)
        self.waited += seconds
        self.now += seconds
        if self.on_pause:
            self.on_pause()


class Leases:
    """The lease surface of reconciler.registry.client.Registry, in memory and thread-safe."""

    def __init__(self):
        self.models: dict[str, dict[str, str]] = {}
        self.mutex = threading.Lock()
        self.changed = threading.Condition(self.mutex)
        self.generation = 0  # bumped by every create and delete
        self.before_create = None
        self.after_create = None
        self.deleted: list[str] = []

    def leases(self, prefix):
        with self.mutex:
            return {n: dict(t) for n, t in self.models.items() if n.startswith(prefix)}

    def create_lease(self, name, tags, description):
        if self.before_create:
            self.before_create(name)
        with self.mutex:
            assert name not in self.models
            self.models[name] = dict(tags)
            self.generation += 1
            self.changed.notify_all()
        if self.after_create:
            self.after_create(name)

    def renew_lease(self, name, key, value):
        with self.mutex:
            if name not in self.models:
                raise RegistryError(f"{name} does not exist")
            self.models[name][key] = value

    def delete_lease(self, name):
        with self.mutex:
            self.models.pop(name, None)
            self.deleted.append(name)
            self.generation += 1
            self.changed.notify_all()

    def put(self, name, holder, expires):
        self.models[PREFIX + name] = {HOLDER_TAG: holder, EXPIRES_TAG: str(expires)}


@pytest.fixture(autouse=True)
def no_deadline():
    retry.configure(timeout=None, policy=retry.Policy(retries=0, backoff=0, jitter=0))


def lock(store, clock, holder="me", ttl=60.0, say=None) -> RegistryLock:
    return RegistryLock(store, ttl=ttl, holder=holder, say=say or (lambda _: None),
                        wall=clock.wall, mono=clock.mono, pause=clock.pause)


def test_free_registry_is_locked_at_once_and_released():
    store, clock = Leases(), Clock()
    lk = lock(store, clock)
    with lk:
        assert list(store.models) == [lk.name] and is_lease(lk.name)
        tags = store.models[lk.name]
        assert tags[HOLDER_TAG] == "me" and float(tags[EXPIRES_TAG]) == clock.now + 60
        lk.check()
    assert store.models == {}
    assert clock.pauses == []


def test_waits_for_a_live_lease_and_takes_over_when_its_holder_dies():
    store, clock = Leases(), Clock()
    store.put("dead", "ci-run-1", clock.now + 10)  # holder died: never renewed again
    said = []
    with lock(store, clock, say=said.append) as lk:
        assert set(store.models) == {lk.name}  # the expired lease was cleaned up
    assert clock.waited >= 10
    assert said == [said[0]] and "held by ci-run-1" in said[0]


def test_a_renewed_lease_makes_the_waiter_time_out_naming_the_holder():
    store, clock = Leases(), Clock(limit=30)
    store.put("alive", "ci-run-2", clock.now + 60)
    clock.on_pause = lambda: store.put("alive", "ci-run-2", clock.now + 60)  # the holder renews
    lk = lock(store, clock)
    with pytest.raises(LockError, match="waiting for the registry lock held by ci-run-2.*nothing was applied"):
        lk.acquire()
    assert set(store.models) == {PREFIX + "alive"}  # we left nothing behind


def test_expired_and_unreadable_leases_block_nobody():
    store, clock = Leases(), Clock()
    store.put("old", "gone", clock.now - 1)
    store.models[PREFIX + "garbled"] = {HOLDER_TAG: "x", EXPIRES_TAG: "soon"}
    with lock(store, clock):
        assert clock.pauses == []


def test_racing_runs_step_back_instead_of_both_holding():
    """Both create their lease before either lists: each sees the other, both step back."""
    store, clock = Leases(), Clock()
    other = "other-run"

    def concurrent_create(name):
        store.after_create = None
        store.put(other, "run-2", clock.now + 60)  # run 2 created its lease at the same moment

    store.after_create = concurrent_create
    lk = lock(store, clock)
    clock.on_pause = lambda: store.models.pop(PREFIX + other, None) if clock.waited > 5 else None  # run 2 finishes
    with lk:
        assert set(store.models) == {lk.name}
    first = store.deleted[0]
    assert first == lk.name  # our first lease was withdrawn when we saw run 2's


def test_two_threads_never_hold_at_once():
    """Real threads. First round forced: both find the registry free, then both create, then both
    check. Then plain contention."""
    store, clock = Leases(), Clock(limit=1e9)
    listed, created = threading.Barrier(2, timeout=10), threading.Barrier(2, timeout=10)
    first_round = threading.local()

    def together(barrier):
        def hook(name):
            if not getattr(first_round, barrier is listed and "listed" or "created", False):
                setattr(first_round, barrier is listed and "listed" or "created", True)
                barrier.wait()
        return hook

    store.before_create = together(listed)
    store.after_create = together(created)
    holders: list[str] = []
    overlaps: list[list[str]] = []
    mutex = threading.Lock()
    seen = threading.local()

    def pause(seconds, what):
        """No time passes: a waiter wakes up when the leases change (or, at worst, after 5 s)."""
        with store.changed:
            if getattr(seen, "generation", None) == store.generation:
                store.changed.wait(timeout=5)
            seen.generation = store.generation

    def run(name):
        lk = RegistryLock(store, ttl=60, holder=name, wall=clock.wall, mono=clock.mono, pause=pause)
        lk.acquire()
        with mutex:
            holders.append(name)
            if len(holders) > 1:
                overlaps.append(list(holders))
        with mutex:
            holders.remove(name)
        lk.release()

    threads = [threading.Thread(target=run, args=(f"run-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    assert overlaps == []
    assert store.models == {}
    assert len(store.deleted) >= 3  # at least one stepped back, then each released


def test_a_holder_that_could_not_renew_for_a_ttl_stops():
    store, clock = Leases(), Clock()
    lk = lock(store, clock, ttl=10)
    lk.acquire()
    try:
        clock.now += 9
        lk.check()
        clock.now += 1
        with pytest.raises(LockError, match="lost the registry lock"):
            lk.check()
    finally:
        lk.release()


def test_release_after_the_deadline_still_deletes_the_lease():
    store, clock = Leases(), Clock()
    lk = lock(store, clock)
    lk.acquire()
    retry._deadline.end = 0  # the command's --timeout ran out meanwhile
    retry._deadline.seconds = 1
    lk.release()
    assert store.models == {}


def test_ttl_from_the_environment(monkeypatch):
    from reconciler.apply.lock import DEFAULT_TTL, ttl_from_env

    monkeypatch.delenv("MLFLOW_GITOPS_LOCK_TTL", raising=False)
    assert ttl_from_env() == DEFAULT_TTL
    monkeypatch.setenv("MLFLOW_GITOPS_LOCK_TTL", "5")
    assert ttl_from_env() == 5
    for bad in ("0.5", "soon", "inf"):
        monkeypatch.setenv("MLFLOW_GITOPS_LOCK_TTL", bad)
        with pytest.raises(LockError):
            ttl_from_env()
