"""Real ``mlflow server``s of other MLflow versions, for the server compatibility matrix.

Each server version gets one virtual environment, built with uv into a cache directory
(``~/.cache/mlflow-gitops-compat/<version>-<pins hash>``, or ``$MLFLOW_GITOPS_COMPAT_CACHE``) the
first time it is needed and reused by every later run. A build runs under a file lock (concurrent
sessions wait for each other) and writes its record last, so an interrupted build is redone. The tool under test always runs from the project's own
environment (its MLflow 3 client); only the server comes from these environments.

The pins are what each old server needs today, found by starting it: newer releases of its
dependencies, published after it, break it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

# Server version -> extra requirements its environment needs. Every environment also gets
# psycopg2-binary (the PostgreSQL backend).
VERSIONS: dict[str, tuple[str, ...]] = {
    # 2.16.2's store fails with SQLAlchemy after 2.0.35, 2.9.2 is held to the same; 2.9.2 imports
    # pkg_resources (setuptools < 70).
    "2.9.2": ("sqlalchemy==2.0.35", "setuptools<70"),
    "2.16.2": ("sqlalchemy==2.0.35",),
    # Import sqlalchemy.pool.FallbackAsyncAdaptedQueuePool, which SQLAlchemy 2.1 removed.
    "2.22.5": ("sqlalchemy<2.1",),
    "3.0.1": ("sqlalchemy<2.1",),
    "3.10.1": (),
    "3.17.2": (),
}
OLDEST, NEWEST = "2.9.2", "3.17.2"
COMMON = ("psycopg2-binary>=2.9",)
SUMMARY: dict[tuple[str, str], str] = {}  # (version, backend) -> what the tests saw it support

CACHE = Path(os.environ.get("MLFLOW_GITOPS_COMPAT_CACHE") or Path.home() / ".cache" / "mlflow-gitops-compat")
BUILD_TIMEOUT = 900.0
START_TIMEOUT = float(os.environ.get("MLFLOW_GITOPS_TEST_SERVER_TIMEOUT", "120"))
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
PG_DB_PREFIX = "mlflow_gitops_compat_"


def parse(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def requirements(version: str) -> list[str]:
    return [f"mlflow=={version}", *VERSIONS[version], *COMMON]


def venv_dir(version: str) -> Path:
    digest = hashlib.sha256("\n".join(requirements(version)).encode()).hexdigest()[:10]
    return CACHE / f"{version}-{digest}"


def _uv() -> list[str]:
    """uv sets $UV for what `uv run` starts; else a uv on PATH; else the base interpreter's module."""
    if os.environ.get("UV"):
        return [os.environ["UV"]]
    if shutil.which("uv"):
        return [shutil.which("uv")]
    return [getattr(sys, "_base_executable", sys.executable), "-m", "uv"]


def _size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, f)).st_size
    return total


def server_python(version: str) -> tuple[Path, dict]:
    """The interpreter of the cached environment for `version` (built if missing) and its build
    record: {"version", "requirements", "build_seconds", "size_bytes"}."""
    target = venv_dir(version)
    record_path = target / "compat-build.json"
    python = target / "bin" / "python"
    if record_path.exists():
        return python, json.loads(record_path.read_text())
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session may be building the same one
        if record_path.exists():
            return python, json.loads(record_path.read_text())
        # A folder without its record is an interrupted build: start over. The record is written
        # last, so its presence means the environment is complete.
        shutil.rmtree(target, ignore_errors=True)
        started = time.monotonic()
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")}
        base = getattr(sys, "_base_executable", sys.executable)
        steps = [
            [*_uv(), "venv", "--quiet", "--python", base, str(target)],
            [*_uv(), "pip", "install", "--quiet", "--python", str(python), *requirements(version)],
        ]
        for argv in steps:
            done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
            if done.returncode != 0:
                shutil.rmtree(target, ignore_errors=True)
                raise RuntimeError(f"building the MLflow {version} server environment failed:\n"
                                   f"{' '.join(argv)}\n{done.stderr[-4000:]}")
        record = {
            "version": version,
            "requirements": requirements(version),
            "build_seconds": round(time.monotonic() - started, 1),
            "size_bytes": _size(target),
        }
        record_path.write_text(json.dumps(record, indent=1))
        for stale in CACHE.glob(f"{version}-*"):  # the same version with earlier pins
            if stale != target:
                shutil.rmtree(stale, ignore_errors=True)
        return python, record


