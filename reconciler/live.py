"""The registry: the only module that talks to MLflow.

Reads build a `Snapshot` from paged bulk searches (never a call per model); writes are one method
per plan action. Every MLflow error is turned into a `RegistryError` with credentials redacted.
"""

from __future__ import annotations

import functools
import logging
import os
import warnings
from collections.abc import Iterable

from reconciler.errors import RegistryError
from reconciler.redact import redact
from reconciler.state import LiveModel, LiveVersion, Snapshot
from reconciler.target import Target

PROMPT_TAG = "mlflow.prompt.is_prompt"
SYSTEM_TAG_PREFIX = "mlflow."
MODELS_PAGE = 1000  # server maximum for search_registered_models
VERSIONS_PAGE = 200_000  # server maximum for search_model_versions
# Searches are GET requests: keep `name IN (...)` filters well under common URL limits.
MAX_FILTER_CHARS = 4000
# Above this many named models, paging through the whole registry costs fewer round trips.
MAX_NAMED_MODELS = 200


def user_tags(tags: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if not k.startswith(SYSTEM_TAG_PREFIX)}


def quote(name: str) -> str:
    # MLflow's filter grammar has no escape for the quote character, but accepts either quote.
    return f'"{name}"' if "'" in name else f"'{name}'"


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
            except Exception as e:  # MlflowException, requests errors, sqlalchemy errors...
                raise RegistryError(redact(f"{what} failed against {self.target.display}: {short(e)}")) from None

        return inner

    return wrap


def short(e: Exception) -> str:
    text = str(e).strip().splitlines()
    first = text[0] if text else type(e).__name__
    return first[:500]


