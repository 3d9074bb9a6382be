"""Files this tool writes, given to a command that does not read them: one line saying where each
goes (a saved plan read as a manifest would otherwise be nine schema errors)."""

from __future__ import annotations

import json
import os

from reconciler.errors import ReconcilerError

MAX_SNIFF = 64 * 1024 * 1024  # bigger files are not ours to recognise: read as given


class WrongFileError(ReconcilerError):
    """A file of another kind than the command reads."""


def kind_of(path: str) -> str | None:
    """'plan', 'drift', 'schema' or 'junit' for files this tool writes; None for anything else."""
    try:
        if not os.path.isfile(path) or os.path.getsize(path) > MAX_SNIFF:
            return None
        with open(path, "rb") as fh:
            head = fh.read(512).lstrip()
            if head.startswith(b"<"):
                return "junit" if b"<testsuites" in head or b"<testsuite" in head else None
            if not head.startswith(b"{"):
                return None
            doc = json.loads(head + fh.read())
    except (OSError, ValueError, RecursionError):  # not ours to judge: the reader of the kind says why
        return None
    if not isinstance(doc, dict):
        return None
    if doc.get("kind") == "drift":
        return "drift"
    if "format_version" in doc and isinstance(doc.get("changes"), list):
        return "plan"
    if "$schema" in doc and "properties" in doc:
        return "schema"
    return None


WHAT = {
    "plan": "a saved plan (plan --out)",
    "drift": "a drift report (drift --format json)",
    "schema": "the manifest JSON Schema (mlflow-gitops schema)",
    "junit": "a JUnit drift report (drift --format junit)",
}


def refuse_other_kinds(paths: list[str], command: str) -> None:
    """Manifest commands (validate, plan, drift, apply PATH...): no plan, report or schema."""
    for path in paths:
        kind = kind_of(path)
        if kind is None:
            continue
        if kind == "plan":
            where = ("`apply` takes a saved plan alone: mlflow-gitops apply " if command == "apply"
                     else "a saved plan goes to `apply`: mlflow-gitops apply ") + path
        else:
            where = f"`{command}` reads manifests (*.yaml)"
        raise WrongFileError(f"{path} is {WHAT[kind]}, not a manifest; {where}")


def refuse_non_plans(path: str) -> None:
    """`apply FILE` with a file that is ours but not a plan."""
    kind = kind_of(path)
    if kind not in (None, "plan"):
        raise WrongFileError(f"{path} is {WHAT[kind]}, not a saved plan; `apply` takes manifests or a plan "
                             "written by `plan --out`")
