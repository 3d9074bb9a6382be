"""Benchmark: what the promotion history of the status page costs a `serve` cycle.

    uv run python benchmarks/serve_history.py [--commits 200] [--files 50] [--cycles 20]

Builds a manifest repository of --commits commits over --files models (benchmarks/history.py's
builder), then runs reconciler.serve.controller cycles in this process against an embedded SQLite
registry (created by a warm-up cycle), and reports seconds per cycle: with the history off (its
refresh replaced by a no-op) and on with HEAD unchanged (one `git rev-parse` per cycle),
interleaved; the first cycle (git history read and parsed) and the cycle after a new commit (read
again); and the refresh alone, cold and cached.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from history import build, doc

from reconciler.serve.controller import Controller, Options
from reconciler.registry.snapshot import Snapshot
from reconciler.serve.promotions import PromotionHistory, Promotions
from reconciler.target import resolve


def timed(controller: Controller) -> float:
    started = time.perf_counter()
    outcome = controller.cycle("bench")
    assert outcome.ok, outcome.error
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=200)
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--cycles", type=int, default=20)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="serve-history-bench-") as tmp:
        root = Path(tmp) / "repo"
        build(root, options.commits, options.files)
        manifests = [str(root / "manifests")]
        target = resolve(f"sqlite:///{tmp}/mlflow.db")
        say = lambda _: None  # noqa: E731
        Controller(manifests, target, Options(), say=say).cycle("warm-up")  # creates the database

        off = Controller(manifests, target, Options(), say=say)
        off.promotions.refresh = lambda names, snapshot: Promotions()
        on = Controller(manifests, target, Options(), say=say)
        timed(off)
        first = timed(on)
        without, steady = [], []
        for _ in range(options.cycles):  # interleaved: the machine's load hits both alike
            without.append(timed(off))
            steady.append(timed(on))
        names = sorted(on.view.history.models)
        empty = Snapshot(models={})
        cold, cached = [], []
        for _ in range(5):
            fresh = PromotionHistory(manifests)
            started = time.perf_counter()
            fresh.refresh(names, empty)
            cold.append(time.perf_counter() - started)
            started = time.perf_counter()
            fresh.refresh(names, empty)
            cached.append(time.perf_counter() - started)
        (root / "manifests" / "taxi.yaml").write_text(doc("taxi", 99))
        subprocess.run(["git", "-C", str(root), "commit", "-qam", "Promote taxi v99"], check=True,
                       env={"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "b",
                            "GIT_COMMITTER_EMAIL": "b@x", "PATH": "/usr/bin:/bin"})
        moved = timed(on)
        history = on.view.history
        assert history.note is None and on.promotions.reads == 2, history.note
        taxi = history.models["taxi"]["Production"]
        ms = lambda s: f"{s * 1000:.0f} ms"  # noqa: E731
        print(f"{options.commits} commits, {options.files} models; {history.commits} commits read; "
              f"taxi Production newest v{taxi[0]['version']}")
        print(f"history off:               median {ms(statistics.median(without))} per cycle")
        print(f"history on, HEAD the same: median {ms(statistics.median(steady))} per cycle")
        print(f"history on, first cycle:   {ms(first)}")
        print(f"history on, after a commit: {ms(moved)}")
        print(f"refresh alone: read and parse git {ms(statistics.median(cold))}, "
              f"cached (git rev-parse HEAD) {ms(statistics.median(cached))} (medians of 5)")


if __name__ == "__main__":
    main()
