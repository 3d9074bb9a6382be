"""Benchmark of `serve`: round trips of one cycle against `plan`, and memory over many cycles.

    uv run python benchmarks/serve.py                       # ~10-15 min on 2 cores
    uv run python benchmarks/serve.py --cycles 1000 --big-cycles 20

On a real `mlflow server` (SQLite, MLflow's default workers) seeded straight into its tables
(benchmarks/dataset.py), it measures:

  (a) a no-change `plan --verbose` of 2,000 models x 10 versions: HTTP requests in the server's
      access log, and what it reports;
  (b) `--big-cycles` serve cycles over the same tree, in one process (reconciler.serve.controller,
      as `serve` runs them): requests per cycle in the access log, seconds per cycle, RSS;
  (c) `--cycles` cycles over `--models` (150) models x 4 versions with --self-heal and an events file, a hand
      change made every `--change-every` cycles (a model tag) and healed: RSS (VmRSS) sampled along
      the way, to show that memory stays flat.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import dataset
from run import BIG, BIG_VERSIONS, SMALL, SMALL_VERSIONS, child_env, cli, make_backend, must, round_trips_reported

CHILD = Path(__file__).resolve()


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child(args) -> None:
    """Runs in its own process: `--cycles` cycles of a Controller, one JSON line of results."""
    from reconciler import redact
    from reconciler.serve.controller import Controller, Options
    from reconciler.target import resolve

    redact.register_environment()
    events = Path(args.workdir) / f"events-{os.getpid()}.jsonl"
    options = Options(interval=1, self_heal=args.self_heal, events=str(events), timeout=300)
    controller = Controller([args.manifests], resolve(args.uri), options, say=lambda _: None)
    def hand_change(n: int) -> None:
        # plain REST, not MLflow's session: the controller counts requests on MLflow's connections
        body = json.dumps({"name": args.change_model, "key": "team", "value": f"by-hand-{n}"}).encode()
        req = urllib.request.Request(f"{args.uri}/api/2.0/mlflow/registered-models/set-tag", data=body,
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(req, timeout=30) as r:
            r.read()
    samples, seconds, trips, heals = [], [], [], 0
    for n in range(1, args.cycles + 1):
        if args.change_every and n % args.change_every == 0:
            hand_change(n)
        started = time.perf_counter()
        outcome = controller.cycle("bench")
        seconds.append(time.perf_counter() - started)
        if not outcome.ok:
            sys.exit(f"cycle {n} failed: {outcome.error}")
        trips.append(controller.view.last_cycle.read_round_trips)
        if n in (1, 2, 5, 10) or n % max(1, args.cycles // 20) == 0:
            samples.append((n, round(rss_mb(), 1)))
    heals = sum(1 for line in events.read_text().splitlines() if '"event": "heal"' in line) if events.exists() else 0
    print(json.dumps({"cycles": args.cycles, "rss_mb": samples, "read_round_trips": sorted(set(trips)),
                      "first_s": seconds[0], "median_s": sorted(seconds)[len(seconds) // 2],
                      "heals": heals}))


def cycles(uri: str, manifests: Path, n: int, workdir: Path, env: dict, self_heal: bool = False,
           change_every: int = 0, change_model: str = "") -> dict:
    argv = [sys.executable, str(CHILD), "--child", "--uri", uri, "--manifests", str(manifests), "--cycles", str(n),
            "--workdir", str(workdir), "--change-every", str(change_every), "--change-model", change_model]
    if self_heal:
        argv.append("--self-heal")
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False,
                          cwd=Path(__file__).resolve().parents[1])
    if done.returncode != 0:
        sys.exit(f"serve cycles failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--uri", help=argparse.SUPPRESS)
    ap.add_argument("--manifests", help=argparse.SUPPRESS)
    ap.add_argument("--workdir", help=argparse.SUPPRESS)
    ap.add_argument("--change-model", default="", help=argparse.SUPPRESS)
    ap.add_argument("--self-heal", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--cycles", type=int, default=1000, help="cycles of the memory run (150 x 4)")
    ap.add_argument("--models", type=int, default=SMALL, help="models (x 4 versions) of the memory run")
    ap.add_argument("--big-cycles", type=int, default=10, help="cycles over 2,000 x 10")
    ap.add_argument("--change-every", type=int, default=50, help="a hand change (healed) every N cycles")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    workdir = Path(tempfile.mkdtemp(prefix="mlflow-gitops-bench-serve-"))
    env = child_env(workdir)
    env.pop("PYTHONPYCACHEPREFIX", None)
    results: dict = {"load_avg_start": os.getloadavg()[0]}
    server = make_backend("sqlite", workdir, None)
    try:
        big = [dataset.model(f"big_{i:04d}", BIG_VERSIONS) for i in range(BIG)]
        small = [dataset.model(f"small_{i:03d}", SMALL_VERSIONS) for i in range(SMALL)]
        big_dir = dataset.write_manifests(workdir / "big", big)
        small_dir = dataset.write_manifests(workdir / "small", small[:args.models])
        dataset.seed(server.db_uri, big + small)
        server.start(env)
        server.wait_ready()
        uri = server.uri
        must(cli("plan", str(small_dir), "--tracking-uri", uri, env=env), "warm-up plan")
        offset = server.log_offset()
        plan = must(cli("plan", str(big_dir), "--tracking-uri", uri, "--detailed-exitcode", "--verbose", env=env),
                    "plan 2000x10")
        results["plan_big"] = {"http": server.api_calls_since(offset), "reported": round_trips_reported(plan.stderr),
                               "s": plan.seconds, "rss_mb": plan.rss_mb}
        offset = server.log_offset()
        big_run = cycles(uri, big_dir, args.big_cycles, workdir, env)
        big_run["http_per_cycle"] = server.api_calls_since(offset) / args.big_cycles
        results["serve_big"] = big_run
        results["serve_small"] = {"models": args.models, **cycles(uri, small_dir, args.cycles, workdir, env, self_heal=True,
                                        change_every=args.change_every, change_model=small[0].name)}
        results["load_avg_end"] = os.getloadavg()[0]
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
