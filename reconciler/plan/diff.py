"""The diff: a pure function of (desired state, live snapshot) -> ordered changes.

No I/O here. Resolution problems (a `version:` that does not exist, an ambiguous `run_id`) are
input errors located in the manifest.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.constants import RESERVED_TAG_PREFIXES
from reconciler.errors import InputError, Problem
from reconciler.manifest.desired import DesiredModel, DesiredState, DesiredVersion
from reconciler.plan.model import Change
from reconciler.plan.order import ordered
from reconciler.registry.snapshot import PROMPT_REFUSAL, LiveModel, LiveVersion, Snapshot

ACTIVE_STAGES = ("Staging", "Production")


@dataclass(frozen=True)
class Resolved:
    """A declared version matched to its live counterpart, or to a blank one still to register."""

    declared: DesiredVersion
    live: LiveVersion
    version: str | None  # None until registered
    ref: str | None  # selector key, set when not registered yet


def diff(desired: DesiredState, snapshot: Snapshot) -> list[Change]:
    problems: list[Problem] = []
    changes: list[Change] = []
    for model in desired.models:
        if model.name in snapshot.prompts:
            problems.append(Problem(model.loc("name"), f"model {model.name!r} {PROMPT_REFUSAL}; rename this model"))
            continue
        changes.extend(diff_model(model, snapshot.models.get(model.name), problems))
    if problems:
        raise InputError(problems)
    return ordered(changes)


def diff_model(dm: DesiredModel, live: LiveModel | None, problems: list[Problem]) -> list[Change]:
    changes: list[Change] = []
    if live is None:
        changes.append(Change("create_model", dm.name, after=dm.name, source=dm.location.short))
        live = LiveModel(name=dm.name)

    resolved = resolve_versions(dm, live, problems)
    for r in resolved:
        if r.ref is not None:
            sel = r.declared.selector
            changes.append(
                Change(
                    "register_version", dm.name, after=sel.register_uri, ref=r.ref,
                    run_id=sel.run_id, source=r.declared.location.short,
                )
            )
    changes += stage_changes(dm, live, resolved)
    changes += alias_changes(dm, live, resolved)
    changes += tag_changes(dm.name, None, None, dm.tags, live.tags, dm.policy.prune_tags, dm.loc)
    for r in resolved:
        changes += tag_changes(
            dm.name, r.version, r.ref, r.declared.tags, r.live.tags, dm.policy.prune_tags, r.declared.loc
        )
    if dm.description is not None and dm.description != (live.description or ""):
        changes.append(
            Change(
                "update_model_description", dm.name, before=live.description or "",
                after=dm.description, source=dm.loc("description").short,
            )
        )
    for r in resolved:
        want = r.declared.description
        if want is not None and want != (r.live.description or ""):
            changes.append(
                Change(
                    "update_version_description", dm.name, r.version, before=r.live.description or "",
                    after=want, ref=r.ref, source=r.declared.loc("description").short,
                )
            )
    return changes


def resolve_versions(dm: DesiredModel, live: LiveModel, problems: list[Problem]) -> list[Resolved]:
    resolved: list[Resolved] = []
    claimed: dict[str, DesiredVersion] = {}
    for dv in dm.versions:
        sel = dv.selector
        if sel.kind == "version":
            lv = live.versions.get(sel.version)
            if lv is None:
                problems.append(Problem(dv.location, missing_version_message(dm.name, sel.version, live)))
                continue
            matches = [lv]
        else:
            field_value = sel.run_id if sel.kind == "run_id" else sel.source
            matches = sorted(
                (v for v in live.versions.values() if getattr(v, sel.kind) == field_value),
                key=lambda v: int(v.version),
            )
            if len(matches) > 1:
                numbers = ", ".join(v.version for v in matches)
                problems.append(
                    Problem(
                        dv.location,
                        f"{sel.kind} {field_value!r} matches versions {numbers} of model "
                        f"'{dm.name}'; use `version:` to pick one",
                    )
                )
                continue
        if not matches:
            resolved.append(Resolved(dv, LiveVersion(version=""), None, sel.key))
            continue
        lv = matches[0]
        if lv.version in claimed:
            first = claimed[lv.version]
            problems.append(
                Problem(
                    dv.location,
                    f"declares version {lv.version} of model '{dm.name}' again "
                    f"(already declared at {first.location.short} by {first.selector.key})",
                )
            )
            continue
        claimed[lv.version] = dv
        resolved.append(Resolved(dv, lv, lv.version, None))
    return resolved


def missing_version_message(name: str, version: str, live: LiveModel) -> str:
    if not live.versions:
        return (
            f"model '{name}' has no version {version} in the registry; declare versions that are "
            "not registered yet by `run_id:` or `source:`"
        )
    known = sorted(live.versions, key=int)
    return f"model '{name}' has no version {version} (registry has {', '.join(known)})"


def stage_changes(dm: DesiredModel, live: LiveModel, resolved: list[Resolved]) -> list[Change]:
    changes = [
        Change(
            "transition_stage", dm.name, r.version, before=r.live.stage, after=r.declared.stage,
            ref=r.ref, source=r.declared.loc("stage").short,
        )
        for r in resolved
        if r.declared.stage is not None and r.declared.stage != r.live.stage
    ]
    if dm.policy.unmanaged_versions == "archive":
        declared = {r.version for r in resolved if r.version is not None}
        for lv in live.versions.values():
            if lv.version not in declared and lv.stage in ACTIVE_STAGES:
                changes.append(
                    Change(
                        "transition_stage", dm.name, lv.version, before=lv.stage, after="Archived",
                        source=dm.loc("policy").short, reason="policy unmanaged_versions: archive",
                    )
                )
    return changes


def alias_changes(dm: DesiredModel, live: LiveModel, resolved: list[Resolved]) -> list[Change]:
    changes: list[Change] = []
    declared: set[str] = set()
    for r in resolved:
        for alias in r.declared.aliases:
            declared.add(alias)
            current = live.aliases.get(alias)
            if r.version is not None and current == r.version:
                continue
            changes.append(
                Change(
                    "set_alias", dm.name, r.version, before=current, after=r.version, alias=alias,
                    ref=r.ref, source=r.declared.loc(f"aliases.{alias}").short,
                )
            )
    for stage, alias in sorted(dm.policy.stage_aliases.items()):
        declared.add(alias)
        changes += stage_alias_change(dm, live, resolved, stage, alias)
    if dm.policy.prune_aliases:
        for alias, version in sorted(live.aliases.items()):
            if alias not in declared:
                changes.append(
                    Change(
                        "delete_alias", dm.name, version, before=version, alias=alias,
                        source=dm.loc("policy").short, reason="policy prune_aliases: true",
                    )
                )
    return changes


def tag_changes(model, version, ref, want: dict, have: dict, prune: bool, loc) -> list[Change]:
    level = "model" if version is None and ref is None else "version"
    changes: list[Change] = []
    for key, value in want.items():
        if have.get(key) != value:
            changes.append(
                Change(
                    f"set_{level}_tag", model, version, before=have.get(key), after=value, key=key,
                    ref=ref, source=loc(f"tags.{key}").short,
                )
            )
    if prune:
        for key, value in sorted(have.items()):
            if key not in want and not key.startswith(RESERVED_TAG_PREFIXES):
                changes.append(
                    Change(
                        f"delete_{level}_tag", model, version, before=value, key=key,
                        source=loc("tags").short, reason="policy prune_tags: true",
                    )
                )
    return changes


def target_stages(dm: DesiredModel, live: LiveModel, resolved: list[Resolved]) -> list[tuple[tuple, Resolved | None, str, str]]:
    """Each version's stage once the plan is applied, as (rank, resolved, version, stage); a higher
    rank is a newer version: versions still to register come after every registered one, in the
    order they are registered."""
    declared = {r.version: r for r in resolved if r.version is not None}
    out = []
    for lv in live.versions.values():
        r = declared.get(lv.version)
        if r is not None and r.declared.stage is not None:
            stage = r.declared.stage
        elif r is None and dm.policy.unmanaged_versions == "archive" and lv.stage in ACTIVE_STAGES:
            stage = "Archived"
        else:
            stage = lv.stage
        out.append(((0, int(lv.version)), r, lv.version, stage))
    for i, r in enumerate(x for x in resolved if x.version is None):
        out.append(((1, i), r, "", r.declared.stage or "None"))
    return out


def stage_alias_change(dm: DesiredModel, live: LiveModel, resolved: list[Resolved], stage: str, alias: str) -> list[Change]:
    """policy.stage_aliases: `alias` follows the newest version that will be in `stage`, and is
    deleted when no version will be."""
    reason = f"policy stage_aliases: {stage} -> {alias}"
    source = dm.loc("policy").short
    current = live.aliases.get(alias)
    in_stage = [t for t in target_stages(dm, live, resolved) if t[3] == stage]
    if not in_stage:
        if current is None:
            return []
        return [Change("delete_alias", dm.name, current, before=current, alias=alias, source=source, reason=reason)]
    _, r, version, _ = max(in_stage, key=lambda t: t[0])
    if version and version == current:
        return []
    return [
        Change(
            "set_alias", dm.name, version or None, before=current, after=version or None, alias=alias,
            ref=r.ref if r is not None else None, source=source, reason=reason,
        )
    ]
