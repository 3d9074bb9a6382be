"""Pure gate evaluation and promotion evidence (reconciler.plan.gates, reconciler.plan.evidence)."""

from __future__ import annotations

from reconciler.errors import Location
from reconciler.manifest.desired import DesiredModel, DesiredState, DesiredVersion, Policy, Selector
from reconciler.plan.diff import diff
from reconciler.plan.evidence import attach, model_gates, run_ids
from reconciler.plan.gates import Entry, Gate, GateResult, Side, blocked_message, evaluate, evaluate_all, fmt, recheck
from reconciler.plan.model import Plan
from reconciler.registry.snapshot import LiveModel, LiveVersion, RunRecord, Snapshot

LOC = Location("m.yaml", 1)


def entry(metrics=None, out_metrics=None, run_id="r-in", tags=None, target="Production", out=True):
    return Entry(
        "m", target, Side("5", None, run_id, metrics or {}, tags or {}),
        Side("4", None, "r-out", out_metrics or {}) if out else None,
    )


def test_max_and_min_are_inclusive_bounds():
    gate = Gate("Production", metric="rmse", min=1, max=6.5)
    assert evaluate(gate, entry({"rmse": 6.5})).result == "pass"
    assert evaluate(gate, entry({"rmse": 1.0})).result == "pass"
    high = evaluate(gate, entry({"rmse": 6.51}))
    assert high.result == "fail" and high.reason == "rmse 6.51 > max 6.5"
    assert evaluate(gate, entry({"rmse": 0.5})).reason == "rmse 0.50 < min 1"
    assert high.check == "rmse >= 1, rmse <= 6.5"


def test_vs_current_compares_with_the_version_leaving_the_target():
    lower = Gate("Production", metric="rmse", vs_current="lower")
    assert evaluate(lower, entry({"rmse": 5.21}, {"rmse": 6.10})).result == "pass"
    worse = evaluate(lower, entry({"rmse": 7.0}, {"rmse": 6.10}))
    assert worse.result == "fail" and worse.reason == "rmse 7.00 is higher than 6.10 on v4"
    higher = Gate("Production", metric="auc", vs_current="higher")
    assert evaluate(higher, entry({"auc": 0.8}, {"auc": 0.9})).result == "fail"
    assert evaluate(higher, entry({"auc": 0.9}, {"auc": 0.9})).result == "pass"
    # nobody held the target, or the holder has no such metric: nothing to be worse than
    assert evaluate(lower, entry({"rmse": 9.0}, out=False)).result == "pass"
    assert evaluate(lower, entry({"rmse": 9.0}, {})).result == "pass"


def test_a_version_without_run_or_metric_fails_a_metric_gate():
    gate = Gate("Production", metric="rmse", max=10)
    assert "has no run" in evaluate(gate, entry(run_id=None)).reason
    assert evaluate(gate, entry({"mae": 1.0})).reason == "run r-in has no metric rmse"
    gone = Entry("m", "Production", Side("5", None, "r-x", {}, run_found=False))
    assert evaluate(gate, gone).result == "fail" and "not found" in evaluate(gate, gone).reason


def test_tag_gate_checks_the_tag_as_it_will_be():
    gate = Gate("@champion", tag="validation_status", equals="approved")
    ok = evaluate(gate, entry(tags={"validation_status": "approved"}, target="@champion"))
    assert ok.result == "pass" and ok.tag_value == "approved"
    no = evaluate(gate, entry(tags={"validation_status": "pending"}, target="@champion"))
    assert no.result == "fail" and "'pending'" in no.reason
    assert evaluate(gate, entry(target="@champion")).result == "fail"


def test_gates_apply_only_to_their_target():
    gates = [Gate("Production", metric="rmse", max=1), Gate("Staging", metric="rmse", max=100)]
    rows = evaluate_all(gates, [entry({"rmse": 5.0}, target="Staging")])
    assert [(r.target, r.result) for r in rows] == [("Staging", "pass")]
    assert blocked_message([rows[0]]) == "Plan blocked by 1 gate"
    assert blocked_message([rows[0]] * 3) == "Plan blocked by 3 gates"


