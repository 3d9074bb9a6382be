"""The promotion history on the status page: timelines read from the manifests' git repository,
once per HEAD commit, joined with the audit stamps of the cycle's snapshot; escaped on the page."""

from __future__ import annotations

import json
import re

from support.gitrepo import GitRepo, model_doc

from reconciler.registry.snapshot import LiveModel, LiveVersion, Snapshot
from reconciler.serve.page import render
from reconciler.serve.promotions import PromotionHistory, Promotions
from reconciler.serve.status import SYNCED, ModelView, View


def two_promotions(tmp_path) -> GitRepo:
    repo = GitRepo(tmp_path / "repo")
    repo.shas = [
        repo.commit("Declare taxi", "alice", "2026-01-01T09:00:00Z",
                    {"manifests/taxi.yaml": model_doc("taxi", (1, "Production", ["champion"]))}),
        repo.commit("Promote v2", "carol", "2026-01-10T12:00:00Z",
                    {"manifests/taxi.yaml": model_doc("taxi", (1, "Archived", []), (2, "Production", ["champion"]))}),
    ]
    return repo


def snapshot(stage_stamp: str | None = None) -> Snapshot:
    audit = {"mlflow-gitops.stage": stage_stamp} if stage_stamp else {}
    return Snapshot(models={"taxi": LiveModel("taxi", versions={
        "1": LiveVersion("1", "Archived"), "2": LiveVersion("2", "Production", audit=audit)})})


def test_periods_newest_first_with_commit_author_and_stamp(tmp_path):
    repo = two_promotions(tmp_path)
    history = PromotionHistory([str(repo.root / "manifests")])
    stamp = f"Production since 2026-01-10T12:05:00Z (was None) by ci-bot, commit {repo.shas[1][:12]}"
    got = history.refresh(["taxi"], snapshot(stamp))
    assert got.note is None and got.head == repo.shas[1] and got.commits == 2
    production = got.models["taxi"]["Production"]
    assert [(p["version"], p["from"], p["to"], p["commit"], p["author"]) for p in production] == [
        ("2", "2026-01-10T12:00:00Z", None, repo.shas[1][:12], "carol"),
        ("1", "2026-01-01T09:00:00Z", "2026-01-10T12:00:00Z", repo.shas[0][:12], "alice"),
    ]
    assert production[0]["applied_by"] == "ci-bot" and production[0]["applied_at"] == "2026-01-10T12:05:00Z"
    assert [p["version"] for p in got.models["taxi"]["@champion"]] == ["2", "1"]
    assert list(got.models["taxi"]) == ["Production", "@champion"]


def test_git_is_read_once_per_head_commit(tmp_path):
    repo = two_promotions(tmp_path)
    history = PromotionHistory([str(repo.root / "manifests")])
    first = history.refresh(["taxi"], snapshot())
    assert history.refresh(["taxi"], snapshot()) is first and history.reads == 1
    # a new stamp: joined again, git not read again
    stamped = history.refresh(["taxi"], snapshot("Production since 2026-01-10T13:00:00Z by bob"))
    assert history.reads == 1 and stamped.models["taxi"]["Production"][0]["applied_by"] == "bob"
    repo.commit("Stage v3", "dave", "2026-01-12T08:00:00Z", {"manifests/taxi.yaml": model_doc(
        "taxi", (1, "Archived", []), (2, "Production", ["champion"]), (3, "Staging", []))})
    moved = history.refresh(["taxi"], snapshot())
    assert history.reads == 2 and moved.head != first.head
    assert moved.models["taxi"]["Staging"][0]["author"] == "dave"


def test_not_a_git_work_tree_is_a_note_not_an_error(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "taxi.yaml").write_text(model_doc("taxi", (1, "Production", [])))
    got = PromotionHistory([str(tmp_path / "m")]).refresh(["taxi"], snapshot())
    assert got.models == {} and "not in a git work tree" in got.note


def test_page_shows_escaped_history_rows_and_the_note():
    periods = {"Production": [{"version": "2", "from": "2026-01-10T12:00:00Z", "to": None, "commit": "abcdef123456",
                               "author": "<b>carol</b>", "subject": "Promote <v2>", "applied_at": "2026-01-10T12:05:00Z",
                               "applied_by": "ci-bot"}]}
    view = View(tracking_uri="http://h", interval=60, self_heal=False, started="t", models=(ModelView("m<x>", SYNCED),),
                history=Promotions(head="f" * 40, commits=2, models={"m<x>": periods}))
    html = render(view)
    assert "<b>" not in html and "<v2>" not in html and "&lt;b&gt;carol&lt;/b&gt;" in html
    assert re.search(r'<table class="history" data-model="m&lt;x&gt;">.*Production.*v2.*2026-01-10T12:00:00Z.*now'
                     r'.*abcdef123456.*2026-01-10T12:05:00Z by ci-bot', html, re.S)
    assert view.to_json()["history"]["models"]["m<x>"]["Production"][0]["commit"] == "abcdef123456"
    noted = render(View(tracking_uri="http://h", interval=60, self_heal=False, started="t",
                        history=Promotions(note="the manifests are not in a git work tree")))
    assert "No promotion history: the manifests are not in a git work tree." in noted
    assert 'class="history"' not in noted


def test_same_periods_as_the_history_command_across_moves_and_other_models(tmp_path, cli):
    """Each model's timeline is built over only the commits touching its files: moves between
    files, a multi-model file and commits for other models give what `history` gives."""
    repo = GitRepo(tmp_path / "repo")
    both = model_doc("taxi", (1, "Production", ["champion"])) + "---\n" + model_doc("bus", (1, "Staging", []))
    repo.commit("both in one file", "alice", "2026-01-01T00:00:00Z", {"m/all.yaml": both})
    repo.commit("bus alone", "bob", "2026-01-02T00:00:00Z", {"m/bus.yaml": model_doc("bus", (2, "Production", []))})
    repo.commit("taxi moves out", "carol", "2026-01-03T00:00:00Z", {
        "m/all.yaml": model_doc("bus", (1, "Staging", [])), "m/taxi.yaml": model_doc("taxi", (2, "Production", []))})
    repo.commit("taxi renamed", "dave", "2026-01-04T00:00:00Z", moves={"m/taxi.yaml": "m/x/taxi.yaml"})
    repo.commit("taxi dropped", "erin", "2026-01-05T00:00:00Z", {"m/x/taxi.yaml": model_doc("other", (1, "Production", []))})
    got = PromotionHistory([str(repo.root / "m")]).refresh(["taxi", "bus"], Snapshot(models={}))
    for model in ("taxi", "bus"):
        done = cli("history", str(repo.root / "m"), "--model", model, "--no-registry", "--format", "json")
        assert done.returncode == 0, done.stderr
        expected = {t: [(p["version"], p["from"], p["to"], p["commit"][:12]) for p in reversed(periods)]
                    for t, periods in json.loads(done.stdout)["targets"].items()}
        assert {t: [(p["version"], p["from"], p["to"], p["commit"]) for p in periods]
                for t, periods in got.models[model].items()} == expected
    assert got.models["taxi"]["Production"][0]["to"] == "2026-01-05T00:00:00Z"
