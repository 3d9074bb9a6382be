"""The registry: the only module that talks to MLflow.

Reads build a `Snapshot` from paged bulk searches (never a call per model), run concurrently;
writes are one method per plan action, one call each. Every MLflow error is turned into a
`RegistryError` with credentials redacted.

Every call goes through `reconciler.registry.retry` (transient faults retried with backoff, within the
command's --timeout; MLflow's own HTTP retries are off). The two writes that are not idempotent
are made safe to retry here: `create_model` takes "already exists" as done, and
`register_version` looks for the version its lost attempt may have registered before trying again,
and withdraws its version if a concurrent run registered the same source first.

Performance notes (measured in docs/benchmarks.md):
- Against an `mlflow server` the searches go through MLflow's own HTTP layer (`http_request`:
  auth, headers, retries) but their JSON is read directly, not through protobuf's pure-Python
  `ParseDict`, which costs more than a second per 20,000 versions.
- Writes call MLflow's registry client directly: `MlflowClient` precedes every write with a
  `get_registered_model` round trip to refuse prompts; instead the snapshot reads prompts
  (`Snapshot.prompts`, a third search per batch) and everything upstream refuses them: a manifest
  naming one (diff), a saved plan touching one, a model that became one (guard), and a create
  that meets one ("already exists" is only taken as done after a read shows a model).
- `HTTPConnection`s of MLflow's pooled session ask for an immediate ACK before reading each
  response (`TCP_QUICKACK`): a multi-worker `mlflow server` (uvicorn's default of 4 workers) does
  not set TCP_NODELAY, so its body segment waits for our delayed ACK of the header segment, ~40 ms
  on every reused keep-alive connection.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from reconciler import uris
from reconciler.apply import audit
from reconciler.apply.permissions import REQUIRED, User
from reconciler.errors import RegistryError
from reconciler.redact import redact
from reconciler.registry import retry
from reconciler.registry.capabilities import Capabilities, equality_filter
from reconciler.registry.snapshot import PROMPT_REFUSAL, LiveModel, LiveVersion, RunRecord, Snapshot
from reconciler.registry.tls import failure as failure_of_tls
from reconciler.target import Target

PROMPT_TAG = "mlflow.prompt.is_prompt"
PROMPTS_ONLY = f"tags.`{PROMPT_TAG}` = 'true'"
SYSTEM_TAG_PREFIX = "mlflow."
# Ours: the audit trail's tags; and models of our own (the `apply --lock` lease, reconciler.apply.lock),
# never part of a snapshot.
AUDIT_TAG_PREFIX = RESERVED_MODEL_PREFIX = audit.PREFIX
MODELS_PAGE = 1000  # server maximum for search_registered_models
VERSIONS_PAGE = 200_000  # server maximum for search_model_versions
# Searches are GET requests: keep `name IN (...)` filters well under common URL limits.
MAX_FILTER_CHARS = 4000
# Named models are read with `name IN (...)` filters, each batch's two searches at once, as long
# as that takes at most this many batches (~1,000 short names); more names than that are a large
# part of the registry: page through all of it instead (1 + models/1000 round trips).
MAX_FILTER_BATCHES = 4
# A tree of more files than this names more models than the filters take (names of 14+ chars):
# start paging through the registry while the manifests are parsed.
PREFETCH_ABOVE_FILES = 1000
DEFAULT_PARALLELISM = 8
DB_CONNECT_ATTEMPTS = 3  # a direct database URI (sqlite, postgresql://...) that cannot be opened
MODELS_SEARCH = "/api/2.0/mlflow/registered-models/search"
VERSIONS_SEARCH = "/api/2.0/mlflow/model-versions/search"
# How a server that does not understand `name IN (...)` refuses the filter.
REJECTED_FILTER_CODES = ("INVALID_PARAMETER_VALUE", "BAD_REQUEST")
# MLflow's auth app (`mlflow server --app-name basic-auth`): who am I, and what may I do to a model.
CURRENT_USER = "/api/2.0/mlflow/users/current"
USER_PERMISSION = "/api/3.0/mlflow/users/permissions/get"
# Runs behind plan evidence and gates: one paged experiment search (search_runs needs experiment
# ids, which model versions do not carry), then `attributes.run_id IN (...)` batches, concurrently.
EXPERIMENTS_SEARCH = "/api/2.0/mlflow/experiments/search"
RUNS_SEARCH = "/api/2.0/mlflow/runs/search"
EXPERIMENTS_PAGE = 50_000  # server maximum (SEARCH_MAX_RESULTS_THRESHOLD)
RUN_IDS_PER_SEARCH = 250


def is_prompt(tags: dict[str, str]) -> bool:
    # MLflow's own test is `== "true"`; any value of its reserved tag is no model of ours to touch
    return PROMPT_TAG in tags


def user_tags(tags: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if not k.startswith((SYSTEM_TAG_PREFIX, AUDIT_TAG_PREFIX))}


def audit_tags(tags: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if k.startswith(AUDIT_TAG_PREFIX)}


def quote(value: str) -> str:
    """`value` as a string literal of an `IN (...)` list in MLflow's search filters, exactly.

    MLflow reads `=`/`LIKE` values by trimming the quotes (no escapes at all: a name with both
    quote kinds cannot be written there), but reads an `IN (...)` list with Python's
    `ast.literal_eval`, after sqlparse has split the filter into tokens (where a backslash before
    a quote escapes it). So every character that either reader could take for syntax -- both
    quotes, the backslash, control and line-break characters -- is written as a Python `\\x`/`\\u`
    escape, which sqlparse sees as plain text and literal_eval decodes: any name round-trips.
    `%` and `_` need nothing: `IN` compares for equality, not as a pattern.
    Filters are always `name IN (...)`, one name or many (see `name_filters`)."""
    out = []
    for ch in value:
        code = ord(ch)
        if ch in _FILTER_SYNTAX or code < 0x20 or 0x7F <= code < 0xA0:
            out.append(f"\\x{code:02x}")
        elif ch in _LINE_BREAKS or 0xD800 <= code < 0xE000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "'" + "".join(out) + "'"


_FILTER_SYNTAX = frozenset("\\'\"")
_LINE_BREAKS = frozenset("\u2028\u2029\x85")


def name_filter(names: Iterable[str]) -> str:
    return f"name IN ({','.join(quote(n) for n in names)})"


def name_filters(names: list[str]) -> Iterable[str]:
    batch: list[str] = []
    size = 0
    for name in names:
        q = quote(name)
        if batch and size + len(q) + 1 > MAX_FILTER_CHARS:
            yield f"name IN ({','.join(batch)})"
            batch, size = [], 0
        batch.append(q)
        size += len(q) + 1
    if batch:
        yield f"name IN ({','.join(batch)})"


def registry_call(what: str):
    """Turn any exception raised inside MLflow into a RegistryError naming `what` failed."""

    def wrap(fn):
        @functools.wraps(fn)
        def inner(self, *args, **kwargs):
            try:
                return fn(self, *args, **kwargs)
            except RegistryError:
                raise
            except Exception as e:  # MlflowException, requests errors, sqlalchemy errors, retry...
                tls = failure_of_tls(e, self.target.registry_uri)
                if tls:
                    raise RegistryError(redact(tls)) from None
                reason = denial(what, self.user_name(), e) if permission_denied(e) else short(e)
                raise RegistryError(redact(f"{what} failed against {self.target.display}: {reason}")) from None

        return inner

    return wrap


def error_code(e: BaseException) -> str | None:
    return getattr(e, "error_code", None)


def permission_denied(e: BaseException) -> bool:
    return error_code(e) == "PERMISSION_DENIED" or "error code 403" in str(e)


def denied(what: str, user: str | None) -> str:
    who = f" for user '{user}'" if user else ""
    need = REQUIRED.get(what)
    hint = f" (MLflow requires {need} permission on the model for {what})" if need else ""
    return f"permission denied{who}{hint}"


def denial(what: str, user: str | None, e: BaseException) -> str:
    """Permission denied, with the server's own words when it said more than that."""
    words = short(e)
    said = "" if words.lower().strip(" .'").endswith("permission denied") else f": {words}"
    return denied(what, user) + said


