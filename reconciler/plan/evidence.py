"""Promotion evidence: which versions a plan moves into a target, with their runs' metrics.

Pure: from the plan's changes, the live snapshot and the runs (read in bulk by the registry,
`Registry.runs`) to (a) the `evidence` each promotion change carries and (b) the gate rows of
`policy.gates`. A promotion is a `transition_stage` into Staging/Production or a `set_alias`; the
version it replaces is the newest other version in that stage, or the alias's current version.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.manifest.desired import DesiredModel, DesiredState
from reconciler.plan.gates import Entry, GateResult, Side, evaluate_all
from reconciler.plan.model import Change
from reconciler.registry.snapshot import LiveModel, RunRecord, Snapshot

PROMOTING_STAGES = ("Staging", "Production")
# With neither `policy.evidence` nor gates, show this many of the incoming run's metrics
# (alphabetically): enough to tell two models apart, short enough for one line.
DEFAULT_EVIDENCE_METRICS = 3


@dataclass(frozen=True)
class Promotion:
    """A change moving a version into `target`, with what is known before reading runs."""

    index: int  # position of the change in the model's changes
    target: str
    version: str | None
    ref: str | None
    run_id: str | None
    tags: dict[str, str]  # the version's tags after the plan
    out_version: str | None = None
    out_run_id: str | None = None


def target_of(change: Change) -> str | None:
    if change.action == "transition_stage" and change.after in PROMOTING_STAGES:
        return change.after
    if change.action == "set_alias" and change.alias:
        return f"@{change.alias}"
    return None


def promotions(changes: Sequence[Change], live: LiveModel | None) -> list[Promotion]:
    """The promotions among one model's changes."""
    live = live or LiveModel(name="")
    registered_run = {c.ref: c.run_id for c in changes if c.action == "register_version"}
    out: list[Promotion] = []
    for i, c in enumerate(changes):
        target = target_of(c)
        if target is None:
            continue
        version = c.version if c.action == "transition_stage" else (c.after or c.version)
        lv = live.versions.get(version) if version else None
        run_id = lv.run_id if lv is not None else registered_run.get(c.ref)
        tags = tags_after(changes, version, c.ref, dict(lv.tags) if lv is not None else {})
        if target.startswith("@"):
            held = c.before if c.before and c.before != version else None
        else:
            others = [v for v in live.versions.values() if v.stage == target and v.version != version]
            held = max(others, key=lambda v: int(v.version)).version if others else None
        held_run = live.versions[held].run_id if held and held in live.versions else None
        out.append(Promotion(i, target, version, None if version else c.ref, run_id, tags, held, held_run))
    return out


def tags_after(changes: Iterable[Change], version: str | None, ref: str | None, tags: dict[str, str]) -> dict[str, str]:
    for c in changes:
        mine = c.version == version if version else (c.version is None and c.ref == ref)
        if not mine:
            continue
        if c.action == "set_version_tag":
            tags[c.key] = c.after
        elif c.action == "delete_version_tag":
            tags.pop(c.key, None)
    return tags


def run_ids(snapshot: Snapshot, changes: Sequence[Change]) -> set[str]:
    """Every run that the plan's evidence and gates need: read them in one bulk call."""
    ids: set[str] = set()
    for name, model_changes in _by_model(changes).items():
        for p in promotions(model_changes, snapshot.models.get(name)):
            ids.update(r for r in (p.run_id, p.out_run_id) if r)
    return ids


def metric_names(model: DesiredModel, target: str, incoming: RunRecord | None) -> list[str]:
    names = list(model.policy.evidence)
    gate_metrics = [g.metric for g in model.policy.gates if g.metric]
    names += [g.metric for g in model.policy.gates if g.metric and g.target == target]
    if not names:
        names = gate_metrics
    if not names and not model.policy.gates and incoming is not None:
        names = sorted(incoming.metrics)[:DEFAULT_EVIDENCE_METRICS]
    return list(dict.fromkeys(names))


