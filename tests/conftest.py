"""Shared pytest fixtures for mlflow-gitops.

Integration fixtures use *real* MLflow parts only (never a mocked MlflowClient):

* ``embedded_uri``     -- fresh ``sqlite:///<tmp>/mlflow.db`` per test (embedded store, no server)
* ``sqlite_server``    -- one real ``mlflow server`` per session on a SQLite backend
* ``postgres_server``  -- one real ``mlflow server`` per session on a fresh PostgreSQL database
* ``auth_server``      -- one ``mlflow server --app-name basic-auth`` per session (SQLite); ``.admin``
* ``scratch_server``   -- one more SQLite server per session that a test may kill (and ``relaunch``)
* ``registry_uri``     -- parametrised over the three backends above
* ``unique_name``      -- collision-free model name (servers are shared across a session)
* ``run_cli``          -- run ``python -m reconciler ...`` in a clean subprocess
* ``fluent_uri``       -- temporarily point MLflow's fluent API (mlflow.*) at a URI

Servers are started lazily: nothing is launched unless a collected test needs a
server.  When the first server fixture is requested, every server that the
collected tests need is launched at once so their (slow) start-ups overlap.

This module is imported for every test (unit tests too), so it must stay cheap to
import: mlflow and psycopg2 are only imported inside fixtures.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from uuid import uuid4

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# Seconds a server may take from launch until GET /health answers 200.  Start-up is
# dominated by importing mlflow twice (CLI + uvicorn worker) and running the DB
# migrations: 18-25 s alone on a 2-CPU box, ~30-37 s when both boot at once under load.
SERVER_START_TIMEOUT = float(os.environ.get("MLFLOW_GITOPS_TEST_SERVER_TIMEOUT", "90"))
SERVER_STOP_TIMEOUT = 15.0
pytest_plugins = ["support.compat_plugin"]

HEALTH_POLL_INTERVAL = 0.2
CLI_TIMEOUT = 120.0

PG_HOST = os.environ.get("MLFLOW_GITOPS_TEST_PGHOST", "127.0.0.1")
PG_PORT = int(os.environ.get("MLFLOW_GITOPS_TEST_PGPORT", "5432"))
PG_USER = os.environ.get("MLFLOW_GITOPS_TEST_PGUSER", "postgres")
PG_DB_PREFIX = "mlflow_gitops_test_"

# Environment variables that must never leak from the developer's shell (or from an
# earlier mlflow.set_tracking_uri() in this process, which writes os.environ!) into
# the subprocesses we start.
_URI_ENV_VARS = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")

SERVER_KINDS = ("sqlite", "postgres", "auth", "scratch", "webhook")
_BACKEND_FIXTURES = {"embedded_uri", "sqlite_server", "postgres_server", "registry_uri"}
_PARAM_TO_KIND = {"server-sqlite": "sqlite", "server-postgres": "postgres"}


# --------------------------------------------------------------------------- helpers


def unique_model_name(prefix: str = "m") -> str:
    """A registered-model name that cannot collide within a shared server."""
    return f"{prefix}_{uuid4().hex[:10]}"


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clean_env(extra: dict[str, str | None] | None = None) -> dict[str, str]:
    """Copy of os.environ without tracking/registry URIs, plus ``extra``.

    A value of ``None`` in ``extra`` removes that variable.
    """
    env = dict(os.environ)
    for var in _URI_ENV_VARS:
        env.pop(var, None)
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    env["PYTHONUNBUFFERED"] = "1"
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_cli(
    *args: str,
    env: dict[str, str | None] | None = None,
    input: str | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = CLI_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m reconciler *args`` in a subprocess and capture its output.

    The child gets a copy of the environment with MLFLOW_TRACKING_URI and
    MLFLOW_REGISTRY_URI removed, unless ``env`` sets them (``env`` values of
    ``None`` delete variables).  Never raises on a non-zero exit code: assert on
    ``.returncode``, ``.stdout`` and ``.stderr``.
    """
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *map(str, args)],
        env=_clean_env(env),
        input=input,
        cwd=str(cwd) if cwd is not None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=None if input is not None else subprocess.DEVNULL,
        check=False,
    )


# ------------------------------------------------------------------- mlflow servers


