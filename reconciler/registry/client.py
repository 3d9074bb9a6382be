"""The registry: the only code that talks to MLflow, one class composed of what it does.

`MlflowRegistry` (exported as `Registry`) = reads into a `Snapshot` (reconciler.registry.reads,
decoded by the pure reconciler.registry.decode), the runs behind evidence and gates (runs), one
write per plan action (writes), the `apply --lock` lease (leases) and MLflow's auth API (auth),
all over one `Connection` (connection: target, stores, round-trip counting, retries through
reconciler.registry.retry). Every MLflow error becomes a `RegistryError` with credentials
redacted (failures).

Commands open a registry with `connect()`, which sets the process up for MLflow once
(reconciler.registry.setup.configure_process) before the first connection.
"""

from __future__ import annotations

from collections.abc import Callable

from reconciler import uris
from reconciler.constants import DEFAULT_PARALLELISM
from reconciler.registry.auth import Auth
from reconciler.registry.connection import Connection
from reconciler.registry.failures import error_code, short
from reconciler.registry.leases import Leases
from reconciler.registry.reads import PREFETCH_ABOVE_FILES, Reads
from reconciler.registry.runs import Runs
from reconciler.registry.setup import configure_process
from reconciler.registry.writes import Writes
from reconciler.target import Target

__all__ = ["DEFAULT_PARALLELISM", "PREFETCH_ABOVE_FILES", "MlflowRegistry", "Registry", "connect", "error_code",
           "short"]


class MlflowRegistry(Leases, Auth, Writes, Runs, Reads, Connection):
    """A registry reached through MLflow: `MlflowRegistry(target, parallelism, on_retry, read_only)`."""


Registry = MlflowRegistry


def connect(target: Target, parallelism: int = DEFAULT_PARALLELISM, on_retry: Callable[[str], None] | None = None,
            read_only: bool = False) -> MlflowRegistry:
    """The registry of `target` for a command: the process is configured for MLflow first, once --
    unless there is nothing to open (a read-only command against a sqlite file that does not
    exist reads an empty registry, and never pays MLflow's import)."""
    if not (read_only and uris.sqlite_missing(target.registry_uri)):
        configure_process(parallelism)
    return MlflowRegistry(target, parallelism=parallelism, on_retry=on_retry, read_only=read_only)