# ---- servers -----------------------------------------------------------------------------------

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# The server's leader asks the kernel for SIGTERM when the test process dies, then execs mlflow.
_PDEATHSIG_EXEC = """\
import ctypes, os, signal, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
except Exception:
    pass
if os.getppid() != int(sys.argv[1]):
    sys.exit("parent already gone")
os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class CompatServer:
    version: str
    backend: str  # "sqlite" | "postgres"
    workdir: Path
    uri: str = ""
    database: str | None = None
    python: Path = field(default_factory=Path)
    start_seconds: float = 0.0
    build: dict = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    log_path: Path = field(default_factory=Path)

    def start(self) -> CompatServer:
        self.python, self.build = server_python(self.version)
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.backend == "postgres":
            self.database = pg_create_database()
            store = f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{self.database}"
        else:
            store = f"sqlite:///{self.workdir / 'mlflow.db'}"
        artifacts = self.workdir / "artifacts"
        artifacts.mkdir(exist_ok=True)
        port = free_port()
        self.uri = f"http://127.0.0.1:{port}"
        argv = [
            str(self.python), "-c", _PDEATHSIG_EXEC, str(os.getpid()), "-m", "mlflow", "server",
            "--backend-store-uri", store, "--serve-artifacts", "--artifacts-destination", str(artifacts),
            "--default-artifact-root", "mlflow-artifacts:/", "--host", "127.0.0.1", "--port", str(port),
            "--workers", "1",
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "VIRTUAL_ENV"))}
        env.update(PYTHONUNBUFFERED="1", MLFLOW_DISABLE_TELEMETRY="true",
                   MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
        self.log_path = self.workdir / "server.log"
        log = open(self.log_path, "ab")  # noqa: SIM115 - the server writes it until stop()
        started = time.monotonic()
        self.proc = subprocess.Popen(argv, cwd=self.workdir, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(self.report(f"exited with code {self.proc.returncode}"))
            try:
                with _NO_PROXY.open(f"{self.uri}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            if time.monotonic() - started > START_TIMEOUT:
                raise RuntimeError(self.report(f"not healthy after {START_TIMEOUT:.0f}s"))
            time.sleep(0.2)
        self.start_seconds = round(time.monotonic() - started, 1)
        return self

    def report(self, reason: str) -> str:
        tail = self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""
        self.stop()
        return f"mlflow {self.version} server ({self.backend}) {reason}:\n{tail}"

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
        if proc is not None:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # workers of the group outliving the leader
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
        database, self.database = self.database, None
        if database:
            pg_drop_database(database)


# ---- PostgreSQL ----------------------------------------------------------------------------------


def _pg_connect():
    import psycopg2

    conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=5)
    conn.autocommit = True
    return conn


def pg_create_database() -> str:
    name = f"{PG_DB_PREFIX}{secrets.token_hex(6)}"
    conn = _pg_connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    return name


def pg_drop_database(name: str) -> None:
    conn = _pg_connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        conn.close()


if __name__ == "__main__":  # build (or show) environments: python tests/support/compat.py [VERSION...]
    for v in sys.argv[1:] or list(VERSIONS):
        try:
            py, rec = server_python(v)
            print(v, py, json.dumps(rec), flush=True)
        except Exception as e:  # noqa: BLE001 - report every version
            print(v, "FAILED", e, flush=True)
