"""The joins of `history`: apply's audit stamps read back (pure), and `serve --events` records."""

from __future__ import annotations

import json
import subprocess
import sys

from support.gitrepo import GitRepo, model_doc

from reconciler.apply.audit import Context
from reconciler.history import stamps
from reconciler.history.documents import Ref
from reconciler.history.gitlog import Commit
from reconciler.history.timeline import Entry


def test_stamps_written_by_apply_parse_back():
    ctx = Context(who="alice, ops", commit="3f2a" * 10, run="https://ci.example/runs/7",
                  clock=lambda: "2026-01-02T03:04:05Z")
    stage = stamps.parse_stage(ctx.stage("Staging", "Production"))
    assert stage == stamps.Stamp(at="2026-01-02T03:04:05Z", by="alice, ops", commit="3f2a" * 10,
                                 run="https://ci.example/runs/7", stage="Production", was="Staging")
    applied = stamps.parse_applied(Context(clock=lambda: "2026-01-02T03:04:05Z", commit="abc+dirty").applied())
    assert applied == stamps.Stamp(at="2026-01-02T03:04:05Z", commit="abc+dirty") and applied.sha == "abc"
    assert stamps.parse_stage("Production since 2026-01-02T03:04:05Z").was is None
    assert stamps.parse_stage("set by hand") is None and stamps.parse_applied("garbage") is None


def commit(sha: str, date: str) -> Commit:
    return Commit(sha=sha, author="a", email="a@x", date=date, subject=sha)


def test_a_stage_stamp_dates_the_entry_whose_commits_contain_the_apply_commit():
    a, b, c = commit("a" * 40, "2026-01-01T00:00:00Z"), commit("b" * 40, "2026-01-02T00:00:00Z"), commit(
        "c" * 40, "2026-01-03T00:00:00Z")
    order = {a.sha: 0, "x" * 40: 1, b.sha: 2, c.sha: 3}  # x: a commit that did not touch the manifests
    v1 = Ref("version", "1")
    entries = [
        Entry("Production", v1, "1", a, "m.yaml", end=b),  # v1 in Production, then out at b, back at c
        Entry("Production", v1, "1", c, "m.yaml"),
        Entry("@champion", v1, "1", c, "m.yaml"),
    ]
    by_x = stamps.join(entries, {}, {"1": {stamps.STAGE_TAG: "Production since 2026-01-01T10:00:00Z by ci, commit "
                                                             + "x" * 40}}, order.get)
    assert [(e.applied_at, e.applied_stamp) for e in by_x] == [("2026-01-01T10:00:00Z", "stage"), (None, None),
                                                                (None, None)]
    by_c = stamps.join(entries, {stamps.APPLIED_TAG: "2026-01-03T01:00:00Z by bot, commit " + "c" * 12},
                       {"1": {stamps.STAGE_TAG: "Production since 2026-01-03T01:00:00Z by bot, commit " + "c" * 40}},
                       lambda sha: next((i for s, i in order.items() if s.startswith(sha)), None))
    assert [(e.applied_at, e.applied_by, e.applied_stamp) for e in by_c] == [
        (None, None, None), ("2026-01-03T01:00:00Z", "bot", "stage"), ("2026-01-03T01:00:00Z", "bot", "model")]
    # v1 left Production at b; an apply at or after b moving it to Archived dates that end
    archived = stamps.join(entries, {}, {"1": {stamps.STAGE_TAG: "Archived since 2026-01-02T05:00:00Z (was Production) "
                                                                  "by ops, commit " + "b" * 40}}, order.get)
    assert [(e.ended_applied_at, e.ended_applied_by) for e in archived] == [("2026-01-02T05:00:00Z", "ops"),
                                                                            (None, None), (None, None)]
    # a commit git does not know (another branch, a CI variable): placed by the apply's time
    unknown = stamps.join(entries, {}, {"1": {stamps.STAGE_TAG: "Production since 2026-01-01T12:00:00Z by ci, "
                                                                 "commit 0123456789"}}, order.get)
    assert [e.applied_at for e in unknown] == ["2026-01-01T12:00:00Z", None, None]


