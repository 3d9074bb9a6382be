"""The registry boundary, as types: what each consumer needs from a registry.

`reconciler.registry.client.Registry` (MLflow) and the in-memory test registry
(`tests/support/memregistry.py`) both satisfy `Registry`; every consumer asks for the narrowest
protocol it uses, so a reader of `apply/lock.py` sees it only touches leases, `apply/guard.py`
only reads snapshots, and `apply/executor.py` only writes:

| protocol         | used by                                                              |
| ---------------- | -------------------------------------------------------------------- |
| `SnapshotReader` | `apply/guard.py` (fresh reads), `export`, `drift`                    |
| `RunReader`      | the runs behind promotions: `plan/evidence.py`'s input, gates        |
| `PlanReader`     | `plan/build.py` (`make_plan`, `plan_of`), `propose`, saved plans      |
| `RegistryWriter` | `apply/executor.py` (one method per action), `apply/audit.py`        |
| `LeaseStore`     | `apply/lock.py` (`apply --lock`, `serve`'s heal)                     |
| `AuthApi`        | `apply/permissions.py` (the preflight)                               |
| `Registry`       | the commands and `serve`, which hand one registry to all of the above |

Never imports mlflow (a unit test checks it): the types here are the plain-data snapshot types.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from reconciler.registry.snapshot import RunRecord, Snapshot

if TYPE_CHECKING:  # apply/permissions imports the plan package; only the annotation needs it
    from reconciler.apply.permissions import User


@runtime_checkable
class Located(Protocol):
    """Where a registry is, for plans and messages (credentials already redacted)."""

    @property
    def display(self) -> str: ...

    @property
    def registry_display(self) -> str: ...


@runtime_checkable
class SnapshotReader(Protocol):
    """Bulk reads of models into a `Snapshot`, in constant round trips."""

    @property
    def target(self) -> Located: ...

    @property
    def round_trips(self) -> int: ...

    def snapshot(self, names: list[str] | None) -> Snapshot:
        """The named models (None: every model); names the registry lacks are absent."""
        ...


@runtime_checkable
class RunReader(Protocol):
    def runs(self, run_ids: Iterable[str]) -> dict[str, RunRecord]:
        """The runs with these ids, in bulk; ids the registry lacks are absent."""
        ...


@runtime_checkable
class PlanReader(SnapshotReader, RunReader, Protocol):
    """What planning reads: the models, and the runs behind the versions it promotes."""


@runtime_checkable
class RegistryWriter(Protocol):
    """One write per plan action (see `reconciler.plan.actions`), one registry call each."""

    @property
    def writes(self) -> int: ...

    def create_model(self, name: str) -> None: ...

    def register_version(self, name: str, uri: str, run_id: str | None) -> str:
        """Registers `uri` as a new version of `name`; returns its version number."""
        ...

    def transition_stage(self, name: str, version: str, stage: str) -> None: ...

    def set_alias(self, name: str, alias: str, version: str) -> None: ...

    def delete_alias(self, name: str, alias: str) -> None: ...

    def set_model_tag(self, name: str, key: str, value: str) -> None: ...

    def delete_model_tag(self, name: str, key: str) -> None: ...

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None: ...

    def delete_version_tag(self, name: str, version: str, key: str) -> None: ...

    def update_model_description(self, name: str, description: str) -> None: ...

    def update_version_description(self, name: str, version: str, description: str) -> None: ...


@runtime_checkable
class LeaseStore(Protocol):
    """Leases stored in the registry itself (models of our own, never part of a snapshot)."""

    def leases(self, prefix: str) -> dict[str, dict[str, str]]:
        """Lease name -> its tags, for every lease whose name starts with `prefix`."""
        ...

    def create_lease(self, name: str, tags: dict[str, str], description: str) -> None: ...

    def renew_lease(self, name: str, key: str, value: str) -> None: ...

    def delete_lease(self, name: str) -> None: ...


@runtime_checkable
class AuthApi(Protocol):
    """MLflow's auth app (`--app-name basic-auth`); a registry without it answers None."""

    def auth_user(self) -> User | None: ...

    def model_permissions(self, username: str, names: list[str]) -> dict[str, str | None]:
        """Model name -> the user's permission on it (None: no explicit permission)."""
        ...


@runtime_checkable
class Registry(PlanReader, RegistryWriter, LeaseStore, AuthApi, Protocol):
    """Everything a command hands on: reads, writes, leases and the auth API."""

    @property
    def parallelism(self) -> int:
        """Models the applier may write at once (1 for an embedded sqlite store)."""
        ...

    def user_name(self) -> str | None:
        """Who the audit trail names as the applier (None: unknown)."""
        ...