def test_rows_round_trip_through_json_and_recheck_against_new_runs():
    row = evaluate(Gate("Production", metric="rmse", vs_current="lower"), entry({"rmse": 5.0}, {"rmse": 6.0}))
    again = GateResult.from_json(row.to_json())
    assert again == row
    later = {"r-in": RunRecord("r-in", metrics={"rmse": 7.0}), "r-out": RunRecord("r-out", metrics={"rmse": 6.0})}
    assert [r.result for r in recheck([again], later)] == ["fail"]
    assert [r.result for r in recheck([again], {})] == ["fail"]  # the runs are gone


def test_fmt():
    assert [fmt(5.21), fmt(6.1), fmt(5.21 - 6.10, signed=True), fmt(0.81234), fmt(0.12, signed=True)] == [
        "5.21", "6.10", "-0.89", "0.8123", "+0.12"]


# ---- evidence from a plan ------------------------------------------------------------------------


def model(versions, evidence=(), gates=()):
    return DesiredModel("m", LOC, policy=Policy(evidence=tuple(evidence), gates=tuple(gates)), versions=tuple(versions))


def dv(stage=None, aliases=(), version=None, run_id=None, tags=None):
    return DesiredVersion(Selector(version=version, run_id=run_id), LOC, stage=stage, aliases=tuple(aliases),
                          tags=tags or {})


LIVE = LiveModel(
    "m", aliases={"champion": "4"},
    versions={
        "3": LiveVersion("3", stage="Production", run_id="r3"),
        "4": LiveVersion("4", stage="Production", run_id="r4"),
        "5": LiveVersion("5", stage="Staging", run_id="r5", tags={"validation_status": "pending"}),
    },
)
RUNS = {
    "r4": RunRecord("r4", metrics={"rmse": 6.10, "mae": 4.0, "r2": 0.7, "zeta": 1.0}),
    "r5": RunRecord("r5", metrics={"rmse": 5.21, "mae": 3.5, "r2": 0.8, "zeta": 2.0}),
    "rnew": RunRecord("rnew", metrics={"rmse": 9.0}),
}


def plan_of(dm, live=LIVE, runs=RUNS):
    desired = DesiredState(models=(dm,))
    snap = Snapshot(models={"m": live})
    changes = diff(desired, snap)
    needed = run_ids(snap, changes)
    changes, rows = attach(desired, snap, changes, {r: runs[r] for r in needed if r in runs})
    return needed, Plan(tuple(changes), "x", gates=tuple(rows))


def test_promotion_carries_incoming_and_outgoing_runs_with_delta():
    gates = [Gate("Production", metric="rmse", vs_current="lower"),
             Gate("@champion", tag="validation_status", equals="approved")]
    needed, plan = plan_of(model([dv("Production", ["champion"], version="5")], evidence=["mae"], gates=gates))
    assert needed == {"r4", "r5"}
    stage = next(c for c in plan.changes if c.action == "transition_stage")
    assert stage.evidence == {
        "incoming": {"version": "5", "run_id": "r5", "metrics": {"mae": 3.5, "rmse": 5.21}},
        "outgoing": {"version": "4", "run_id": "r4", "metrics": {"mae": 4.0, "rmse": 6.10}},
        "delta": {"mae": -0.5, "rmse": 5.21 - 6.10},
    }
    alias = next(c for c in plan.changes if c.action == "set_alias")
    assert alias.evidence["outgoing"]["version"] == "4" and list(alias.evidence["incoming"]["metrics"]) == ["mae"]
    assert [(g.target, g.result) for g in plan.gates] == [("Production", "pass"), ("@champion", "fail")]
    doc = plan.to_json()
    assert doc["gates"][1]["reason"] == "tag validation_status is 'pending', not 'approved'"
    assert doc["summary"]["gates_failed"] == 1


def test_tag_set_by_the_same_plan_counts():
    gate = Gate("@champion", tag="validation_status", equals="approved")
    _, plan = plan_of(model([dv(aliases=["champion"], version="5", tags={"validation_status": "approved"})],
                            gates=[gate]))
    assert [g.result for g in plan.gates] == ["pass"]


