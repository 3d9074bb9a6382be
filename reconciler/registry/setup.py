"""What the registry changes in the process, done once, explicitly: `configure_process()`.

Called by the code that opens a registry for a command (`reconciler.registry.client.connect`:
the commands' loading helpers, `serve`'s controller) before the first connection. A registry
built directly (tests, benchmarks) configures the process on its first connection instead
(`Connection` calls `configure_process()`, a no-op once done), so that no path talks to MLflow
unconfigured. Idempotent and thread-safe: the first call's settings stay.

What it sets, and why:
- warning filters: stages are deprecated upstream (FutureWarning) but are what manifests declare;
- log levels: MLflow's INFO lines (e.g. creating tables of a new sqlite store) are noise in a
  plan, and a database that refuses the connection would log each of MLflow's retries;
- MLflow's database connect retries: ~100 s (ignoring --timeout) cut to `DB_CONNECT_ATTEMPTS`
  (`limit_database_retries()`, called by a connection to a direct database URI only);
- `MLFLOW_HTTP_POOL_MAXSIZE` (unless the user set it): one pooled HTTP connection per worker
  thread (MLflow's default pool keeps 10), read once when MLflow builds its session;
- MLflow's HTTP session hooks (reconciler.registry.session): no retries of MLflow's own,
  requests counted, no delayed-ACK stall.

Not here, because it belongs to one registry rather than the process: each connection points
MLflow's process-wide tracking/registry URIs at its own target (see `Connection._open`).
"""

from __future__ import annotations

import logging
import os
import threading
import warnings

from reconciler.constants import DEFAULT_PARALLELISM
from reconciler.registry import retry, session

DB_CONNECT_ATTEMPTS = 3  # a direct database URI (sqlite, postgresql://...) that cannot be opened

_lock = threading.Lock()
_configured = False


def configured() -> bool:
    return _configured


def configure_process(parallelism: int = DEFAULT_PARALLELISM) -> None:
    """Set the process up for talking to MLflow (see the module's docstring); imports MLflow
    (~2.5 s), so call it only once a registry is really opened."""
    global _configured
    with _lock:
        if _configured:
            return
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"mlflow(\.|$)")
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"reconciler\.registry(\.|$)")
        os.environ.setdefault("MLFLOW_HTTP_POOL_MAXSIZE", str(max(10, parallelism)))
        session.install_hooks()  # imports mlflow, which sets its own loggers up (INFO): quieten them after
        logging.getLogger("mlflow").setLevel(logging.WARNING)
        _configured = True


_databases_limited = False


def limit_database_retries() -> None:
    """Cut MLflow's database connect retries (~100 s, ignoring --timeout) to `DB_CONNECT_ATTEMPTS`,
    quietly. Only for a direct database URI: importing MLflow's SQL layer costs ~0.5 s that a
    command against an `mlflow server` never needs. Idempotent."""
    global _databases_limited
    with _lock:
        if _databases_limited:
            return
        from mlflow.store.db import utils as db_utils

        if getattr(db_utils, "MAX_RETRY_COUNT", 0) > DB_CONNECT_ATTEMPTS:
            db_utils.MAX_RETRY_COUNT = DB_CONNECT_ATTEMPTS
        logging.getLogger("mlflow.store.db.utils").setLevel(logging.ERROR)
        _databases_limited = True


# MLflow's HTTP layer parses these on every request (with MLflow's types: some are whole numbers),
# even though the tool switches its retries off; the tool's own retry settings are MLFLOW_GITOPS_HTTP_*.
MLFLOW_HTTP_VARIABLES = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": retry.ENV_RETRIES,
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": retry.ENV_BACKOFF,
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": retry.ENV_JITTER,
    "MLFLOW_HTTP_REQUEST_TIMEOUT": retry.ENV_TIMEOUT,
    "MLFLOW_HTTP_POOL_CONNECTIONS": None,
    "MLFLOW_HTTP_POOL_MAXSIZE": None,
    "MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER": None,
    "MLFLOW_TRACKING_INSECURE_TLS": None,
}


def check_mlflow_http_environment() -> None:
    """A value MLflow cannot parse would fail every registry call with MLflow's own message (e.g.
    `MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR=0.5`: MLflow wants a whole number): one clear line instead."""
    import mlflow.environment_variables as mlflow_env

    for name, ours in MLFLOW_HTTP_VARIABLES.items():
        variable = getattr(mlflow_env, name, None)
        if variable is None or name not in os.environ:
            continue
        try:
            variable.get()
        except Exception:
            kind = {int: "a whole number", float: "a number", bool: "true or false"}.get(variable.type, "another value")
            instead = f"; mlflow-gitops's own retry setting is {ours} (fractions allowed)" if ours else ""
            raise retry.ConfigError(
                f"{name}={retry.printable_value(os.environ[name])}: MLflow reads this variable as {kind} on "
                f"every request and cannot use this value; fix or unset it{instead}"
            ) from None

