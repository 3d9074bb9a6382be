"""Writes: one method per plan action, one registry call each, retried on transient faults.

Writes call MLflow's registry client directly: `MlflowClient` precedes every write with a
`get_registered_model` round trip to refuse prompts; instead the snapshot reads prompts and
everything upstream refuses them: a manifest naming one (diff), a saved plan touching one, a model
that became one (guard), and a create that meets one ("already exists" is only taken as done after
a read shows a model).

The two writes that are not idempotent are made safe to retry here: `create_model` takes "already
exists" as done, and `register_version` looks for the version its lost attempt may have
registered before trying again, and withdraws its version if a concurrent run registered the same
source first.
"""

from __future__ import annotations

from collections.abc import Callable

from reconciler.errors import RegistryError
from reconciler.registry import retry
from reconciler.registry.capabilities import equality_filter
from reconciler.registry.decode import is_prompt
from reconciler.registry.failures import error_code, registry_call, short
from reconciler.registry.filters import name_filter
from reconciler.registry.reads import FilterRejected
from reconciler.registry.snapshot import PROMPT_REFUSAL, LiveVersion


class Writes:
    """Mixin over `reconciler.registry.connection.Connection` and `Reads` (a lost answer is looked for)."""

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
