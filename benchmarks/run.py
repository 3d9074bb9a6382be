"""Benchmark: mlflow-gitops against the per-model MlflowClient scripts it replaces, at registry scale.

    uv run python benchmarks/run.py                      # sqlite and PostgreSQL servers (~7.5 min)
    uv run python benchmarks/run.py --backends sqlite    # ~3.5 min
    uv run python benchmarks/run.py --loop-sample 2000 --apply-loop-sample 1000   # loops in full

For each backend it seeds a registry straight into MLflow's tables (seconds, not minutes of REST
calls), starts a real `mlflow server` on it (MLflow's defaults: 4 uvicorn workers; `--workers`),
and measures in one run, side by side, each tool as a user runs it (a subprocess: interpreter,
imports, work):

  (a) a no-change `plan` of 2,000 models x 10 versions vs the read loop (get_registered_model +
      search_model_versions per model), and the same for 150 models x 4 versions;
  (b) `apply` of 1,000 changes (stage and alias moves over 500 models) vs the same changes made by
      a sequential MlflowClient loop on 500 twin models; the results (of the loop: the models it
      changed) are read back and compared with the desired state, and a second apply must write
      nothing;
  (c) `validate` of 2,000 manifest files;
  (d) the peak RSS of the 2,000 x 10 `plan`;
  (e) a `plan` promoting 500 versions with promotion evidence and gates (1,000 runs read) and the
      same plan of versions without runs (benchmarks/evidence.py); `--only evidence` runs just it.

HTTP round trips are counted from the server's access log (and compared with what `--verbose`
reports). The loops are linear in the number of models (two calls per model, one call per
change), so by default the 2,000-model read loop and the apply loop run on a sample and are
scaled: loop(N) = start-up + (loop(sample) - start-up) * N / sample, start-up being the loop
script run on nothing; `--loop-sample 2000 --apply-loop-sample 1000` runs them in full.
PostgreSQL gets an ANALYZE after seeding, as autovacuum would do in a live database.

Children run with bytecode caching on (PYTHONDONTWRITEBYTECODE removed, PYTHONPYCACHEPREFIX in
the work directory) after one warm-up, as an installed tool runs: without .pyc files, importing
mlflow alone takes 5-10 s here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import dataset
import evidence

REPO = Path(__file__).resolve().parents[1]
LOOPS = Path(__file__).resolve().with_name("loops.py")
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
BIG, BIG_VERSIONS = 2000, 10
SMALL, SMALL_VERSIONS = 150, 4
APPLY_MODELS, APPLY_VERSIONS = 500, 4
API_LINE = re.compile(r'"(GET|POST|PATCH|DELETE|PUT) /api/')


# ---- processes ---------------------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    rss_mb: float
    code: int
    stdout: str
    stderr: str


def child_env(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_") and k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPYCACHEPREFIX=str(workdir / "pycache"), MLFLOW_DISABLE_TELEMETRY="true")
    return env


# Launches the measured command from a small, fresh process: a child forked straight from this
# (large) benchmark process would report this process's peak RSS as its own.
LAUNCHER = """
import json, os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
seconds = time.perf_counter() - start
with open(sys.argv[1], "w") as f:
    json.dump({"seconds": seconds, "rss_kb": usage.ru_maxrss, "code": os.waitstatus_to_exitcode(status)}, f)
