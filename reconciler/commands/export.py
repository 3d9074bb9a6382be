"""`export`: write manifests from the live registry (bootstrap GitOps for an existing registry).

Snapshot (reconciler.registry.client) -> pure export (reconciler.export.documents) -> files or stdout. Nothing is
written unless every requested model was found and every document was built.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from reconciler.console import count, err, out
from reconciler.constants import DEFAULT_TIMEOUT
from reconciler.errors import ReconcilerError
from reconciler.export.documents import export_snapshot, file_names, schema_comment
from reconciler.manifest.schema import SCHEMA_FILE
from reconciler.redact import redact
from reconciler.registry import retry
from reconciler.registry.client import Registry
from reconciler.target import Target

SCHEMA_RELPATH = Path("schemas") / SCHEMA_FILE


class ExportError(ReconcilerError):
    """The export could not be made (unknown model, unwritable directory); nothing was written."""


def run(models: list[str], out_dir: str | None, by: str, target: Target, verbose: bool,
        timeout: float | None = DEFAULT_TIMEOUT) -> int:
    retry.configure(timeout)
    if out_dir is not None and os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ExportError(f"--out {out_dir}: not a directory; nothing was exported")
    names = sorted(set(models)) or None
    registry = Registry(target, on_retry=err if verbose else None, read_only=True)
    snapshot = registry.snapshot(names)
    missing = [n for n in names or () if n not in snapshot.models]
    if missing:
        listed = ", ".join(repr(n) for n in missing)
        raise ExportError(
            f"no registered model named {listed} in the registry at {target.registry_display} "
            "(MLflow prompts and mlflow-gitops's own models are never exported); nothing was exported"
        )
    result = export_snapshot(snapshot, by)
    base = Path(out_dir) if out_dir is not None else Path.cwd()
    schema_ref, schema_missing = schema_reference(base)
    header = schema_comment(schema_ref)
    docs = result.documents
    if out_dir is not None:
        names_to_files = file_names([d.name for d in docs])
        try:
            os.makedirs(out_dir, exist_ok=True)
            others = _other_manifests(out_dir, set(names_to_files.values()))
            for doc in docs:
                path = os.path.join(out_dir, names_to_files[doc.name])
                _write(path, header + doc.body)
                if verbose:
                    err(f"Wrote {path} (model {doc.name!r})")
        except OSError as e:
            raise ExportError(f"cannot write to {e.filename or out_dir}: {e.strerror or e}") from None
    elif docs:
        out(header + "---\n".join(d.body for d in docs), end="")
    for warning in result.warnings:
        err(f"warning: {warning}")
    exported = count(len(docs), "model")
    err(f"Exported {exported} to {out_dir}." if out_dir is not None else f"Exported {exported}.")
    if out_dir is not None and others:
        # e.g. models deleted from the registry since an earlier export: `plan` would create them again
        err(f"{out_dir} also holds {len(others)} manifest file{'s' if len(others) > 1 else ''} this export did "
            f"not write ({', '.join(others[:3])}{', ...' if len(others) > 3 else ''}); `plan {out_dir}` reads "
            "them too.")
    fallbacks = sum(d.by_number for d in docs)
    if fallbacks:
        err(f"{fallbacks} version{'s are' if fallbacks > 1 else ' is'} selected by `version:` instead of "
            f"`{by}:`; the comments above them in the manifests say why.")
    if schema_missing and docs:
        err(f"The manifests point editors to {schema_missing}, which does not exist; create it with: "
            f"{schema_command(schema_missing)}")
    if verbose:
        err(f"{count(registry.round_trips, 'registry round trip')}.")
    return 0


def schema_reference(base: Path) -> tuple[str, str | None]:
    """The `$schema` path for manifests in `base`: the nearest schemas/manifest.v1.json in `base`
    or above it, relative to `base`. When there is none: where it would go (the top of the
    enclosing git work tree, else the directory above an --out directory, else `base`), and that
    place as shown to the user, to say how to create it."""
    start = base.resolve()
    for directory in (start, *start.parents):
        if (directory / SCHEMA_RELPATH).is_file():
            return _relative(directory / SCHEMA_RELPATH, start), None
    root = next((d for d in (start, *start.parents) if (d / ".git").exists()), None)
    if root is None:
        root = start if start == Path.cwd().resolve() else start.parent
    where = root / SCHEMA_RELPATH
    try:
        display = os.path.relpath(where)
    except ValueError:  # another drive (Windows)
        display = str(where)
    if display.startswith(".."):
        display = str(where)
    return _relative(where, start), display


def schema_command(path: str) -> str:
    """A shell command that writes the schema to `path`, making its directory when missing."""
    directory = os.path.dirname(path)
    write = f"mlflow-gitops schema > {shlex.quote(path)}"
    return write if not directory or os.path.isdir(directory) else f"mkdir -p {shlex.quote(directory)} && {write}"


def _relative(path: Path, start: Path) -> str:
    try:
        return Path(os.path.relpath(path, start)).as_posix()
    except ValueError:  # another drive (Windows): only an absolute path reaches it
        return path.as_uri()


def _other_manifests(directory: str, written: set[str]) -> list[str]:
    if not os.path.isdir(directory):
        return []
    return sorted(
        name for name in os.listdir(directory)
        if name.endswith((".yaml", ".yml")) and not name.startswith(".") and name not in written
    )


def _write(path: str, text: str) -> None:
    # LF on every OS, so that exports made anywhere are byte-identical; redacted like all output
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(redact(text))
