"""Promotion gates (manifest `policy.gates`): pure checks of a version entering a target.

A gate holds for a version that will be in its target (a stage, or `@alias`) after the plan:
a metric of the version's run within bounds, not worse than the version that held the target
before, or a version tag with a given value. No I/O here: callers hand in the runs' metrics and
the tags as they will be after the plan (reconciler.plan.evidence builds those from a plan).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.manifest.desired import Gate, bound

PASS, FAIL = "pass", "fail"


@dataclass(frozen=True)
class Side:
    """One version's side of a promotion: its run's latest metrics and (incoming) its tags after the plan.
    `run_found` is False when the version names a run that could not be read."""

    version: str | None  # None: registered by this plan
    ref: str | None = None
    run_id: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    run_found: bool = True

    @property
    def label(self) -> str:
        return f"v{self.version}" if self.version else (self.ref or "new version")


@dataclass(frozen=True)
class Entry:
    """A version entering a target, and the version that held the target before (if any)."""

    model: str
    target: str
    incoming: Side
    outgoing: Side | None = None


@dataclass(frozen=True)
class GateResult:
    model: str
    version: str | None
    ref: str | None
    target: str
    check: str
    result: str  # pass | fail
    reason: str
    gate: Gate | None = None
    # what re-checking the gate at apply time needs (a saved plan): the runs, and the tag value
    run_id: str | None = None
    outgoing: dict[str, Any] | None = None  # {"version", "run_id"}
    tag_value: str | None = None

    @property
    def passed(self) -> bool:
        return self.result == PASS

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "model": self.model, "version": self.version, "ref": self.ref, "target": self.target,
            "check": self.check, "result": self.result, "reason": self.reason,
        }
        if self.gate is not None:
            doc["gate"] = self.gate.to_json()
        doc["run_id"] = self.run_id
        doc["outgoing"] = self.outgoing
        if self.tag_value is not None:
            doc["tag_value"] = self.tag_value
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> GateResult:
        gate = doc.get("gate")
        return cls(
            model=doc["model"], version=doc.get("version"), ref=doc.get("ref"), target=doc["target"],
            check=doc["check"], result=doc["result"], reason=doc.get("reason", ""),
            gate=Gate.from_json(gate) if isinstance(gate, dict) else None, run_id=doc.get("run_id"),
            outgoing=doc.get("outgoing"), tag_value=doc.get("tag_value"),
        )

    def entry(self, runs: dict) -> Entry:
        """The entry this row was evaluated for, with metrics from `runs` (run id -> RunRecord-like
        with `.metrics`): to re-check a saved plan's gate against the runs as they are now."""

        def side(version, ref, run_id, tags=None) -> Side:
            run = runs.get(run_id) if run_id else None
            return Side(version, ref, run_id, dict(run.metrics) if run else {}, tags or {},
                        run_found=run is not None or run_id is None)

        tags = {self.gate.tag: self.tag_value} if self.gate and self.gate.tag and self.tag_value is not None else {}
        out = self.outgoing
        return Entry(self.model, self.target, side(self.version, self.ref, self.run_id, tags),
                     side(out.get("version"), None, out.get("run_id")) if out else None)