"""


# 1-minute load average sampled as each measured process starts: other people's work on the same
# cores is the main source of noise here, and docs/benchmarks.md reports it.
LOAD_SAMPLES: list[float] = []


def run(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> Run:
    """Wall time and peak RSS of one process (its own, via wait4 in the launcher)."""
    LOAD_SAMPLES.append(os.getloadavg()[0])
    with tempfile.TemporaryDirectory() as tmp:
        stats, out, err = Path(tmp, "stats.json"), Path(tmp, "out"), Path(tmp, "err")
        with out.open("wb") as o, err.open("wb") as e:
            subprocess.run([sys.executable, "-c", LAUNCHER, str(stats), *argv], env=env, cwd=cwd,
                           stdin=subprocess.DEVNULL, stdout=o, stderr=e, check=False)
        doc = json.loads(stats.read_text())
        return Run(doc["seconds"], doc["rss_kb"] / 1024, doc["code"], out.read_text(), err.read_text())


def cli(*args: str, env: dict[str, str]) -> Run:
    return run([sys.executable, "-m", "reconciler", *args], env, cwd=REPO)


def loop(what: str, uri: str, items: list, workdir: Path, env: dict[str, str]) -> Run:
    path = workdir / f"loop-{what}-{secrets.token_hex(3)}.json"
    path.write_text(json.dumps(items))
    return run([sys.executable, str(LOOPS), what, uri, str(path)], env)


def must(r: Run, what: str, codes=(0,)) -> Run:
    if r.code not in codes:
        sys.exit(f"{what} exited {r.code}\n--- stdout\n{r.stdout[-3000:]}\n--- stderr\n{r.stderr[-3000:]}")
    return r


# ---- servers -----------------------------------------------------------------------------------------


@dataclass
class Server:
    backend: str
    db_uri: str
    workdir: Path
    workers: int | None
    database: str | None = None
    port: int = 0
    proc: subprocess.Popen | None = None
    log: Path = field(default_factory=Path)

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, env: dict[str, str]) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.log = self.workdir / f"server-{self.backend}.log"
        argv = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", self.db_uri,
                "--host", "127.0.0.1", "--port", str(self.port),
                "--artifacts-destination", str(self.workdir / "artifacts")]
        if self.workers:
            argv += ["--workers", str(self.workers)]
        env = {**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # no huey consumers: the registry needs none
        self.proc = subprocess.Popen(argv, env=env, cwd=self.workdir, stdin=subprocess.DEVNULL,
                                     stdout=self.log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"mlflow server ({self.backend}) exited:\n{self.log.read_text()[-3000:]}")
            if self._get("/health"):
                return
            time.sleep(0.3)
        sys.exit(f"mlflow server ({self.backend}) not ready after {timeout:.0f}s")

    def _get(self, path: str) -> bool:
        try:
            with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(self.uri + path, timeout=5) as r:
                return r.status == 200
        except OSError:
            return False

    def api_calls_since(self, offset: int) -> int:
        """API requests logged since `offset`, once a marker request shows the log caught up."""
        marker = f"/health?mark={secrets.token_hex(4)}"
        self._get(marker)
        for _ in range(100):
            text = self.log.read_bytes()[offset:].decode(errors="replace")
            if marker in text:
                return len(API_LINE.findall(text))
            time.sleep(0.05)
        return -1

    def log_offset(self) -> int:
        return self.log.stat().st_size

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()


def pg_admin(sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(dbname="postgres", connect_timeout=5, **PG)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def make_backend(backend: str, workdir: Path, workers: int | None) -> Server:
    if backend == "sqlite":
        return Server(backend, f"sqlite:///{workdir / 'bench.db'}", workdir, workers)
    database = f"mlflow_gitops_bench_{secrets.token_hex(5)}"
    pg_admin(f'CREATE DATABASE "{database}"')
    uri = f"postgresql+psycopg2://{PG['user']}@{PG['host']}:{PG['port']}/{database}"
    return Server(backend, uri, workdir, workers, database=database)


def drop_backend(server: Server) -> None:
    server.stop()
    if server.database:
        pg_admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                 f"WHERE datname = '{server.database}' AND pid <> pg_backend_pid()")
        pg_admin(f'DROP DATABASE IF EXISTS "{server.database}"')


# ---- measurements ------------------------------------------------------------------------------------


def scaled(sample_run: Run, startup: float, sample: int, total: int) -> float:
    return startup + (sample_run.seconds - startup) * total / sample


def round_trips_reported(stderr: str) -> int | None:
    m = re.search(r"(\d+) registry round trips", stderr)
    return int(m.group(1)) if m else None


def measured(server: Server, fn):
    offset = server.log_offset()
    result = fn()
    return result, server.api_calls_since(offset)


def bench_backend(server: Server, args, workdir: Path, env: dict[str, str], manifests: dict, startup: float) -> dict:
    res: dict = {"backend": server.backend}
    big = [dataset.model(f"big_{i:04d}", BIG_VERSIONS) for i in range(BIG)]
    res["seed_big_s"] = dataset.seed(server.db_uri, big)
    server.start(env)
    server.wait_ready()
    uri = server.uri
    # warm-up: server workers' first requests, and .pyc files for the children
    must(cli("plan", str(manifests["small_probe"]), "--tracking-uri", uri, env=env), "warm-up plan")
    loop("read", uri, [m.name for m in big[:20]], workdir, env)

    # (a) + (d): no-change plan of 2,000 x 10 vs the read loop
    plan, calls = measured(server, lambda: cli("plan", str(manifests["big"]), "--tracking-uri", uri,
                                               "--detailed-exitcode", "--verbose", env=env))
    must(plan, "plan 2000x10")
    res["plan_big"] = {"s": plan.seconds, "rss_mb": plan.rss_mb, "http": calls,
                       "reported": round_trips_reported(plan.stderr)}
    n = min(args.loop_sample, BIG)
    loop_run, calls = measured(server, lambda: loop("read", uri, [m.name for m in big[:n]], workdir, env))
    must(loop_run, "read loop")
    res["loop_big"] = {"s": scaled(loop_run, startup, n, BIG), "sample": n, "sample_s": loop_run.seconds,
                       "http": calls * BIG // n, "rss_mb": loop_run.rss_mb}

    # 150 x 4: the `name IN (...)` path
    small = [dataset.model(f"small_{i:03d}", SMALL_VERSIONS) for i in range(SMALL)]
    twins = [dataset.model(f"apply_{kind}_{i:03d}", APPLY_VERSIONS) for kind in ("cli", "loop")
             for i in range(APPLY_MODELS)]
    res["seed_rest_s"] = dataset.seed(server.db_uri, small + twins)
    plan, calls = measured(server, lambda: cli("plan", str(manifests["small"]), "--tracking-uri", uri,
                                               "--detailed-exitcode", "--verbose", env=env))
    must(plan, "plan 150x4")
    res["plan_small"] = {"s": plan.seconds, "http": calls, "reported": round_trips_reported(plan.stderr)}
    loop_run, calls = measured(server, lambda: loop("read", uri, [m.name for m in small], workdir, env))
    must(loop_run, "read loop small")
    res["loop_small"] = {"s": loop_run.seconds, "http": calls}

    # (b) apply 1,000 changes over 500 models vs a sequential loop over their 500 twins
    desired_cli, desired_loop, calls_loop = {}, {}, []
    for i in range(APPLY_MODELS):
        shape, _ = dataset.changed(twins[i], i)
        desired_cli[shape.name] = shape.state()
        shape, calls = dataset.changed(twins[APPLY_MODELS + i], i)
        desired_loop[shape.name] = shape.state()
        calls_loop += calls
    apply_dir = dataset.write_manifests(workdir / "apply", [dataset.changed(t, i)[0] for i, t in enumerate(twins[:APPLY_MODELS])])
    audit = ["--no-audit"] if args.no_audit else []
    applied, calls = measured(server, lambda: cli("apply", str(apply_dir), "--tracking-uri", uri, "--auto-approve",
                                                  "--verbose", "--parallelism", str(args.parallelism), *audit, env=env))
    must(applied, "apply")
    res["apply"] = {"s": applied.seconds, "http": calls, "reported": round_trips_reported(applied.stderr),
                    "changes": len(re.findall(r"^  \[\d+/\d+\]", applied.stdout, re.M))}
    n = min(args.apply_loop_sample, len(calls_loop)) // 2 * 2  # whole models: two calls each
    loop_run, calls = measured(server, lambda: loop("apply", uri, calls_loop[:n], workdir, env))
    must(loop_run, "apply loop")
    res["loop_apply"] = {"s": scaled(loop_run, startup, n, len(calls_loop)), "sample": n,
                         "sample_s": loop_run.seconds, "http": calls * len(calls_loop) // n}
    looped = {call[1] for call in calls_loop[:n]}  # the models the (sampled) loop changed
    live = dataset.read_states(uri, list(desired_cli) + sorted(looped))
    res["verified_cli"] = [sum(live.get(k) == v for k, v in desired_cli.items()), len(desired_cli)]
    res["verified_loop"] = [sum(live.get(k) == desired_loop[k] for k in looped), len(looped)]
    again, calls = measured(server, lambda: cli("apply", str(apply_dir), "--tracking-uri", uri, "--auto-approve",
                                                "--verbose", env=env))
    must(again, "second apply")
    res["reapply_writes"] = int(re.search(r"(\d+) registry writes", again.stderr).group(1))
    res["latency"] = json.loads(must(run([sys.executable, str(Path(__file__).with_name("latency.py")), uri],
                                         env), "latency probe").stdout)
    res.update(bench_evidence(server, workdir, env))
    return res


def bench_evidence(server: Server, workdir: Path, env: dict[str, str]) -> dict:
    """(e): the round trips and seconds of a 500-promotion plan, with evidence and gates vs without."""
    res: dict = {}
    for key, with_runs in (("plan_promote_evidence", True), ("plan_promote_plain", False)):
        seconds, names = evidence.seed(server.db_uri, "ev" if with_runs else "plain", with_runs)
        tree = evidence.write_manifests(workdir / key, names, with_policy=with_runs)
        out = workdir / f"{key}.json"
        plan, calls = measured(server, lambda: cli("plan", str(tree), "--tracking-uri", server.uri, "--verbose",
                                                   "--format", "json", "--out", str(out), env=env))
        must(plan, key)
        doc = json.loads(out.read_text())
        res[key] = {"s": plan.seconds, "http": calls, "reported": round_trips_reported(plan.stderr),
                    "changes": len(doc["changes"]), "gates": len(doc["gates"]),
                    "gates_failed": doc["summary"]["gates_failed"],
                    "with_evidence": sum(1 for c in doc["changes"] if c.get("evidence")), "seed_s": seconds}
    return res


def only_evidence(server: Server, workdir: Path, env: dict[str, str], manifests: dict) -> dict:
    dataset.seed(server.db_uri, [])  # the schema, as `mlflow server` would create it
    server.start(env)
    server.wait_ready()
    must(cli("plan", str(manifests["small_probe"]), "--tracking-uri", server.uri, env=env), "warm-up plan", (0, 1))
    return bench_evidence(server, workdir, env)


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = next((int(line.split()[1]) // 1024 // 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), 0)
    import mlflow  # noqa: F401 - version only

    return {"cpus": os.cpu_count(), "cpu": cpu, "mem_gib": mem, "python": platform.python_version(),
            "mlflow": sys.modules["mlflow"].__version__, "os": platform.platform(),
            "load_avg_at_start": os.getloadavg()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--workers", type=int, default=None, help="mlflow server --workers (default: MLflow's, 4)")
    ap.add_argument("--loop-sample", type=int, default=200, help="models the 2,000-model read loop really reads")
    ap.add_argument("--apply-loop-sample", type=int, default=200, help="calls the apply loop really makes")
    ap.add_argument("--parallelism", type=int, default=8)
    ap.add_argument("--no-audit", action="store_true",
                    help="apply without its audit-trail tags (the loop writes none: the same writes on both sides)")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--only", choices=["evidence"], help="run only this scenario (no loops, no validate)")
    args = ap.parse_args()
    began = time.perf_counter()

    workdir = Path(tempfile.mkdtemp(prefix="mlflow-gitops-bench-"))
    env = child_env(workdir)
    results: dict = {"machine": machine(), "args": vars(args)}
    servers: list[Server] = []
    try:
        big = [dataset.model(f"big_{i:04d}", BIG_VERSIONS) for i in range(BIG)]
        small = [dataset.model(f"small_{i:03d}", SMALL_VERSIONS) for i in range(SMALL)]
        manifests = {"big": dataset.write_manifests(workdir / "big", big),
                     "small": dataset.write_manifests(workdir / "small", small),
                     "small_probe": dataset.write_manifests(workdir / "probe", big[:5])}
        empty = workdir / "empty.json"
        empty.write_text("[]")
        # warm-up (.pyc files), then start-up costs
        for _ in range(2):
            cli("schema", env=env)
            run([sys.executable, str(LOOPS), "read", "http://127.0.0.1:9", str(empty)], env)
        results["startup"] = {
            "python_s": min(run([sys.executable, "-c", "pass"], env).seconds for _ in range(3)),
            "schema_s": min(must(cli("schema", env=env), "schema").seconds for _ in range(3)),
            "import_mlflow_s": min(run([sys.executable, "-c", "import mlflow"], env).seconds for _ in range(3)),
        }
        startup = min(run([sys.executable, str(LOOPS), "read", "http://127.0.0.1:9", str(empty)], env).seconds
                      for _ in range(3))
        results["startup"]["loop_start_s"] = startup
        # (c) validate 2,000 files
        if not args.only:
            runs = sorted(must(cli("validate", str(manifests["big"]), env=env), "validate").seconds for _ in range(5))
            results["validate"] = {"files": BIG, "s": runs[0], "median_s": runs[2], "runs_s": runs,
                                   "load_avg": os.getloadavg()[0]}
        for backend in args.backends.split(","):
            sub = workdir / backend
            sub.mkdir()
            server = make_backend(backend, sub, args.workers)
            servers.append(server)
            if args.only == "evidence":
                results[backend] = {"backend": backend, **only_evidence(server, sub, env, manifests)}
            else:
                results[backend] = bench_backend(server, args, sub, env, manifests, startup)
            drop_backend(server)
            report(results, backend)
    finally:
        for server in servers:
            drop_backend(server)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    results["benchmark_s"] = time.perf_counter() - began
    results["load_avg_during"] = {"min": min(LOAD_SAMPLES), "median": sorted(LOAD_SAMPLES)[len(LOAD_SAMPLES) // 2],
                                  "max": max(LOAD_SAMPLES), "samples": len(LOAD_SAMPLES)}
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


def report_evidence(r: dict) -> None:
    ev, plain = r["plan_promote_evidence"], r["plan_promote_plain"]
    print(f"plan promoting 500 versions ({ev['changes']} changes): with evidence and gates {ev['s']:.2f} s, "
          f"{ev['http']} rt ({ev['with_evidence']} promotions with evidence, {ev['gates']} gate rows, "
          f"{ev['gates_failed']} failed); without {plain['s']:.2f} s, {plain['http']} rt")


def report(results: dict, backend: str) -> None:
    if results["args"].get("only") == "evidence":
        print(f"\n== {backend}")
        report_evidence(results[backend])
        return
    r, s, v = results[backend], results["startup"], results["validate"]
    rows = [
        ("no-change plan 2,000 x 10", r["plan_big"], r["loop_big"]),
        ("no-change plan 150 x 4", r["plan_small"], r["loop_small"]),
        ("apply 1,000 changes / 500 models", r["apply"], r["loop_apply"]),
    ]
    print(f"\n== {backend} (mlflow server, {results['args']['workers'] or 'default'} workers)")
    print(f"{'':34} {'mlflow-gitops':>16} {'MlflowClient loop':>20} {'ratio':>7}")
    for label, ours, theirs in rows:
        sample = f" [{theirs['sample']} run]" if "sample" in theirs else ""
        print(f"{label:34} {ours['s']:7.2f} s {ours['http']:4d} rt {theirs['s']:8.2f} s {theirs['http']:5d} rt{sample}"
              f" {theirs['s'] / ours['s']:6.1f}x")
    print(f"peak RSS of the 2,000 x 10 plan: {r['plan_big']['rss_mb']:.0f} MB; models equal to the desired "
          f"state after apply: {'/'.join(map(str, r['verified_cli']))} (loop: {'/'.join(map(str, r['verified_loop']))}"
          f" it changed); second apply wrote {r['reapply_writes']}")
    print(f"validate {v['files']} files: {v['s']:.2f} s (median {v['median_s']:.2f} s, load {v['load_avg']:.1f}); schema {s['schema_s']:.2f} s; "
          f"import mlflow {s['import_mlflow_s']:.2f} s; python {s['python_s']:.2f} s")
    print("latency per call (ms): " + ", ".join(f"{k} {val:.1f}" for k, val in r["latency"].items()))
    report_evidence(r)


if __name__ == "__main__":
    main()
