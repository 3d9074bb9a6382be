"""Reading the registry into a `Snapshot`: paged bulk searches (never a call per model), run
concurrently, in a constant number of round trips.

Named models are read with `name IN (...)` filters (reconciler.registry.filters), each batch's
searches at once; a server that refuses the filter (older servers) is paged through whole. MLflow's
searches leave prompts out unless asked for them alone: a third search per filter asks, so that
prompts are known (and refused), never mistaken for absent models.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

from reconciler.registry import decode
from reconciler.registry.decode import PROMPT_TAG
from reconciler.registry.failures import registry_call
from reconciler.registry.filters import PROMPTS_ONLY, name_filters
from reconciler.registry.snapshot import LiveVersion, Snapshot

MODELS_PAGE = 1000  # server maximum for search_registered_models
VERSIONS_PAGE = 200_000  # server maximum for search_model_versions
# Named models are read with `name IN (...)` filters, each batch's two searches at once, as long
# as that takes at most this many batches (~1,000 short names); more names than that are a large
# part of the registry: page through all of it instead (1 + models/1000 round trips).
MAX_FILTER_BATCHES = 4
# A tree of more files than this names more models than the filters take (names of 14+ chars):
# start paging through the registry while the manifests are parsed.
PREFETCH_ABOVE_FILES = 1000
MODELS_SEARCH = "/api/2.0/mlflow/registered-models/search"
VERSIONS_SEARCH = "/api/2.0/mlflow/model-versions/search"
# How a server that does not understand `name IN (...)` refuses the filter.
REJECTED_FILTER_CODES = ("INVALID_PARAMETER_VALUE", "BAD_REQUEST")


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


class Reads:
    """Mixin over `reconciler.registry.connection.Connection`."""

    _in_filters = True  # until a server refuses `name IN (...)`
    _prefetched: Background | None = None

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
        live, prompts = decode.live_models(raw_models, raw_versions, wanted)
        return Snapshot(models=live, round_trips=self.round_trips, prompts=prompts)

    def _search(self, filters: list[str | None]) -> tuple[list[dict], list[tuple[str, LiveVersion]]]:
        """The searches for every filter, concurrently; pages of one search follow each other."""
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

    def _models_page(self, filter_string: str | None, token: str | None) -> tuple[list[dict], str | None]:
        if self.rest is None:
            page = self._call("reading the registry", self.models.search_registered_models,
                              filter_string, MODELS_PAGE, None, token)
            return [decode.model_from_entity(m) for m in page], page.token
        doc = self._rest_page(MODELS_SEARCH, MODELS_PAGE, filter_string, token)
        return [decode.model_from_json(m) for m in doc.get("registered_models", ())], doc.get("next_page_token")

    def _versions_page(self, filter_string: str | None, token: str | None) -> tuple[list[tuple[str, LiveVersion]], str | None]:
        if self.rest is None:
            page = self._call("reading the registry", self.models.search_model_versions,
                              filter_string, VERSIONS_PAGE, None, token)
            return [decode.version_from_entity(v) for v in page], page.token
        doc = self._rest_page(VERSIONS_SEARCH, VERSIONS_PAGE, filter_string, token)
        return [decode.version_from_json(v) for v in doc.get("model_versions", ())], doc.get("next_page_token")