def event(time, kind, model="taxi", **fields):
    return json.dumps({"format_version": "1", "time": time, "event": kind, "model": model, "cycle": 1, **fields})


def test_drift_and_heal_events_of_serve_become_windows_shown_in_every_format(cli, tmp_path):
    repo = GitRepo(tmp_path / "repo")
    repo.commit("Declare", "alice", "2026-01-01T00:00:00Z",
                {"m/taxi.yaml": model_doc("taxi", (1, "Production", []), (2, "Staging", []))})
    drift_row = {"model": "taxi", "version": "2", "field": "stage", "git": "Staging", "live": "Production",
                 "action": "transition_stage", "source": "m/taxi.yaml:9", "changed_at": None, "user_id": None,
                 "last_applied": None}
    heal = {"action": "transition_stage", "model": "taxi", "version": "2", "before": "Production", "after": "Staging"}
    log = tmp_path / "events.jsonl"
    log.write_text("\n".join([
        event("2026-01-02T10:00:00Z", "drift", drift=[drift_row]),
        event("2026-01-02T10:00:30Z", "drift", model="other", drift=[]),
        event("2026-01-02T10:00:40Z", "cycle_failed", model=None, error="registry down"),
        event("2026-01-02T10:01:00Z", "heal", changes=[heal], applied="2026-01-02T10:01:00Z by serve"),
        event("2026-01-02T20:00:00Z", "drift", drift=[{**drift_row, "version": None, "field": "tags.team"}]),
        event("2026-01-02T20:01:00Z", "heal", changes=[{"action": "set_model_tag", "key": "team"}]),
        event("2026-01-03T08:00:00+01:00", "drift", drift=[drift_row]),
        event("2026-01-03T07:10:00Z", "drift", drift=[drift_row, {**drift_row, "field": "aliases.champion"}]),
        event("2026-01-03T07:30:00Z", "in_sync"),
        '{"format_version": "1", "time": "2026-01-04T00:00:00Z", "eve',  # torn: serve was writing it
    ]) + "\n")
    args = ["history", repo.root / "m", "--model", "taxi", "--no-registry", "--events", log]
    doc = json.loads(cli(*args, "--format", "json").stdout)
    assert [(w["from"], w["to"], w["closed_by"]) for w in doc["drift"]] == [
        ("2026-01-02T10:00:00Z", "2026-01-02T10:01:00Z", "heal"),
        ("2026-01-03T07:00:00Z", "2026-01-03T07:30:00Z", "in_sync")]
    assert doc["drift"][0]["drift"] == [drift_row] and doc["drift"][0]["changes"] == [heal]
    assert [r["field"] for r in doc["drift"][1]["drift"]] == ["stage", "aliases.champion"]  # tags: left out
    text = cli(*args)
    assert text.returncode == 0
    assert "2026-01-02T10:00:00Z → 2026-01-02T10:01:00Z (healed): v2 stage: git 'Staging', live 'Production'" \
        in text.stdout
    assert "1 lines of" in text.stderr  # the torn line, said once
    assert "- 2026-01-03T07:00:00Z → 2026-01-03T07:30:00Z (back in sync)" in cli(*args, "-f", "markdown").stdout
    during = json.loads(cli(*args, "-f", "json", "--at", "2026-01-02T10:00:59Z").stdout)
    assert [w["closed_by"] for w in during["drift"]] == ["heal"]
    assert [e["version"] for e in during["targets"]["Staging"]] == ["2"]  # git's view, the drift beside it
    assert json.loads(cli(*args, "-f", "json", "--at", "2026-01-02T10:01:00Z").stdout)["drift"] == []


def test_history_and_its_renderers_load_no_mlflow():
    code = ("import sys\nimport reconciler.commands.history, reconciler.render.history\n"
            "from reconciler.history import documents, events, gitlog, stamps, timeline, times\n"
            "assert 'mlflow' not in sys.modules, 'mlflow loaded'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
