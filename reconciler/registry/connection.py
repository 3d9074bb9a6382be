"""The connection to one registry: its target, MLflow's stores and clients, counting round
trips, and the one door every call goes through (`_call`: counted, retried on transient faults).

Against an `mlflow server` searches go through MLflow's own HTTP layer (`http_request`: auth,
headers, the session hooks of reconciler.registry.session) but their JSON is read directly
(`_rest_page`, `_rest_call`; decoded by reconciler.registry.decode). Writes call MLflow's registry
client (`models`) directly; `client` (an `MlflowClient`) is made only when a write needs runs.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from urllib.parse import urlsplit

from reconciler import uris
from reconciler.constants import DEFAULT_PARALLELISM
from reconciler.errors import RegistryError
from reconciler.redact import redact
from reconciler.registry import retry, session, setup
from reconciler.registry.capabilities import Capabilities
from reconciler.registry.failures import short
from reconciler.registry.setup import check_mlflow_http_environment
from reconciler.target import Target

# URIs served over HTTP (an `mlflow server`, Databricks): no database of ours to open.
SERVER_SCHEMES = ("http://", "https://", "databricks")

class Connection:
    """Which registry, its stores, the call counters; every registry call goes through `_call`
    (counted, retried on transient faults) or `_write` (reconciler.registry.writes)."""

    def __init__(self, target: Target, parallelism: int = DEFAULT_PARALLELISM,
                 on_retry: Callable[[str], None] | None = None, read_only: bool = False):
        """`read_only` (plan, drift, export): a sqlite registry that does not exist is read as an
        empty one and is not created; nor is a missing sqlite tracking store (opened only by
        writes). Otherwise a missing sqlite file is created, but not its directory."""
        self.target = target
        self.read_only = read_only
        # A registry that does not exist yet is empty: nothing to open, nothing to create.
        self.absent = read_only and uris.sqlite_missing(target.registry_uri)
        for uri, what in ((target.registry_uri, "the registry URI"), (target.tracking_uri, "the tracking URI")):
            uris.require_sqlite_file(uri, what)
            if not read_only:
                uris.require_sqlite_directory(uri, what)
        self.capabilities = Capabilities()  # APIs older servers lack, learnt on first use
        self._lock = threading.Lock()
        self._calls = 0
        self.writes = 0
        self.on_retry = on_retry  # told about each retry (--verbose)
        parts = urlsplit(target.registry_uri)
        self._http_key = (parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
        self._http_base = session.http_requests(*self._http_key)
        self.parallelism = 1
        self.rest = None
        if self.absent:
            return
        check_mlflow_http_environment()  # a check, not a set-up: every time a registry is opened
        try:
            self._open(parallelism)
        except Exception as e:  # a database that refuses the connection, a server MLflow cannot use...
            raise RegistryError(redact(f"opening the registry failed against {target.display}: {short(e)}")) from None

    def _open(self, parallelism: int) -> None:
        import mlflow  # heavy (~2.5 s): only commands that talk to MLflow pay it
        from mlflow.store.model_registry.rest_store import RestStore
        from mlflow.tracking._model_registry.client import ModelRegistryClient

        target = self.target

        # The process-wide part, once (reconciler.registry.setup): a no-op when the command did it.
        setup.configure_process(parallelism)
        if any(not uri.startswith(SERVER_SCHEMES) for uri in (target.registry_uri, target.tracking_uri)):
            setup.limit_database_retries()

        # Some store code resolves sources (`models:/m-...` of MLflow 3 logged models) through the
        # process-wide URIs rather than the client's: point those at the same registry.
        # MLflow's setters also export MLFLOW_*_URI to os.environ; keep the environment as the user
        # set it, so that a later target resolution in this process is not silently redirected.
        saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
        mlflow.set_tracking_uri(target.tracking_uri)
        mlflow.set_registry_uri(target.registry_uri)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

        parallelism = max(1, parallelism)
        # Writes and searches skip MlflowClient's per-call prompt check (an extra GET each). The
        # registry client alone opens no tracking store (MlflowClient would: a read-only command
        # must not create a sqlite tracking file); `client` is made when a write needs runs.
        self.models = ModelRegistryClient(target.registry_uri, target.tracking_uri)
        store = self.models.store
        self.rest = store if type(store) is RestStore else None
        # sqlite serialises writers and the embedded store runs in this process: no concurrency.
        self.parallelism = parallelism if self.concurrent_store(target.registry_uri) else 1

    @functools.cached_property
    def client(self):
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.target.tracking_uri, registry_uri=self.target.registry_uri)

    @functools.cached_property
    def tracking_store(self):
        """Runs live in the tracking store (`--tracking-uri`), which may not be the registry's; built
        on first use: plans without promotions never open it."""
        return self.client._tracking_client.store

    @property
    def tracking_rest(self):
        from mlflow.store.tracking.rest_store import RestStore

        return self.tracking_store if type(self.tracking_store) is RestStore else None

    @staticmethod
    def concurrent_store(uri: str) -> bool:
        return not uri.startswith("sqlite:") and "://" in uri

    @property
    def round_trips(self) -> int:
        """HTTP requests sent to the registry server (retries included) as counted on MLflow's
        connections; the number of registry calls where that cannot be counted (a database URI:
        the store runs in this process; a SOCKS proxy)."""
        return max(session.http_requests(*self._http_key) - self._http_base, self._calls)

    def _count(self, writes: int = 0) -> None:
        with self._lock:
            self._calls += 1
            self.writes += writes

    def _call(self, what: str, fn: Callable, *args, **kwargs):
        """One registry call, counted, with retries; for idempotent calls only."""

        def attempt():
            self._count()
            return fn(*args, **kwargs)

        return retry.call(attempt, what, on_retry=self.on_retry)

    def user_name(self) -> str | None:
        return self._user.name if self._user else os.environ.get("MLFLOW_TRACKING_USERNAME")

    def _rest_page(self, endpoint: str, page_size: int, filter_string: str | None, token: str | None) -> dict:
        """One search page through MLflow's HTTP layer (auth, headers, retries); its JSON as is."""
        from mlflow.utils.rest_utils import http_request, verify_rest_response

        params: dict = {"max_results": page_size}
        if filter_string:
            params["filter"] = filter_string
        if token:
            params["page_token"] = token

        def get():
            response = http_request(self.rest.get_host_creds(), endpoint, "GET", params=params)
            return verify_rest_response(response, endpoint).json()

        return self._call("reading the registry", get)

    def _rest_call(self, store, endpoint: str, what: str, body: dict) -> dict:
        """One POST search through MLflow's HTTP layer (auth, headers, retries); its JSON as is."""
        from mlflow.utils.rest_utils import http_request, verify_rest_response

        def post():
            response = http_request(store.get_host_creds(), endpoint, "POST", json=body)
            return verify_rest_response(response, endpoint).json()

        return self._call(what, post)