def evaluate(gate: Gate, entry: Entry) -> GateResult:
    """Does `entry`'s incoming version satisfy `gate`? Always a row: pass or fail with a reason."""
    inc = entry.incoming
    failures: list[str] = []
    notes: list[str] = []
    if gate.tag is not None:
        value = inc.tags.get(gate.tag)
        if value == gate.equals:
            notes.append(f"tag {gate.tag} is {value!r}")
        else:
            failures.append(f"tag {gate.tag} is {value!r}, not {gate.equals!r}" if value is not None
                            else f"{inc.label} has no tag {gate.tag}")
        return _row(gate, entry, failures, notes, tag_value=value)
    name = gate.metric or ""
    value = inc.metrics.get(name)
    if inc.run_id is None:
        failures.append(f"{inc.label} has no run, so no metric {name}")
    elif not inc.run_found:
        failures.append(f"run {inc.run_id} of {inc.label} was not found")
    elif value is None or math.isnan(value):
        failures.append(f"run {inc.run_id} has no metric {name}")
    else:
        if gate.min is not None:
            (notes if value >= gate.min else failures).append(
                f"{name} {fmt(value)} {'>=' if value >= gate.min else '<'} min {bound(gate.min)}")
        if gate.max is not None:
            (notes if value <= gate.max else failures).append(
                f"{name} {fmt(value)} {'<=' if value <= gate.max else '>'} max {bound(gate.max)}")
        if gate.vs_current is not None:
            _vs_current(gate, entry, name, value, failures, notes)
    return _row(gate, entry, failures, notes)


def _vs_current(gate: Gate, entry: Entry, name: str, value: float, failures: list[str], notes: list[str]) -> None:
    out = entry.outgoing
    if out is None:
        notes.append(f"no version held {entry.target} before")
        return
    current = out.metrics.get(name)
    if current is None or math.isnan(current):
        # nothing to compare with: the version leaving has no such metric, so it cannot be beaten
        notes.append(f"{out.label} has no {name} to compare with")
        return
    ok = value <= current if gate.vs_current == "lower" else value >= current
    word = "<=" if gate.vs_current == "lower" else ">="
    if ok:
        notes.append(f"{name} {fmt(value)} {word} {fmt(current)} on {out.label}")
    else:
        worse = "higher" if gate.vs_current == "lower" else "lower"
        failures.append(f"{name} {fmt(value)} is {worse} than {fmt(current)} on {out.label}")


def _row(gate: Gate, entry: Entry, failures: list[str], notes: list[str], tag_value: str | None = None) -> GateResult:
    inc, out = entry.incoming, entry.outgoing
    return GateResult(
        model=entry.model, version=inc.version, ref=inc.ref if inc.version is None else None,
        target=entry.target, check=gate.check, result=FAIL if failures else PASS,
        reason="; ".join(failures or notes), gate=gate, run_id=inc.run_id,
        outgoing={"version": out.version, "run_id": out.run_id} if out is not None else None,
        tag_value=tag_value,
    )


def evaluate_all(gates: Sequence[Gate], entries: Iterable[Entry]) -> list[GateResult]:
    """One row per gate per entry whose target the gate names, in entry then gate order."""
    return [evaluate(g, e) for e in entries for g in gates if g.target == e.target]


def recheck(rows: Iterable[GateResult], runs: dict) -> list[GateResult]:
    """A saved plan's gate rows evaluated again against `runs` as they are now."""
    return [evaluate(r.gate, r.entry(runs)) if r.gate is not None else r for r in rows]


def failed(rows: Iterable[GateResult]) -> list[GateResult]:
    return [r for r in rows if not r.passed]


def blocked_message(rows: Sequence[GateResult]) -> str:
    n = len(rows)
    return f"Plan blocked by {n} gate{'s' if n != 1 else ''}"


def fmt(value: float | None, signed: bool = False) -> str:
    """Metric values as a reviewer reads them: at least two decimals, at most four (5.21, 6.10,
    0.8123); tiny and huge values in exponent form; `signed` for deltas (+0.12, -0.89)."""
    if value is None:
        return "n/a"
    if math.isnan(value) or math.isinf(value):
        return str(value)
    sign = "+" if signed and value > 0 else ""
    if value != 0 and (abs(value) < 0.001 or abs(value) >= 1e9):
        return f"{sign}{value:.4g}"
    text = f"{value:.4f}".rstrip("0")
    decimals = len(text.split(".")[1])
    if decimals < 2:
        text += "0" * (2 - decimals)
    return sign + ("0.00" if text in ("-0.00", "0.00") else text)
