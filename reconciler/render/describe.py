"""One phrase per change type: what a reviewer reads after the mark. Shared by text and markdown."""

from __future__ import annotations

import re
from collections.abc import Callable

from reconciler.plan.actions import Action
from reconciler.plan.model import Change

MAX_VALUE = 60
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """Names read from the registry (set by hand, not by a validated manifest), made safe to print."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def value(v, limit: int = MAX_VALUE) -> str:
    """A quoted, single-line, length-capped value for a one-line-per-change listing."""
    if v is None:
        return "(none)"
    text = str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    # a live value (set by hand, outside the manifests' rules) may hold terminal escapes: show them
    text = printable(text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f'"{text}"'


def version_ref(version: str | None) -> str:
    return f"v{version}" if version is not None else "the new version"


def _create_model(c: Change) -> str:
    return "create registered model"


def _register_version(c: Change) -> str:
    return f"register new version from {c.after}"


def _transition_stage(c: Change) -> str:
    return f"stage {c.before} -> {c.after}"


def _set_alias(c: Change) -> str:
    if c.before is None:
        return f"alias @{c.alias} -> {version_ref(c.after)}"
    return f"alias @{c.alias}: v{c.before} -> {version_ref(c.after)}"


def _delete_alias(c: Change) -> str:
    return f"delete alias @{c.alias} (was v{c.before})"


def _set_tag(c: Change) -> str:
    if c.before is None:
        return f"tag {c.key} = {value(c.after)}"
    return f"tag {c.key}: {value(c.before)} -> {value(c.after)}"


def _delete_tag(c: Change) -> str:
    return f"delete tag {c.key} (was {value(c.before)})"


def _description(c: Change) -> str:
    return f"description: {value(c.before)} -> {value(c.after)}"


PHRASES: dict[Action, Callable[[Change], str]] = {
    Action.CREATE_MODEL: _create_model,
    Action.REGISTER_VERSION: _register_version,
    Action.TRANSITION_STAGE: _transition_stage,
    Action.SET_ALIAS: _set_alias,
    Action.DELETE_ALIAS: _delete_alias,
    Action.SET_MODEL_TAG: _set_tag,
    Action.DELETE_MODEL_TAG: _delete_tag,
    Action.SET_VERSION_TAG: _set_tag,
    Action.DELETE_VERSION_TAG: _delete_tag,
    Action.UPDATE_MODEL_DESCRIPTION: _description,
    Action.UPDATE_VERSION_DESCRIPTION: _description,
}


def new_version_labels(changes) -> dict[tuple[str, str], str]:
    """Short names for versions a plan registers (`new#1`, `new#2` per model), in plan order;
    the register line itself shows the full URI."""
    labels: dict[tuple[str, str], str] = {}
    counts: dict[str, int] = {}
    for c in changes:
        if c.action == "register_version" and c.ref is not None:
            counts[c.model] = counts.get(c.model, 0) + 1
            labels[(c.model, c.ref)] = f"new#{counts[c.model]}"
    return labels


def version_label(c: Change, labels: dict[tuple[str, str], str]) -> str:
    if c.version is not None:
        return f"v{c.version}"
    if c.ref is not None:
        return labels.get((c.model, c.ref), "new")
    return ""


def subject(c: Change, labels: dict[tuple[str, str], str]) -> str:
    label = version_label(c, labels)
    return f"{c.model} {label}" if label else c.model


def describe(c: Change) -> str:
    phrase = PHRASES[c.action](c)
    return f"{phrase} [{c.reason}]" if c.reason else phrase


def summary(plan) -> str:
    if plan.empty:
        return "No changes. The registry matches the manifests."
    n = plan.counts()
    noun = "change" if len(plan.changes) == 1 else "changes"
    return (
        f"Plan: {len(plan.changes)} {noun}: {n['add']} to add, {n['change']} to change, "
        f"{n['destroy']} to destroy."
    )
