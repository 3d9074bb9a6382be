"""Benchmark: `history` on a repository of 2,000 commits.

    uv run python benchmarks/history.py [--commits 2000] [--files 200]

Builds (with `git fast-import`, in a temporary directory) a manifest tree of --files files, one
model each, and --commits commits by 20 authors an hour apart, each changing one file: every 10th
promotes a new version of the model `taxi` (v1, v2, ...), the rest promote versions of other models.
Then measures, as a user runs it (a subprocess: interpreter, imports, work), `mlflow-gitops history
manifests --model taxi --no-registry` in json, and `--at` a time in the middle; and, for
comparison, the naive way of reading the same history, one `git show COMMIT:FILE` per changed file
per commit, on a sample of commits, scaled to all of them.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def doc(name: str, version: int) -> str:
    lines = ["apiVersion: mlflow-gitops/v1", "kind: RegisteredModel", f"name: {name}",
             "description: a model of the benchmark", "tags: {team: mlops}", "versions:"]
    for v in range(max(1, version - 3), version + 1):
        stage = "Production" if v == version else "Archived"
        lines += [f"  - version: {v}", f"    stage: {stage}"] + (["    aliases: [champion]"] if v == version else [])
    return "\n".join(lines) + "\n"


def build(root: Path, commits: int, files: int) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    names = ["taxi"] + [f"model_{i:04d}" for i in range(1, files)]
    version = dict.fromkeys(names, 0)
    start = 1_767_225_600  # 2026-01-01T00:00:00Z
    chunks = []
    for i in range(commits):
        name = "taxi" if i % 10 == 0 else names[1 + i % (files - 1)]
        version[name] += 1
        body = doc(name, version[name]).encode()
        author = f"dev{i % 20}"
        message = f"Promote {name} v{version[name]}".encode()
        when = start + 3600 * i
        chunks.append(b"commit refs/heads/main\n")
        chunks.append(f"author {author} <{author}@example.com> {when} +0000\n".encode())
        chunks.append(f"committer {author} <{author}@example.com> {when} +0000\n".encode())
        chunks.append(b"data %d\n%s\n" % (len(message), message))
        chunks.append(f"M 100644 inline manifests/{name}.yaml\n".encode())
        chunks.append(b"data %d\n%s\n" % (len(body), body))
    subprocess.run(["git", "-C", str(root), "fast-import", "--quiet"], input=b"".join(chunks), check=True)
    subprocess.run(["git", "-C", str(root), "checkout", "-q", "main"], check=True)


def cpu() -> float:
    """CPU seconds (user + system) of the finished children, theirs included (git): on a shared,
    loaded machine wall time says more about the neighbours than about the tool."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(args: list[str], cwd: Path) -> tuple[str, subprocess.CompletedProcess]:
    started, used = time.perf_counter(), cpu()
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    return f"{time.perf_counter() - started:.2f} s wall, {cpu() - used:.2f} s CPU", done


def naive(root: Path, sample: int) -> tuple[str, int]:
    """One `git show` per changed file per commit (after one `git log --name-only`), on `sample`
    commits; returns (seconds scaled to every commit, commits)."""
    started, used = time.perf_counter(), cpu()
    log = subprocess.run(["git", "-C", str(root), "log", "--format=%x00%H", "--name-only", "--", "manifests"],
                         capture_output=True, text=True, check=True).stdout
    listed, listed_cpu = time.perf_counter() - started, cpu() - used
    commits = [block.split() for block in log.split("\0") if block.strip()]
    started, used = time.perf_counter(), cpu()
    for sha, *paths in commits[:sample]:
        for path in paths:
            subprocess.run(["git", "-C", str(root), "show", f"{sha}:{path}"], capture_output=True, check=True)
    done = min(sample, len(commits))
    wall, used = (time.perf_counter() - started) / done, (cpu() - used) / done
    return f"{listed + wall * len(commits):.2f} s wall, {listed_cpu + used * len(commits):.2f} s CPU", len(commits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=2000)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--naive-sample", type=int, default=200)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="history-bench-") as tmp:
        root = Path(tmp) / "repo"
        started = time.perf_counter()
        build(root, options.commits, options.files)
        print(f"built {options.commits} commits over {options.files} files in {time.perf_counter() - started:.1f} s")
        cli = [sys.executable, "-m", "reconciler", "history", "manifests", "--model", "taxi", "--no-registry"]
        timed(cli, root)  # warm-up: bytecode caches
        seconds, done = timed([*cli, "--format", "json", "--verbose"], root)
        assert done.returncode == 0, done.stderr
        periods = json.loads(done.stdout)["targets"]["Production"]
        print(f"history (json): {seconds}, {len(periods)} Production periods; {done.stderr.strip()}")
        middle = periods[len(periods) // 2]["from"]
        seconds, done = timed([*cli, "--at", middle], root)
        assert done.returncode == 0 and f"Production: v{len(periods) // 2 + 1}" in done.stdout, done.stdout
        print(f"history --at {middle}: {seconds}")
        seconds, done = timed([sys.executable, "-c", "import reconciler.cli"], root)
        print(f"interpreter + CLI import alone: {seconds}")
        estimate, commits = naive(root, options.naive_sample)
        print(f"naive (one git show per file per commit): {estimate} for {commits} commits "
              f"(sampled on {options.naive_sample})")


if __name__ == "__main__":
    main()