def short(e: Exception) -> str:
    text = str(e).strip().splitlines()
    first = text[0] if text else type(e).__name__
    return first[:500]


class FilterRejected(Exception):
    """The server refused a `name IN (...)` filter (older servers): page through everything."""


class Background:
    """A call running in a daemon thread: a process that stops early (say, on a manifest error)
    does not wait for reads nobody needs any more. `result()` waits, and re-raises its error."""

    def __init__(self, fn: Callable[[], object]):
        self._outcome: tuple[bool, object] | None = None
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _run(self, fn) -> None:
        try:
            self._outcome = (True, fn())
        except BaseException as e:  # handed to whoever waits for the result
            self._outcome = (False, e)

    def result(self):
        self._thread.join()
        ok, value = self._outcome
        if not ok:
            raise value
        return value


# ---- HTTP: request counting and the delayed-ACK stall -----------------------------------------------

_http_lock = threading.Lock()
_http_requests: dict[tuple[str, int], int] = {}  # (host, port) -> HTTP requests sent
_http_installed = False


def http_requests(host: str, port: int) -> int:
    with _http_lock:
        return _http_requests.get((host, port), 0)


def _install_http_hooks() -> bool:
    """Count each HTTP request (retries included) per server, and ask the kernel for an immediate
    ACK before reading each response. Done by giving the adapter of MLflow's pooled session
    connection classes of ours; MLflow still builds the session, its retry policy and its auth
    headers. False when this MLflow has no such adapter (then nothing is changed)."""
    global _http_installed
    if _http_installed:
        return True
    from mlflow.utils import request_utils
    from urllib3 import ProxyManager
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    base = getattr(request_utils, "TCPKeepAliveHTTPAdapter", None)
    cache = getattr(request_utils, "_cached_get_request_session", None)
    if base is None or cache is None:
        return False
    quickack = getattr(socket, "TCP_QUICKACK", None)  # Linux only

    class Counted:
        def getresponse(self, *args, **kwargs):
            key = (self.host, self.port)
            with _http_lock:
                _http_requests[key] = _http_requests.get(key, 0) + 1
            if quickack is not None and self.sock is not None:
                try:
                    self.sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)
                except OSError:
                    pass
            return super().getresponse(*args, **kwargs)

    class Conn(Counted, HTTPConnection):
        pass

    class TLSConn(Counted, HTTPSConnection):
        pass

    class Pool(HTTPConnectionPool):
        ConnectionCls = Conn

    class TLSPool(HTTPSConnectionPool):
        ConnectionCls = TLSConn

    pools = {"http": Pool, "https": TLSPool}

    class Adapter(retry.RetryControl, base):  # retries and timeouts: reconciler.registry.retry
        def init_poolmanager(self, *args, **kwargs):
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = pools

        def proxy_manager_for(self, proxy, **kwargs):
            manager = super().proxy_manager_for(proxy, **kwargs)
            if type(manager) is ProxyManager:  # not SOCKS: its pools are of other classes
                manager.pool_classes_by_scheme = pools
            return manager

    request_utils.TCPKeepAliveHTTPAdapter = Adapter  # looked up when MLflow builds a session
    cache.cache_clear()
    _http_installed = True
    return True