def attach(desired: DesiredState, snapshot: Snapshot, changes: Sequence[Change],
           runs: dict[str, RunRecord]) -> tuple[list[Change], list[GateResult]]:
    """The changes with `evidence` on each promotion, and the gate rows, in plan order."""
    models = {m.name: m for m in desired.models}
    out: list[Change] = []
    rows: list[GateResult] = []
    for name, model_changes in _by_model(changes).items():
        model = models.get(name)
        if model is None:  # not declared (a plan file's model, say): nothing to show or check
            out += model_changes
            continue
        model_changes = list(model_changes)
        entries = []
        for p in promotions(model_changes, snapshot.models.get(name)):
            incoming, outgoing = runs.get(p.run_id or ""), runs.get(p.out_run_id or "")
            names = metric_names(model, p.target, incoming)
            change = model_changes[p.index]
            model_changes[p.index] = dataclasses.replace(change, evidence=evidence_doc(p, incoming, outgoing, names))
            entries.append(Entry(
                name, p.target,
                Side(p.version, p.ref, p.run_id, dict(incoming.metrics) if incoming else {}, p.tags,
                     run_found=incoming is not None or p.run_id is None),
                Side(p.out_version, None, p.out_run_id, dict(outgoing.metrics) if outgoing else {},
                     run_found=outgoing is not None or p.out_run_id is None) if p.out_version else None,
            ))  # fmt: skip
        rows += evaluate_all(model.policy.gates, entries)
        out += model_changes
    return out, rows


def evidence_doc(p: Promotion, incoming: RunRecord | None, outgoing: RunRecord | None, names: list[str]) -> dict[str, Any]:
    def side(version, ref, run_id, run) -> dict[str, Any]:
        doc: dict[str, Any] = {"version": version}
        if version is None:
            doc["ref"] = ref
        metrics = run.metrics if run is not None else {}
        doc["run_id"] = run_id
        doc["metrics"] = {n: metrics[n] for n in names if n in metrics}
        return doc

    inc = side(p.version, p.ref, p.run_id, incoming)
    out = side(p.out_version, None, p.out_run_id, outgoing) if p.out_version else None
    doc: dict[str, Any] = {"incoming": inc, "outgoing": out}
    if out is not None:
        doc["delta"] = {
            n: inc["metrics"][n] - out["metrics"][n] for n in names if n in inc["metrics"] and n in out["metrics"]
        }
    return doc


def _by_model(changes: Iterable[Change]) -> dict[str, list[Change]]:
    grouped: dict[str, list[Change]] = {}
    for c in changes:
        grouped.setdefault(c.model, []).append(c)
    return grouped


def model_gates(model: DesiredModel, live: LiveModel | None, read_runs) -> list[GateResult]:
    """The gate rows of `model` as declared (a proposed manifest, say) against `live`: the plan's
    promotions of that one model, evaluated with the runs `read_runs(run_ids)` returns (e.g.
    `Registry.runs`; called once, and not at all when nothing is promoted). Raises the diff's
    InputError when the model does not resolve against `live`."""
    from reconciler.plan.diff import diff

    desired = DesiredState(models=(model,))
    snapshot = Snapshot(models={model.name: live} if live is not None else {})
    changes = diff(desired, snapshot)
    needed = run_ids(snapshot, changes)
    runs = read_runs(needed) if needed else {}
    return attach(desired, snapshot, changes, runs)[1]


# ---- drift: live versions holding a gated target ------------------------------------------------


def holders(model: DesiredModel, live: LiveModel | None) -> list[tuple[str, str]]:
    """(target, version) for each live version that holds a target some gate of `model` names."""
    if live is None:
        return []
    targets = list(dict.fromkeys(g.target for g in model.policy.gates))
    out = []
    for target in targets:
        if target.startswith("@"):
            version = live.aliases.get(target[1:])
            if version in live.versions:
                out.append((target, version))
        else:
            out += [(target, v.version) for v in sorted(live.versions.values(), key=lambda v: int(v.version))
                    if v.stage == target]
    return out


def holder_run_ids(desired: DesiredState, snapshot: Snapshot) -> set[str]:
    ids = set()
    for model in desired.models:
        live = snapshot.models.get(model.name)
        for _, version in holders(model, live):
            if live.versions[version].run_id:
                ids.add(live.versions[version].run_id)
    return ids


def failing_holders(desired: DesiredState, snapshot: Snapshot, runs: dict[str, RunRecord]) -> list[GateResult]:
    """Gate rows that live holders fail now. A holder has nothing to be compared with, so
    `vs_current` holds for it; bounds and tags are checked as they are in the registry."""
    rows: list[GateResult] = []
    for model in desired.models:
        live = snapshot.models.get(model.name)
        entries = []
        for target, version in holders(model, live):
            lv = live.versions[version]
            run = runs.get(lv.run_id or "")
            entries.append(Entry(model.name, target, Side(
                version, None, lv.run_id, dict(run.metrics) if run else {}, dict(lv.tags),
                run_found=run is not None or lv.run_id is None,
            )))  # fmt: skip
        rows += [r for r in evaluate_all(model.policy.gates, entries) if not r.passed]
    return rows