# Readiness probes go straight to loopback, whatever *_proxy variables say.
_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServerStartError(RuntimeError):
    pass


# On Linux the server's leader process asks the kernel for SIGTERM when pytest dies
# (even by SIGKILL), then execs the real command line.  mlflow's CLI forwards SIGTERM to
# its uvicorn child, so a crashed test session cannot leave servers behind.
_PDEATHSIG_EXEC = """\
import ctypes, os, signal, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
except Exception:
    pass
if os.getppid() != int(sys.argv[1]):
    sys.exit("parent already gone")
os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
"""


@dataclass
class MlflowServer:
    """A real ``mlflow server`` subprocess (one process group)."""

    kind: str
    workdir: Path
    backend_store_uri: str
    database: str | None = None  # PostgreSQL database name (postgres kind only)
    uri: str = ""
    port: int = 0
    log_path: Path = field(default_factory=Path)
    artifacts_path: Path = field(default_factory=Path)
    command: list[str] = field(default_factory=list)
    start_seconds: float | None = None
    extra_args: list[str] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)
    admin: tuple[str, str] | None = None  # (username, password) of an auth server's admin
    proc: subprocess.Popen | None = None
    _launched_at: float = 0.0
    _log_offset: int = 0
    _log_file: object = None

    def launch(self) -> None:
        """Start the server (non-blocking); see :meth:`wait_ready`."""
        self.port = _free_loopback_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.artifacts_path = self.workdir / "artifacts"
        self.artifacts_path.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "server.log"
        self.start_seconds = None
        self.command = [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", self.backend_store_uri,
            "--serve-artifacts",
            "--artifacts-destination", str(self.artifacts_path),
            "--default-artifact-root", "mlflow-artifacts:/",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--workers", "1",
            # Explicit (and narrower than the default "localhost + private IPs"):
            # the clients in this test session only ever use http://127.0.0.1:PORT.
            "--allowed-hosts", f"127.0.0.1:{self.port},localhost:{self.port}",
            *self.extra_args,
        ]  # fmt: skip
        argv = self.command
        if sys.platform.startswith("linux"):
            argv = [sys.executable, "-c", _PDEATHSIG_EXEC, str(os.getpid()), *self.command[1:]]
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        env.update(
            PYTHONUNBUFFERED="1",
            MLFLOW_DISABLE_TELEMETRY="true",
            # The job runner spawns ~7 huey consumer processes and adds seconds of
            # start-up; the model registry does not need it.
            MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
        )
        env.update(self.extra_env)
        # Append so a retry after a port clash keeps the earlier attempt's output.
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log_offset = self._log_file.tell()
        self._launched_at = time.monotonic()
        self.proc = subprocess.Popen(
            argv,
            cwd=self.workdir,  # stray ./mlruns or ./mlartifacts land in the tmp dir
            env=env,
            stdin=subprocess.DEVNULL,
            # A file, not a PIPE: nobody drains a pipe while tests run, and a full
            # pipe buffer would block the server.
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group -> killpg() in stop()
        )

    def log_tail(self, max_chars: int = 6000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"<could not read {self.log_path}: {exc}>"
        return text[-max_chars:]

    def poll_ready(self) -> bool:
        """One non-blocking readiness check; raises ServerStartError if it died/timed out."""
        if self.start_seconds is not None:
            return True
        if self.proc is None:
            raise ServerStartError("was never launched or already stopped")
        rc = self.proc.poll()
        if rc is not None:
            raise ServerStartError(f"exited with code {rc} before becoming ready")
        try:
            with _NO_PROXY_OPENER.open(f"{self.uri}/health", timeout=2) as resp:
                if resp.status == 200:
                    self.start_seconds = time.monotonic() - self._launched_at
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        if time.monotonic() - self._launched_at > SERVER_START_TIMEOUT:
            raise ServerStartError(
                f"not healthy after {SERVER_START_TIMEOUT:.0f}s at {self.uri}/health"
            )
        return False

    def port_clash(self) -> bool:
        """Did the latest launch die because its port was taken meanwhile?"""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_offset)
                text = f.read().decode(errors="replace").lower()
        except OSError:
            return False
        return "address already in use" in text or "errno 98" in text

    def failure_report(self, reason: object) -> str:
        return (
            f"mlflow server ({self.kind}) {reason}.\n"
            f"command: {' '.join(self.command)}\n"
            f"--- {self.log_path} (tail) ---\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """Terminate the whole process group; escalate to SIGKILL. Idempotent."""
        proc, self.proc = self.proc, None
        if proc is not None:
            pgid = proc.pid  # start_new_session=True: pid == pgid
            if proc.poll() is None:
                _signal_group(pgid, signal.SIGTERM)
                try:
                    proc.wait(timeout=SERVER_STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    _signal_group(pgid, signal.SIGKILL)
                    proc.wait(timeout=SERVER_STOP_TIMEOUT)
            # The leader is gone; make sure no worker of its group outlives it.
            _wait_group_gone(pgid)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def _signal_group(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False


def _wait_group_gone(pgid: int) -> None:
    deadline = time.monotonic() + SERVER_STOP_TIMEOUT
    while _signal_group(pgid, 0) and time.monotonic() < deadline + 5:
        _signal_group(pgid, signal.SIGTERM if time.monotonic() < deadline else signal.SIGKILL)
        time.sleep(0.1)


# --------------------------------------------------------------------- PostgreSQL


def _pg_connect(dbname: str = "postgres"):
    import psycopg2

    conn = psycopg2.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=dbname, connect_timeout=5
    )
    conn.autocommit = True
    return conn


def _pg_create_database() -> str:
    import psycopg2

    name = f"{PG_DB_PREFIX}{secrets.token_hex(6)}"
    try:
        conn = _pg_connect()
    except psycopg2.OperationalError as exc:
        raise ServerStartError(
            f"PostgreSQL is not reachable at {PG_USER}@{PG_HOST}:{PG_PORT} ({exc}).\n"
            "The postgres integration backend is required (it is never skipped): start "
            "PostgreSQL with trust auth for user 'postgres', or deselect explicitly "
            "with -m 'not postgres'."
        ) from exc
    try:
        _pg_drop_stale_databases(conn)
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
            cur.execute(f'COMMENT ON DATABASE "{name}" IS %s', (_pg_owner_tag(os.getpid()),))
    finally:
        conn.close()
    return name


def _pg_owner_tag(pid: int) -> str:
    return f"mlflow-gitops test; host={socket.gethostname()}; pid={pid}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pg_drop_stale_databases(conn) -> None:
    """Drop test databases left by a session of this host that was SIGKILLed.

    Only databases tagged (COMMENT) with this host and a pid that no longer exists are
    touched, so concurrent test sessions on the same PostgreSQL are safe.
    """
    prefix = f"mlflow-gitops test; host={socket.gethostname()}; pid="
    with conn.cursor() as cur:
        cur.execute(
            "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
            "WHERE datname LIKE %s",
            (PG_DB_PREFIX.replace("_", r"\_") + "%",),
        )
        rows = cur.fetchall()
    for datname, comment in rows:
        if not comment or not comment.startswith(prefix):
            continue
        try:
            pid = int(comment[len(prefix) :])
        except ValueError:
            continue
        if not _pid_alive(pid):
            with contextlib.suppress(Exception):
                _pg_drop_database(datname)


def _pg_drop_database(name: str) -> None:
    conn = _pg_connect()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        conn.close()


# ------------------------------------------------------------------- server pool


class _ServerPool:
    """Launches servers and tears them down.

    Everything runs in pytest's main thread (PR_SET_PDEATHSIG is tied to the thread
    that forked).  On the first request, every server the collected tests need is
    launched; they boot concurrently while we wait for the requested one.
    """

    def __init__(self, basetemp: Path, needed: set[str]):
        self.basetemp = basetemp
        self.needed = needed
        self.servers: dict[str, MlflowServer] = {}
        self.errors: dict[str, str] = {}
        self.pg_databases: list[str] = []
        self._closed = False
        self._old_sigterm = None
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        ):
            # `kill <pytest>` -> KeyboardInterrupt, so fixture teardown still runs.
            self._old_sigterm = signal.signal(signal.SIGTERM, _sigterm_to_interrupt)

    def _launch(self, kind: str) -> None:
        if kind in self.servers or kind in self.errors:
            return
        try:
            workdir = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=self.basetemp))
            db = None
            extra: dict = {}
            if kind in ("sqlite", "scratch"):
                backend = f"sqlite:///{workdir / 'server.db'}"
            elif kind == "auth":
                backend = f"sqlite:///{workdir / 'server.db'}"
                extra = _auth_settings(workdir)
            elif kind == "webhook":
                backend = f"sqlite:///{workdir / 'server.db'}"
                extra = {"extra_env": WEBHOOK_SERVER_ENV}
            elif kind == "postgres":
                db = _pg_create_database()
                self.pg_databases.append(db)
                # Explicit driver: SQLAlchemy 2.1 maps plain postgresql:// to psycopg
                # (v3), which is not installed; psycopg2-binary is.
                backend = f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{db}"
            else:  # pragma: no cover
                raise ValueError(kind)
            server = MlflowServer(
                kind=kind, workdir=workdir, backend_store_uri=backend, database=db, **extra
            )
            self.servers[kind] = server
            server.launch()
        except Exception as exc:  # noqa: BLE001 - reported when ``kind`` is requested
            self.errors[kind] = str(exc) if isinstance(exc, ServerStartError) else repr(exc)

    def get(self, kind: str) -> MlflowServer:
        if self._closed:
            pytest.fail("mlflow server pool is already closed", pytrace=False)
        for k in [kind, *sorted(self.needed - {kind})]:
            self._launch(k)
        relaunches = 0
        while kind not in self.errors:
            server = self.servers[kind]
            try:
                if server.poll_ready():
                    return server
            except ServerStartError as exc:
                server.stop()  # first, so the log in the report is complete
                # A free port found by bind(0) can be taken before the server binds it;
                # retry on a new port in that case only.
                if server.port_clash() and relaunches < 2:
                    relaunches += 1
                    server.launch()
                    continue
                self.errors[kind] = server.failure_report(exc)
                break
            # Record the other servers' start-up times while we are waiting anyway.
            for other, srv in self.servers.items():
                if other != kind and other not in self.errors and srv.proc is not None:
                    with contextlib.suppress(ServerStartError):
                        srv.poll_ready()
            time.sleep(HEALTH_POLL_INTERVAL)
        pytest.fail(
            f"could not start the {kind} mlflow server:\n{self.errors[kind]}", pytrace=False
        )

    def close(self) -> None:
        """Stop every server and drop every database. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for server in self.servers.values():
            server.stop()
        for db in self.pg_databases:
            try:
                _pg_drop_database(db)
            except Exception as exc:  # noqa: BLE001
                print(f"WARNING: could not drop PostgreSQL database {db}: {exc}")
        restore = self._old_sigterm is not None
        if restore and signal.getsignal(signal.SIGTERM) is _sigterm_to_interrupt:
            signal.signal(signal.SIGTERM, self._old_sigterm)