class Registry:
    def __init__(self, target: Target):
        import mlflow  # heavy (~1.4 s): only commands that talk to MLflow pay it
        from mlflow import MlflowClient

        # Stages are deprecated upstream but are what manifests declare; MLflow's INFO lines
        # (e.g. creating tables of a new sqlite store) are noise in a plan.
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"mlflow(\.|$)")
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"reconciler\.live")
        logging.getLogger("mlflow").setLevel(logging.WARNING)

        self.target = target
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
        self.client = MlflowClient(tracking_uri=target.tracking_uri, registry_uri=target.registry_uri)
        self.round_trips = 0
        self.writes = 0

    # ---- reads -------------------------------------------------------------------------------

    @registry_call("reading the registry")
    def snapshot(self, names: list[str] | None) -> Snapshot:
        """Live state of the named models (None = every model). Missing names are simply absent."""
        if names is not None and not names:
            return Snapshot(models={}, round_trips=0)
        if names is None or len(names) > MAX_NAMED_MODELS:
            filters: list[str | None] = [None]
        else:
            filters = list(name_filters(sorted(set(names))))
        raw_models = []
        raw_versions = []
        for f in filters:
            raw_models += self._page(self.client.search_registered_models, f, MODELS_PAGE)
        wanted = None if names is None else set(names)
        models = {
            m.name: m
            for m in raw_models
            if (wanted is None or m.name in wanted) and (m.tags or {}).get(PROMPT_TAG) != "true"
        }
        if models:
            for f in filters:
                raw_versions += self._page(self.client.search_model_versions, f, VERSIONS_PAGE)
        versions: dict[str, dict[str, LiveVersion]] = {name: {} for name in models}
        for v in raw_versions:
            if v.name in versions:
                versions[v.name][str(v.version)] = LiveVersion(
                    version=str(v.version),
                    stage=v.current_stage or "None",
                    description=v.description or "",
                    tags=user_tags(v.tags or {}),
                    run_id=v.run_id or None,
                    source=v.source or None,
                    status=v.status or "READY",
                    user_id=v.user_id or None,
                    last_updated_timestamp=v.last_updated_timestamp,
                )
        live = {
            name: LiveModel(
                name=name,
                description=m.description or "",
                tags=user_tags(m.tags or {}),
                aliases={a: str(v) for a, v in (m.aliases or {}).items()},
                versions=versions[name],
                last_updated_timestamp=m.last_updated_timestamp,
            )
            for name, m in sorted(models.items())
        }
        return Snapshot(models=live, round_trips=self.round_trips)

    def _page(self, search, filter_string: str | None, page_size: int) -> list:
        out: list = []
        token = None
        while True:
            self.round_trips += 1
            page = search(filter_string=filter_string, max_results=page_size, page_token=token)
            out.extend(page)
            token = page.token
            if not token:
                return out

    # ---- writes: one method per plan action ------------------------------------------------------

    def _write(self, fn, *args, **kwargs):
        self.writes += 1
        self.round_trips += 1
        return fn(*args, **kwargs)

    @registry_call("create_model")
    def create_model(self, name: str) -> None:
        self._write(self.client.create_registered_model, name)

    @registry_call("register_version")
    def register_version(self, name: str, uri: str, run_id: str | None) -> str:
        model_id = None
        source = uri
        if run_id is not None:
            source, model_id = self._resolve_run_source(uri, run_id)
        mv = self._write(
            self.client.create_model_version, name=name, source=source, run_id=run_id, model_id=model_id
        )
        return str(mv.version)

    def _resolve_run_source(self, uri: str, run_id: str) -> tuple[str, str | None]:
        """Where `runs:/<run_id>/<path>` really lives. MLflow 3 logs models as logged models
        (`models:/<model_id>`) produced by the run; older runs keep the model among the run's
        own artifacts. (The client's list_artifacts merges both, so ask for logged models first.)"""
        artifact_path = uri.split("/", 2)[2] if uri.count("/") >= 2 else "model"
        self.round_trips += 1
        run = self.client.get_run(run_id)
        self.round_trips += 1
        logged = self.client.search_logged_models(
            experiment_ids=[run.info.experiment_id],
            filter_string=f"name = '{artifact_path}' AND source_run_id = '{run_id}'",
        )
        if logged:
            newest = max(logged, key=lambda m: m.creation_timestamp or 0)
            return f"models:/{newest.model_id}", newest.model_id
        self.round_trips += 1
        files = self.client.list_artifacts(run_id, artifact_path)
        if any(f.path.rsplit("/", 1)[-1] == "MLmodel" for f in files):
            return f"{run.info.artifact_uri.rstrip('/')}/{artifact_path}", None
        raise RegistryError(
            f"run {run_id} has no model at artifact path '{artifact_path}' "
            "(no logged model of that name and no MLmodel file)"
        )

    @registry_call("transition_stage")
    def transition_stage(self, name: str, version: str, stage: str) -> None:
        # Every stage change is its own plan row: never archive other versions behind the plan's back.
        self._write(
            self.client.transition_model_version_stage, name, version, stage,
            archive_existing_versions=False,
        )

    @registry_call("set_alias")
    def set_alias(self, name: str, alias: str, version: str) -> None:
        self._write(self.client.set_registered_model_alias, name, alias, version)

    @registry_call("delete_alias")
    def delete_alias(self, name: str, alias: str) -> None:
        self._write(self.client.delete_registered_model_alias, name, alias)

    @registry_call("set_model_tag")
    def set_model_tag(self, name: str, key: str, value: str) -> None:
        self._write(self.client.set_registered_model_tag, name, key, value)

    @registry_call("delete_model_tag")
    def delete_model_tag(self, name: str, key: str) -> None:
        self._write(self.client.delete_registered_model_tag, name, key)

    @registry_call("set_version_tag")
    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        self._write(self.client.set_model_version_tag, name, version, key, value)

    @registry_call("delete_version_tag")
    def delete_version_tag(self, name: str, version: str, key: str) -> None:
        self._write(self.client.delete_model_version_tag, name, version, key)

    @registry_call("update_model_description")
    def update_model_description(self, name: str, description: str) -> None:
        self._write(self.client.update_registered_model, name, description=description)

    @registry_call("update_version_description")
    def update_version_description(self, name: str, version: str, description: str) -> None:
        self._write(self.client.update_model_version, name, version, description=description)
