"""What the manifest commands share: the desired state of a tree and a registry to compare it with.

Lives outside commands/ (each command module only parses its flags and returns an exit code)."""

from __future__ import annotations

from reconciler.manifest.desired import DesiredState
from reconciler.manifest.load import discover, load_tree
from reconciler.registry.client import PREFETCH_ABOVE_FILES, Registry, connect
from reconciler.target import Target


def load_with_registry(paths: list[str], target: Target, **options) -> tuple[DesiredState, Registry]:
    """The desired state and a registry for it. A large tree names so many models that the whole
    registry is read anyway: start reading it before parsing the manifests, so that the server
    works while we parse. A smaller tree is parsed first: a tree with errors then never touches
    the registry (nor pays MLflow's import)."""
    files, _ = discover(paths)
    if len(files) <= PREFETCH_ABOVE_FILES:
        desired = load_tree(paths)
        return desired, connect(target, **options)
    registry = connect(target, **options)
    registry.prefetch()
    return load_tree(paths), registry