def _auth_settings(workdir: Path) -> dict:
    """MLflow's basic-auth app: users in their own SQLite DB, READ for everyone by default."""
    password = secrets.token_urlsafe(16)
    ini = workdir / "basic_auth.ini"
    ini.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = sqlite:///{workdir / 'basic_auth.db'}\n"
        "admin_username = admin\n"
        f"admin_password = {password}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        # checking a password hash (PBKDF2) on every request is slow on a small CI machine
        "auth_cache_ttl_seconds = 300\n"
    )
    return {
        "extra_args": ["--app-name", "basic-auth"],
        # the auth app refuses to start without a static key for its CSRF protection
        "extra_env": {"MLFLOW_AUTH_CONFIG_PATH": str(ini), "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16)},
        "admin": ("admin", password),
    }


# MLflow (3.3+) delivers webhooks only to https URLs that resolve to public addresses, caches each
# event's webhook list for 60 s, and encrypts webhook secrets with a key it makes up per process
# unless given one (mlflow/environment_variables.py, mlflow/utils/validation.py, mlflow/webhooks/).
# Tests deliver to a `serve` on http://127.0.0.1 right after creating the webhook.
WEBHOOK_SERVER_ENV = {
    "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
    "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
    "MLFLOW_WEBHOOK_CACHE_TTL": "1",
    "MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": "bWxmbG93LWdpdG9wcy10ZXN0LWtleS0zMi1ieXRlcyE=",
}


def _sigterm_to_interrupt(signum, frame):
    raise KeyboardInterrupt(f"received signal {signum}")


_POOLS: list[_ServerPool] = []


def _needed_server_kinds(items) -> set[str]:
    needed: set[str] = set()
    for item in items:
        names = getattr(item, "fixturenames", ())
        for kind in SERVER_KINDS:
            if f"{kind}_server" in names:
                needed.add(kind)
        callspec = getattr(item, "callspec", None)
        if callspec is not None:
            kind = _PARAM_TO_KIND.get(callspec.params.get("registry_uri"))
            if kind:
                needed.add(kind)
    return needed


@pytest.fixture(scope="session")
def _server_pool(request, tmp_path_factory):
    pool = _ServerPool(
        tmp_path_factory.mktemp("mlflow-servers"),
        _needed_server_kinds(request.session.items),
    )
    _POOLS.append(pool)
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture(scope="session")
def sqlite_server(_server_pool) -> MlflowServer:
    """Real ``mlflow server`` on SQLite.

    Yields an :class:`MlflowServer`: ``.uri`` (http://127.0.0.1:PORT), ``.log_path``
    (combined stdout/stderr), ``.backend_store_uri``, ``.artifacts_path``,
    ``.start_seconds``.
    """
    return _server_pool.get("sqlite")


@pytest.fixture(scope="session")
def postgres_server(_server_pool) -> MlflowServer:
    """Like ``sqlite_server`` but on a fresh PostgreSQL database dropped at session end.

    Fails (never skips) when PostgreSQL is unreachable.
    """
    return _server_pool.get("postgres")


@pytest.fixture(scope="session")
def auth_server(_server_pool) -> MlflowServer:
    """``mlflow server --app-name basic-auth`` on SQLite; default permission READ; ``.admin`` is
    the (username, password) of its admin, who creates users through the auth REST API."""
    return _server_pool.get("auth")


@pytest.fixture(scope="session")
def scratch_server(_server_pool) -> MlflowServer:
    """A SQLite ``mlflow server`` of its own, for the tests that kill a server: after ``.stop()``,
    its data stays in ``.backend_store_uri``; ``.launch()`` + ``poll_ready()`` would restart it."""
    return _server_pool.get("scratch")


@pytest.fixture(scope="session")
def webhook_server(_server_pool) -> MlflowServer:
    """A SQLite ``mlflow server`` that delivers webhooks to loopback http:// URLs (WEBHOOK_SERVER_ENV)."""
    return _server_pool.get("webhook")


def pytest_unconfigure(config):
    # Safety net for sessions whose fixture teardown did not run (e.g. interrupted).
    for pool in _POOLS:
        pool.close()


def pytest_terminal_summary(terminalreporter):
    for pool in _POOLS:
        parts = [
            f"{kind} {srv.start_seconds:.1f}s"
            for kind, srv in sorted(pool.servers.items())
            if srv.start_seconds is not None
        ]
        if parts:
            terminalreporter.write_line("mlflow server start-up: " + ", ".join(parts))


# -------------------------------------------------------------------- embedded store


@pytest.fixture(scope="session")
def _embedded_template(tmp_path_factory) -> Path | None:
    """An empty, fully migrated MLflow SQLite DB, copied for each test.

    Running the alembic migrations costs >1 s per fresh database; copying a
    migrated file is ~instant.  Falls back to lazy migration on any problem.
    """
    path = tmp_path_factory.mktemp("mlflow-embedded-template") / "mlflow.db"
    try:
        from mlflow.store.db.utils import _initialize_tables, create_sqlalchemy_engine

        engine = create_sqlalchemy_engine(f"sqlite:///{path}")
        try:
            _initialize_tables(engine)
        finally:
            engine.dispose()
    except Exception:  # noqa: BLE001 - private API; the copy is only an optimisation
        return None
    return path


@pytest.fixture
def embedded_uri(tmp_path, _embedded_template) -> str:
    """``sqlite:///<tmp_path>/mlflow.db`` -- a fresh embedded store for this test."""
    db = tmp_path / "mlflow.db"
    if _embedded_template is not None:
        shutil.copyfile(_embedded_template, db)
    return f"sqlite:///{db}"


# ------------------------------------------------------------------ parametrisation


@pytest.fixture(
    params=[
        pytest.param("embedded", marks=pytest.mark.integration),
        pytest.param("server-sqlite", marks=pytest.mark.integration),
        pytest.param("server-postgres", marks=[pytest.mark.integration, pytest.mark.postgres]),
    ]
)
def registry_uri(request) -> str:
    """Tracking/registry URI of each backend (embedded: fresh per test; servers: shared)."""
    if request.param == "embedded":
        return request.getfixturevalue("embedded_uri")
    server = request.getfixturevalue(f"{_PARAM_TO_KIND[request.param]}_server")
    return server.uri


@pytest.fixture
def unique_name() -> str:
    """e.g. ``m_1a2b3c4d5e`` -- use it for every model created on a shared server."""
    return unique_model_name()


@pytest.fixture(name="run_cli")
def run_cli_fixture():
    """The :func:`run_cli` helper, as a fixture."""
    return run_cli


@pytest.fixture
def fluent_uri():
    """Context manager pointing mlflow's fluent API (tracking + registry) at a URI.

    ``mlflow.set_tracking_uri`` / ``set_registry_uri`` also write MLFLOW_TRACKING_URI /
    MLFLOW_REGISTRY_URI into ``os.environ``; both the module globals and the
    environment are restored on exit, and any active run is ended.
    """

    @contextlib.contextmanager
    def _use(uri: str):
        import mlflow
        from mlflow.tracking._model_registry import utils as registry_utils
        from mlflow.tracking._tracking_service import utils as tracking_utils

        saved_env = {var: os.environ.get(var) for var in _URI_ENV_VARS}
        saved_tracking = tracking_utils._tracking_uri
        saved_registry = registry_utils._registry_uri
        try:
            mlflow.set_tracking_uri(uri)
            mlflow.set_registry_uri(uri)
            yield uri
        finally:
            while mlflow.active_run() is not None:
                mlflow.end_run()
            mlflow.set_tracking_uri(saved_tracking)
            registry_utils._registry_uri = saved_registry
            for var, value in saved_env.items():
                if value is None:
                    os.environ.pop(var, None)
                else:
                    os.environ[var] = value

    return _use


# ------------------------------------------------------------------------- markers


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Tests that use a real backend are integration tests (and postgres ones postgres).

    Runs before ``-m`` deselection, so ``-m 'not integration'`` works even for tests
    that forgot the explicit marker.
    """
    for item in items:
        names = getattr(item, "fixturenames", ())
        uses_pg = "postgres_server" in names or (
            getattr(item, "callspec", None) is not None
            and item.callspec.params.get("registry_uri") == "server-postgres"
        )
        uses_backend = bool(_BACKEND_FIXTURES & set(names))
        if uses_backend and item.get_closest_marker("integration") is None:
            item.add_marker(pytest.mark.integration)
        if uses_pg and item.get_closest_marker("postgres") is None:
            item.add_marker(pytest.mark.postgres)


# ------------------------------------------------------------------ in-process CLI


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def invoke_cli(*args: str, env: dict[str, str | None] | None = None) -> CliResult:
    """Run the real CLI (argument parsing, commands, error handler) inside this process.

    Same contract as :func:`run_cli`, without paying MLflow's import for every call; tests that
    need a fresh process (tracebacks, start-up, signals) use ``run_cli``. The environment is
    restored afterwards, because MLflow's set_tracking_uri writes MLFLOW_TRACKING_URI.
    """
    from typer.testing import CliRunner

    from reconciler.cli import app

    saved = dict(os.environ)
    try:
        for var in _URI_ENV_VARS:
            os.environ.pop(var, None)
        result = CliRunner().invoke(app, [str(a) for a in args], env=env, catch_exceptions=False)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return CliResult(result.exit_code, result.stdout, result.stderr)


@pytest.fixture(name="cli")
def cli_fixture():
    """The :func:`invoke_cli` helper, as a fixture."""
    return invoke_cli