# ---- the registry ------------------------------------------------------------------------------------


class Registry:
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
        self._in_filters = True  # until a server refuses `name IN (...)`
        self.capabilities = Capabilities()  # APIs older servers lack, learnt on first use
        self._prefetched: Background | None = None
        self._lock = threading.Lock()
        self._calls = 0
        self.writes = 0
        self.on_retry = on_retry  # told about each retry (--verbose)
        self._user: User | None = None
        parts = urlsplit(target.registry_uri)
        self._http_key = (parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
        self._http_base = http_requests(*self._http_key)
        self.parallelism = 1
        self.rest = None
        if self.absent:
            return
        check_mlflow_http_environment()
        try:
            self._open(parallelism)
        except Exception as e:  # a database that refuses the connection, a server MLflow cannot use...
            raise RegistryError(redact(f"opening the registry failed against {target.display}: {short(e)}")) from None

    def _open(self, parallelism: int) -> None:
        import mlflow  # heavy (~2.5 s): only commands that talk to MLflow pay it
        from mlflow.store.model_registry.rest_store import RestStore
        from mlflow.tracking._model_registry.client import ModelRegistryClient

        target = self.target

        # Stages are deprecated upstream but are what manifests declare; MLflow's INFO lines
        # (e.g. creating tables of a new sqlite store) are noise in a plan.
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"mlflow(\.|$)")
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"reconciler\.live")
        logging.getLogger("mlflow").setLevel(logging.WARNING)
        # A database that refuses the connection: MLflow retries for ~100 s (ignoring --timeout),
        # logging each attempt; try three times quietly, then say so in one line.
        from mlflow.store.db import utils as db_utils

        if getattr(db_utils, "MAX_RETRY_COUNT", 0) > DB_CONNECT_ATTEMPTS:
            db_utils.MAX_RETRY_COUNT = DB_CONNECT_ATTEMPTS
        logging.getLogger("mlflow.store.db.utils").setLevel(logging.ERROR)

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

        # One pooled HTTP connection per worker thread (MLflow's default pool keeps 10).
        parallelism = max(1, parallelism)
        os.environ.setdefault("MLFLOW_HTTP_POOL_MAXSIZE", str(max(10, parallelism)))
        _install_http_hooks()
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
        return max(http_requests(*self._http_key) - self._http_base, self._calls)

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

    # ---- reads -------------------------------------------------------------------------------

    @registry_call("reading the registry")
    def snapshot(self, names: list[str] | None) -> Snapshot:
        """Live state of the named models (None = every model). Missing names are simply absent."""
        if (names is not None and not names) or self.absent:
            return Snapshot(models={}, round_trips=0)
        wanted = None if names is None else set(names)
        filters: list[str | None] = [None]
        if wanted is not None and self._in_filters:
            batches = list(name_filters(sorted(wanted)))
            filters = batches if len(batches) <= MAX_FILTER_BATCHES else [None]
        prefetched, self._prefetched = self._prefetched, None
        try:
            raw_models, raw_versions = prefetched.result() if prefetched else self._search(filters)
        except FilterRejected:
            self._in_filters = False
            raw_models, raw_versions = self._search([None])
        named = [m for m in raw_models if wanted is None or m["name"] in wanted]
        prompts = frozenset(m["name"] for m in named if is_prompt(m["tags"]))
        models = {
            m["name"]: m for m in named
            if m["name"] not in prompts and not m["name"].startswith(RESERVED_MODEL_PREFIX)
        }
        versions: dict[str, dict[str, LiveVersion]] = {name: {} for name in models}
        for name, v in raw_versions:
            if name in versions:
                versions[name][v.version] = v
        live = {
            name: LiveModel(
                name=name,
                description=m["description"],
                tags=user_tags(m["tags"]),
                aliases=m["aliases"],
                versions=versions[name],
                last_updated_timestamp=m["last_updated_timestamp"],
                audit=audit_tags(m["tags"]),
            )
            for name, m in sorted(models.items())
        }
        return Snapshot(models=live, round_trips=self.round_trips, prompts=prompts)

    def _search(self, filters: list[str | None]) -> tuple[list[dict], list[tuple[str, LiveVersion]]]:
        """The searches for every filter, concurrently; pages of one search follow each other.
        MLflow's searches leave prompts out unless asked for them alone: a third search per
        filter asks, so that prompts are known (and refused), never mistaken for absent models."""
        jobs: list[Callable[[], list]] = []
        for f in filters:
            jobs.append(functools.partial(self._pages, self._models_page, f))
            jobs.append(functools.partial(self._pages, self._versions_page, f))
            prompts = f"{f} AND {PROMPTS_ONLY}" if f else PROMPTS_ONLY
            jobs.append(functools.partial(self._pages, self._models_page, prompts))
        slots = threading.BoundedSemaphore(max(2, self.parallelism))

        def bounded(job):
            with slots:
                return job()

        running = [Background(functools.partial(bounded, job)) for job in jobs]
        results = [r.result() for r in running]
        models = [m for r in results[0::3] for m in r]
        prompts = [{**m, "tags": {**m["tags"], PROMPT_TAG: "true"}} for r in results[2::3] for m in r]
        return (models + prompts, [v for r in results[1::3] for v in r])

    def prefetch(self) -> None:
        """Start reading the whole registry in the background (while manifests are parsed, say);
        the next `snapshot` uses what it read, whatever names it is given."""
        if not self.absent:
            self._prefetched = Background(functools.partial(self._search, [None]))

    def _pages(self, page: Callable, filter_string: str | None) -> list:
        out: list = []
        token = None
        while True:
            try:
                items, token = page(filter_string, token)
            except Exception as e:
                if filter_string and getattr(e, "error_code", None) in REJECTED_FILTER_CODES:
                    raise FilterRejected(filter_string) from e
                raise
            out.extend(items)
            if not token:
                return out

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

    def _models_page(self, filter_string: str | None, token: str | None) -> tuple[list[dict], str | None]:
        if self.rest is None:
            page = self._call("reading the registry", self.models.search_registered_models,
                              filter_string, MODELS_PAGE, None, token)
            return [
                {"name": m.name, "description": m.description or "", "tags": dict(m.tags or {}),
                 "aliases": {a: str(v) for a, v in (m.aliases or {}).items()},
                 "last_updated_timestamp": m.last_updated_timestamp}
                for m in page
            ], page.token
        doc = self._rest_page(MODELS_SEARCH, MODELS_PAGE, filter_string, token)
        return [
            {"name": m["name"], "description": m.get("description") or "",
             "tags": {t["key"]: t.get("value", "") for t in m.get("tags", ())},
             "aliases": {a["alias"]: str(a["version"]) for a in m.get("aliases", ())},
             "last_updated_timestamp": _int(m.get("last_updated_timestamp"))}
            for m in doc.get("registered_models", ())
        ], doc.get("next_page_token")

    def _versions_page(self, filter_string: str | None, token: str | None) -> tuple[list[tuple[str, LiveVersion]], str | None]:
        if self.rest is None:
            page = self._call("reading the registry", self.models.search_model_versions,
                              filter_string, VERSIONS_PAGE, None, token)
            return [
                (v.name, LiveVersion(
                    version=str(v.version), stage=v.current_stage or "None", description=v.description or "",
                    tags=user_tags(v.tags or {}), run_id=v.run_id or None, source=v.source or None,
                    status=v.status or "READY", user_id=v.user_id or None,
                    last_updated_timestamp=v.last_updated_timestamp, audit=audit_tags(v.tags or {}),
                ))
                for v in page
            ], page.token
        doc = self._rest_page(VERSIONS_SEARCH, VERSIONS_PAGE, filter_string, token)
        return [
            (v["name"], LiveVersion(
                version=str(v["version"]), stage=v.get("current_stage") or "None",
                description=v.get("description") or "",
                tags=user_tags(tags), run_id=v.get("run_id") or None, source=v.get("source") or None,
                status=v.get("status") or "READY", user_id=v.get("user_id") or None,
                last_updated_timestamp=_int(v.get("last_updated_timestamp")), audit=audit_tags(tags),
            ))
            for v in doc.get("model_versions", ())
            for tags in ({t["key"]: t.get("value", "") for t in v.get("tags", ())},)
        ], doc.get("next_page_token")

    # ---- runs (evidence and gates) ------------------------------------------------------------

    @registry_call("reading runs")
    def runs(self, run_ids) -> dict[str, RunRecord]:
        """The runs with these ids (deleted ones too), latest metric values included; ids of runs
        that do not exist are simply absent. A constant number of round trips: one experiment
        search plus one search per RUN_IDS_PER_SEARCH ids, the batches run concurrently."""
        ids = sorted({r for r in run_ids if r})
        if not ids or (self.read_only and uris.sqlite_missing(self.target.tracking_uri)):
            return {}  # a tracking store that does not exist has no runs (and is not made by reading)
        experiments = self._experiment_ids()
        if not experiments:
            return {}
        batches = [ids[i:i + RUN_IDS_PER_SEARCH] for i in range(0, len(ids), RUN_IDS_PER_SEARCH)]
        slots = threading.BoundedSemaphore(max(1, self.parallelism))

        def search(batch: list[str]) -> list[RunRecord]:
            with slots:
                return self._runs_batch(experiments, batch)

        running = [Background(functools.partial(search, b)) for b in batches]
        wanted = set(ids)
        return {r.run_id: r for job in running for r in job.result() if r.run_id in wanted}

    def _experiment_ids(self) -> list[str]:
        from mlflow.entities import ViewType

        ids: list[str] = []
        token = None
        while True:
            if self.tracking_rest is not None:
                doc = self._rest_call(self.tracking_rest, EXPERIMENTS_SEARCH, "reading experiments", {
                    "max_results": EXPERIMENTS_PAGE, "view_type": "ALL", **({"page_token": token} if token else {}),
                })  # fmt: skip
                ids += [str(e["experiment_id"]) for e in doc.get("experiments", ())]
                token = doc.get("next_page_token")
            else:
                page = self._call("reading experiments", self.tracking_store.search_experiments,
                                  ViewType.ALL, EXPERIMENTS_PAGE, None, None, token)
                ids += [str(e.experiment_id) for e in page]
                token = page.token
            if not token:
                return ids

    def _runs_batch(self, experiments: list[str], batch: list[str]) -> list[RunRecord]:
        from mlflow.entities import ViewType

        filter_string = f"attributes.run_id IN ({','.join(quote(r) for r in batch)})"
        # One more than can match: a full page would come with a token for an empty next page.
        size = len(batch) + 1
        out: list[RunRecord] = []
        token = None
        while True:
            if self.tracking_rest is not None:
                doc = self._rest_call(self.tracking_rest, RUNS_SEARCH, "reading runs", {
                    "experiment_ids": experiments, "filter": filter_string, "run_view_type": "ALL",
                    "max_results": size, **({"page_token": token} if token else {}),
                })  # fmt: skip
                out += [_run_from_json(r) for r in doc.get("runs", ())]
                token = doc.get("next_page_token")
            else:
                page = self._call("reading runs", self.tracking_store.search_runs, experiments,
                                  filter_string, ViewType.ALL, size, None, token)
                out += [_run_from_entity(r) for r in page]
                token = page.token
            if not token:
                return out

    def _rest_call(self, store, endpoint: str, what: str, body: dict) -> dict:
        """One POST search through MLflow's HTTP layer (auth, headers, retries); its JSON as is."""
        from mlflow.utils.rest_utils import http_request, verify_rest_response

        def post():
            response = http_request(store.get_host_creds(), endpoint, "POST", json=body)
            return verify_rest_response(response, endpoint).json()

        return self._call(what, post)

    # ---- writes: one method per plan action, one registry call each -----------------------------

    def _write(self, fn, *args, **kwargs):
        """One idempotent write, counted (each attempt), with retries."""

        def attempt():
            self._count(writes=1)
            return fn(*args, **kwargs)

        return retry.call(attempt, fn.__name__, on_retry=self.on_retry)

    def _create(self, name: str, **kwargs) -> None:
        """Create a registered model; "already exists" means done (our earlier attempt whose answer
        was lost, or a concurrent run), which makes the call safe to retry -- once a read has shown
        that what exists is a model and not an MLflow prompt (whose later writes would skip
        MLflow's prompt check: the tool writes through the registry client directly)."""
        existed = []

        def create_registered_model():
            try:
                self.models.create_registered_model(name, **kwargs)
            except Exception as e:
                if error_code(e) != "RESOURCE_ALREADY_EXISTS":
                    raise
                existed.append(True)

        self._write(create_registered_model)
        if existed:
            found = self._call("reading the registry", self.models.get_registered_model, name)
            # `.tags` of a RegisteredModel leaves MLflow's reserved tags out; `_tags` has them all
            if is_prompt(dict(getattr(found, "_tags", None) or found.tags or {})):
                raise RegistryError(f"'{name}' {PROMPT_REFUSAL}; it was created meanwhile, and nothing was written to it")

    @registry_call("create_model")
    def create_model(self, name: str) -> None:
        self._create(name)

    @registry_call("register_version")
    def register_version(self, name: str, uri: str, run_id: str | None) -> str:
        model_id = None
        source = uri
        if run_id is not None:
            source, model_id = self._resolve_run_source(uri, run_id)

        def same(v: LiveVersion) -> bool:  # how the plan matches a declared version to a live one
            return v.run_id == run_id if run_id is not None else v.source == source

        def attempt() -> str:
            self._count(writes=1)
            # MlflowClient's own create_model_version: it resolves sources as mlflow.register_model does.
            mv = self.client.create_model_version(name=name, source=source, run_id=run_id, model_id=model_id)
            return str(mv.version)

        def registered_by_lost_attempt() -> str | None:
            found = self._versions_of(name, same)
            return found[0] if found else None

        mine = retry.call(attempt, "create_model_version", idempotent=False,
                          recover=registered_by_lost_attempt, on_retry=self.on_retry)  # fmt: skip
        # A concurrent apply may have registered the same source at the same moment (both saw none
        # when planning). Versions are numbered in order of creation: the first one stays, and the
        # run whose version came later withdraws it and uses the first.
        first = min(self._versions_of(name, same) or [mine], key=int)
        if int(first) < int(mine):
            try:
                self._write(self.models.delete_model_version, name, mine)
            except Exception as e:
                raise RegistryError(
                    f"{source} was registered twice at the same moment, by this apply and another "
                    f"(versions {first} and {mine} of '{name}'); could not withdraw version {mine}: "
                    f"{short(e)}. Delete version {mine} and run apply again."
                ) from None
            if self.on_retry:
                self.on_retry(f"{name}: {source} was registered concurrently as version {first}; "
                              f"withdrew the duplicate version {mine}")
            return first
        return mine

    def _versions_of(self, name: str, match: Callable[[LiveVersion], bool]) -> list[str]:
        """Numbers of the versions of `name` that `match`, in ascending order."""
        found = None
        if self._in_filters:
            try:
                found = self._pages(self._versions_page, name_filter([name]))
            except FilterRejected:
                self._in_filters = False
        if found is None:  # a server without `name IN (...)` (MLflow before 3.17)
            found = self._pages(self._versions_page, equality_filter(name))
        return sorted((v.version for n, v in found if n == name and match(v)), key=int)

    def _resolve_run_source(self, uri: str, run_id: str) -> tuple[str, str | None]:
        """Where `runs:/<run_id>/<path>` really lives. MLflow 3 logs models as logged models
        (`models:/<model_id>`) produced by the run; older runs keep the model among the run's
        own artifacts, as do all runs on MLflow 2 servers (no logged models: registry.capabilities)."""
        artifact_path = uri.split("/", 2)[2] if uri.count("/") >= 2 else "model"
        run = self._call("reading the run", self.client.get_run, run_id)
        # MLflow 2 servers have no logged models: their runs keep models among their artifacts.
        logged = self.capabilities.attempt("logged_models", lambda: self._call(
            "reading the run's logged models", self.client.search_logged_models,
            experiment_ids=[run.info.experiment_id],
            filter_string=f"name = '{artifact_path}' AND source_run_id = '{run_id}'",
        ), fallback=[])  # fmt: skip
        if logged:
            newest = max(logged, key=lambda m: m.creation_timestamp or 0)
            return f"models:/{newest.model_id}", newest.model_id
        # The run's own artifact store, not MlflowClient.list_artifacts: MLflow 3's also searches the
        # logged models again (a round trip, and a 404 on MLflow 2 servers).
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        artifacts = get_artifact_repository(run.info.artifact_uri)
        files = self._call("listing the run's artifacts", artifacts.list_artifacts, artifact_path)
        if any(f.path.rsplit("/", 1)[-1] == "MLmodel" for f in files):
            return f"{run.info.artifact_uri.rstrip('/')}/{artifact_path}", None
        raise RegistryError(
            f"run {run_id} has no model at artifact path '{artifact_path}' "
            "(no logged model of that name and no MLmodel file)"
        )

    @registry_call("transition_stage")
    def transition_stage(self, name: str, version: str, stage: str) -> None:
        # Every stage change is its own plan row: never archive other versions behind the plan's back.
        self._write(self.models.transition_model_version_stage, name, version, stage, False)

    @registry_call("set_alias")
    def set_alias(self, name: str, alias: str, version: str) -> None:
        self._write(self.models.set_registered_model_alias, name, alias, version)

    @registry_call("delete_alias")
    def delete_alias(self, name: str, alias: str) -> None:
        self._write(self.models.delete_registered_model_alias, name, alias)

    @registry_call("set_model_tag")
    def set_model_tag(self, name: str, key: str, value: str) -> None:
        self._write(self.models.set_registered_model_tag, name, key, value)

    @registry_call("delete_model_tag")
    def delete_model_tag(self, name: str, key: str) -> None:
        self._write(self.models.delete_registered_model_tag, name, key)

    @registry_call("set_version_tag")
    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        self._write(self.models.set_model_version_tag, name, version, key, value)

    @registry_call("delete_version_tag")
    def delete_version_tag(self, name: str, version: str, key: str) -> None:
        self._write(self.models.delete_model_version_tag, name, version, key)

    @registry_call("update_model_description")
    def update_model_description(self, name: str, description: str) -> None:
        self._write(self.models.update_registered_model, name, description)

    @registry_call("update_version_description")
    def update_version_description(self, name: str, version: str, description: str) -> None:
        self._write(self.models.update_model_version, name, version, description)

    # ---- the `apply --lock` lease (reconciler.apply.lock): registered models named by the lease -------------

    @registry_call("reading the registry lock")
    def leases(self, prefix: str) -> dict[str, dict[str, str]]:
        """name -> tags of every lease model (names starting with `prefix`)."""
        return {m["name"]: m["tags"] for m in self._pages(self._models_page, f"name LIKE '{prefix}%'")}

    @registry_call("taking the registry lock")
    def create_lease(self, name: str, tags: dict[str, str], description: str) -> None:
        self._create(name, tags=tags, description=description)

    @registry_call("renewing the registry lock")
    def renew_lease(self, name: str, key: str, value: str) -> None:
        self._write(self.models.set_registered_model_tag, name, key, value)

    @registry_call("releasing the registry lock")
    def delete_lease(self, name: str) -> None:
        def delete_registered_model():
            try:
                self.models.delete_registered_model(name)
            except Exception as e:
                if error_code(e) != "RESOURCE_DOES_NOT_EXIST":
                    raise

        self._write(delete_registered_model)

    # ---- permissions (MLflow's basic-auth app), for reconciler.apply.permissions -------------------------

    def _auth_get(self, endpoint: str, params: dict | None = None) -> dict | None:
        """GET an auth API endpoint: its JSON, or None when the server answers anything but 200."""
        from mlflow.utils.rest_utils import http_request

        def get():
            response = http_request(self.rest.get_host_creds(), endpoint, "GET", params=params)
            if response.status_code in retry.TRANSIENT_STATUS:
                from mlflow.exceptions import MlflowException

                raise MlflowException(f"HTTP {response.status_code}")
            return response.json() if response.status_code == 200 else None

        try:
            return self._call("reading permissions", get)
        except ValueError:  # not JSON: not MLflow's auth API
            return None

    @registry_call("reading the current user")
    def auth_user(self) -> User | None:
        """The user MLflow's auth app knows us as; None when the server has no such API."""
        if self.rest is None:
            return None
        doc = self._auth_get(CURRENT_USER)
        user = (doc or {}).get("user")
        if not isinstance(user, dict) or not user.get("username"):
            return None
        self._user = User(str(user["username"]), bool(user.get("is_admin")))
        return self._user

    @registry_call("reading permissions")
    def model_permissions(self, username: str, names: list[str]) -> dict[str, str | None]:
        """Effective permission (READ, EDIT, MANAGE, ...) of `username` on each model; None where
        the server would not say."""

        def one(name: str) -> str | None:
            doc = self._auth_get(USER_PERMISSION, {
                "username": username, "resource_type": "registered_model", "resource_id": name,
            })  # fmt: skip
            permission = (doc or {}).get("permission")
            return permission if isinstance(permission, str) else None

        with ThreadPoolExecutor(max_workers=max(1, min(self.parallelism, len(names) or 1))) as pool:
            return dict(zip(names, pool.map(one, names)))


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


def _int(value) -> int | None:
    return None if value is None else int(value)


def _run_from_json(doc: dict) -> RunRecord:
    info, data = doc.get("info", {}), doc.get("data", {})
    return RunRecord(
        run_id=info.get("run_id") or info.get("run_uuid", ""), experiment_id=str(info.get("experiment_id", "")),
        status=info.get("status", ""), lifecycle_stage=info.get("lifecycle_stage", "active"),
        metrics={m["key"]: float(m["value"]) for m in data.get("metrics", ()) if "value" in m},
        params={p["key"]: p.get("value", "") for p in data.get("params", ())},
        start_time=_int(info.get("start_time")),
    )


def _run_from_entity(run) -> RunRecord:
    return RunRecord(
        run_id=run.info.run_id, experiment_id=str(run.info.experiment_id), status=run.info.status or "",
        lifecycle_stage=run.info.lifecycle_stage or "active", metrics=dict(run.data.metrics),
        params=dict(run.data.params), start_time=run.info.start_time,
    )