def test_default_evidence_is_a_few_of_the_runs_metrics():
    _, plan = plan_of(model([dv("Production", version="5")]))
    change = plan.changes[0]
    assert list(change.evidence["incoming"]["metrics"]) == ["mae", "r2", "rmse"]


def test_version_registered_by_the_plan_from_a_run():
    gate = Gate("Production", metric="rmse", max=6.5)
    needed, plan = plan_of(model([dv("Production", run_id="rnew")], gates=[gate]))
    assert needed == {"rnew", "r4"}
    row = plan.gates[0]
    assert (row.version, row.ref, row.result) == (None, "run_id:rnew/model", "fail")
    assert row.to_json()["version"] is None
    stage = next(c for c in plan.changes if c.action == "transition_stage")
    assert stage.evidence["incoming"] == {"version": None, "ref": "run_id:rnew/model", "run_id": "rnew",
                                          "metrics": {"rmse": 9.0}}


def test_no_promotion_no_runs_needed():
    needed, plan = plan_of(model([dv("Archived", version="3")], gates=[Gate("Production", metric="rmse", max=1)]))
    assert needed == set() and plan.gates == ()


def test_model_gates_for_a_proposed_state():
    calls = []

    def read(ids):
        calls.append(set(ids))
        return {r: RUNS[r] for r in ids if r in RUNS}

    dm = model([dv("Production", version="5")], gates=[Gate("Production", metric="rmse", max=5)])
    rows = model_gates(dm, LIVE, read)
    assert [r.result for r in rows] == ["fail"] and calls == [{"r4", "r5"}]
    assert model_gates(model([dv("Staging", version="5")]), LIVE, read) == []
    assert len(calls) == 1


# ---- rendering ---------------------------------------------------------------------------------


def test_text_shows_evidence_under_the_change_and_the_block():
    from reconciler.render import render

    gates = [Gate("Production", metric="rmse", max=5.0)]
    _, plan = plan_of(model([dv("Production", version="5")], gates=gates))
    text = render("text", plan)
    lines = text.splitlines()
    i = next(n for n, line in enumerate(lines) if "stage Staging -> Production" in line)
    assert lines[i + 1].strip() == "run r5, was r4 on v4"
    assert lines[i + 2].strip() == "rmse 5.21, was 6.10 on v4 (-0.89)"
    assert lines[i + 3].strip() == "✗ gate rmse <= 5: rmse 5.21 > max 5"
    assert "Plan blocked by 1 gate:" in text
    assert "✗ m v5 -> Production: rmse <= 5: rmse 5.21 > max 5" in text


def test_markdown_promotions_table():
    from reconciler.render import render

    gates = [Gate("Production", metric="rmse", vs_current="lower")]
    _, plan = plan_of(model([dv("Production", ["champion"], version="5")], evidence=["mae"], gates=gates))
    md = render("markdown", plan)
    assert "#### Promotions" in md
    table = md.split("#### Promotions")[1]
    assert "| Model | Version | Into | Replaces | `mae` | `rmse` | Gates |" in table
    assert "| `m` | v5 | Production | v4 | 3.50 (-0.50 vs 4.00) | 5.21 (-0.89 vs 6.10) | ✓ rmse <= current |" in table
    assert "| `m` | v5 | @champion | v4 | 3.50 (-0.50 vs 4.00) | — | — |" in table
    assert "blocked" not in md


def test_json_plan_round_trips_evidence_and_gates():
    gates = [Gate("Production", metric="rmse", max=5.0)]
    _, plan = plan_of(model([dv("Production", version="5")], gates=gates))
    again = Plan.loads(plan.dumps(), "p.json")
    assert again.gates == plan.gates and again.blocked_by
    assert [c.evidence for c in again.changes] == [c.evidence for c in plan.changes]


def test_markdown_shows_the_block():
    from reconciler.render import render

    _, plan = plan_of(model([dv("Production", version="5")], gates=[Gate("Production", metric="rmse", max=5.0)]))
    md = render("markdown", plan)
    assert "> ⛔ **Plan blocked by 1 gate:**" in md
    assert "| `m` | v5 | Production | v4 | 5.21 (-0.89 vs 6.10) | ✗ rmse <= 5 |" in md
