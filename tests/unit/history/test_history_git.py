"""`history` from git alone (--no-registry): a throw-away repository with promotion commits by
several authors at chosen dates, renames, multi-document files, merges, and bad input."""

from __future__ import annotations

import json

import pytest
from support.gitrepo import GitRepo, model_doc

OTHER = model_doc("other", (1, "Production", ["champion"]))


@pytest.fixture
def repo(tmp_path):
    """taxi: v1 Production+champion (alice, Jan 1), v2 Staging+challenger (bob, Jan 5, +01:00),
    v2 promoted, v1 archived, champion moved (carol, Jan 10)."""
    r = GitRepo(tmp_path / "repo")
    r.shas = [
        r.commit("Declare taxi", "alice", "2026-01-01T09:00:00Z",
                 {"manifests/taxi.yaml": model_doc("taxi", (1, "Production", ["champion"]))}),
        r.commit("Stage v2", "bob", "2026-01-05T11:00:00+01:00",
                 {"manifests/taxi.yaml": model_doc("taxi", (1, "Production", ["champion"]),
                                                   (2, "Staging", ["challenger"]))}),
        r.commit("Promote v2", "carol", "2026-01-10T12:00:00Z",
                 {"manifests/taxi.yaml": model_doc("taxi", (1, "Archived", []), (2, "Production", ["champion"]))}),
    ]
    return r


def history(cli, *args):
    return cli("history", *map(str, args), "--no-registry")


def as_json(cli, *args):
    done = history(cli, *args, "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_each_stage_and_alias_lists_the_versions_that_held_it_with_commit_author_and_date(cli, repo):
    doc = as_json(cli, repo.root / "manifests", "--model", "taxi")
    assert doc["format_version"] == "1" and doc["kind"] == "history" and doc["model"] == "taxi"
    held = {t: [(e["version"], e["from"], e["to"], e["commit"], e["author"]) for e in rows]
            for t, rows in doc["targets"].items()}
    first, second, third = repo.shas
    assert held == {
        "Production": [("1", "2026-01-01T09:00:00Z", "2026-01-10T12:00:00Z", first, "alice"),
                       ("2", "2026-01-10T12:00:00Z", None, third, "carol")],
        "Staging": [("2", "2026-01-05T10:00:00Z", "2026-01-10T12:00:00Z", second, "bob")],  # in UTC
        "@champion": [("1", "2026-01-01T09:00:00Z", "2026-01-10T12:00:00Z", first, "alice"),
                      ("2", "2026-01-10T12:00:00Z", None, third, "carol")],
        "@challenger": [("2", "2026-01-05T10:00:00Z", "2026-01-10T12:00:00Z", second, "bob")],
    }
    row = doc["targets"]["Production"][1]
    assert row["subject"] == "Promote v2" and row["file"] == "manifests/taxi.yaml"
    assert row["applied_at"] is None and row["applied_by"] is None  # no registry asked
    assert doc["targets"]["Production"][0]["to_commit"] == third


def test_text_and_markdown_show_12_character_shas_json_full_ones(cli, repo):
    text = history(cli, repo.root / "manifests", "--model", "taxi")
    assert text.returncode == 0, text.stderr
    third = repo.shas[2]
    assert third[:12] in text.stdout and third[:13] not in text.stdout
    assert "carol: Promote v2" in text.stdout and "→ now" in text.stdout
    lines = text.stdout.splitlines()
    assert lines.index("Production") < lines.index("Staging") < lines.index("@challenger") < lines.index("@champion")
    markdown = history(cli, repo.root / "manifests", "--model", "taxi", "--format", "markdown")
    assert f"`{third[:12]}`" in markdown.stdout and third[:13] not in markdown.stdout
    assert "#### Production" in markdown.stdout and "| v2 | 2026-01-10T12:00:00Z | now |" in markdown.stdout
    assert json.loads(history(cli, repo.root / "manifests", "--model", "taxi", "-f", "json").stdout)[
        "targets"]["Production"][1]["commit"] == third


@pytest.mark.parametrize("at, production, staging", [
    ("2025-12-31T23:59:59Z", [], []),  # before the first commit
    ("2026-01-01T09:00:00Z", ["1"], []),  # the instant of a promotion: the new version holds it
    ("2026-01-05T09:59:59Z", ["1"], []),
    ("2026-01-05T11:00:00+01:00", ["1"], ["2"]),  # an offset is honoured
    ("2026-01-10T11:59:59Z", ["1"], ["2"]),
    ("2026-01-10T12:00:00Z", ["2"], []),  # `to` is exclusive
    ("2026-01-10", ["1"], ["2"]),  # a date is its midnight, UTC
    ("2026-01-10T12:00:00", ["2"], []),  # no offset: UTC
    ("now", ["2"], []),
])
def test_at_answers_which_version_held_each_target_then(cli, repo, at, production, staging):
    doc = as_json(cli, repo.root / "manifests", "--model", "taxi", "--at", at)
    assert [e["version"] for e in doc["targets"]["Production"]] == production
    assert [e["version"] for e in doc["targets"]["Staging"]] == staging
    text = history(cli, repo.root / "manifests", "--model", "taxi", "--at", at).stdout
    assert f"Production: {', '.join('v' + v for v in production) or 'none'}" in text.splitlines()


def test_renamed_files_moved_documents_and_other_models_in_the_same_file_change_nothing(cli, repo):
    # the file is renamed into a sub-directory, then the document moves into a multi-document file
    repo.commit("Move", "dave", "2026-01-11T00:00:00Z", moves={"manifests/taxi.yaml": "manifests/prod/taxi.yaml"})
    body = (repo.root / "manifests/prod/taxi.yaml").read_text()
    repo.commit("Group", "erin", "2026-01-12T00:00:00Z",
                {"manifests/prod/taxi.yaml": None, "manifests/all.yaml": OTHER + "---\n" + body})
    repo.commit("Other model only", "frank", "2026-01-13T00:00:00Z",
                {"manifests/all.yaml": model_doc("other", (2, "Production", [])) + "---\n" + body})
    doc = as_json(cli, repo.root / "manifests", "--model", "taxi")
    production = doc["targets"]["Production"]
    assert [(e["version"], e["to"], e["author"]) for e in production] == [
        ("1", "2026-01-10T12:00:00Z", "alice"), ("2", None, "carol")]
    assert doc["commits"] == 6  # every commit was read; none changed taxi's targets
    # a later promotion in the new file is seen, under the file's new name
    repo.commit("v3 to Production", "gina", "2026-01-14T00:00:00Z",
                {"manifests/all.yaml": OTHER + "---\n" + model_doc("taxi", (2, "Archived", []), (3, "Production", []))})
    doc = as_json(cli, repo.root / "manifests", "--model", "taxi")
    assert [(e["version"], e["file"]) for e in doc["targets"]["Production"]][-1] == ("3", "manifests/all.yaml")
    assert doc["targets"]["@champion"][-1]["to"] == "2026-01-14T00:00:00Z"


def test_a_single_file_is_followed_across_its_renames(cli, repo):
    repo.commit("Rename", "dave", "2026-01-11T00:00:00Z", moves={"manifests/taxi.yaml": "manifests/taxi-prod.yaml"})
    doc = as_json(cli, repo.root / "manifests" / "taxi-prod.yaml", "--model", "taxi")
    assert [e["author"] for e in doc["targets"]["Production"]] == ["alice", "carol"]


def test_a_model_removed_from_the_manifests_closes_its_periods(cli, repo):
    repo.commit("Drop taxi", "hal", "2026-02-01T00:00:00Z", {"manifests/taxi.yaml": None})
    doc = as_json(cli, repo.root / "manifests", "--model", "taxi")
    assert doc["targets"]["Production"][-1]["to"] == "2026-02-01T00:00:00Z"
    assert as_json(cli, repo.root / "manifests", "--model", "taxi", "--at", "2026-03-01")["targets"]["Production"] == []


def test_a_merged_branch_counts_at_its_merge_commit_on_the_first_parent_line(cli, repo):
    repo.git("checkout", "-q", "-b", "promote")
    repo.commit("v3 on a branch", "ivan", "2026-01-20T00:00:00Z",
                {"manifests/taxi.yaml": model_doc("taxi", (2, "Archived", []), (3, "Production", ["champion"]))})
    repo.git("checkout", "-q", "main")
    repo.commit("Unrelated", "judy", "2026-01-21T00:00:00Z", {"README.md": "hello\n"})
    env = {"GIT_AUTHOR_DATE": "2026-01-22T00:00:00Z", "GIT_COMMITTER_DATE": "2026-01-22T00:00:00Z",
           "GIT_AUTHOR_NAME": "merger", "GIT_COMMITTER_NAME": "merger"}
    repo.git("merge", "-q", "--no-ff", "-m", "Merge promote", "promote", env=env)
    doc = as_json(cli, repo.root / "manifests", "--model", "taxi")
    last = doc["targets"]["Production"][-1]
    assert (last["version"], last["from"], last["subject"]) == ("3", "2026-01-22T00:00:00Z", "Merge promote")


def test_unparsable_past_manifests_are_skipped(cli, repo):
    repo.commit("Broken", "kim", "2026-01-15T00:00:00Z", {"manifests/taxi.yaml": "name: taxi\nversions: [\n"})
    repo.commit("Fixed", "kim", "2026-01-16T00:00:00Z",
                {"manifests/taxi.yaml": model_doc("taxi", (2, "Production", ["champion"]))})
    doc = as_json(cli, repo.root / "manifests", "--model", "taxi")
    assert [(e["version"], e["from"]) for e in doc["targets"]["Production"]][-1] == ("2", "2026-01-16T00:00:00Z")


def test_bad_input_is_one_line_exit_1_and_creates_nothing(cli, repo, tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "m.yaml").write_text(model_doc("taxi", (1, "Production", [])))
    uncommitted = repo.root / "new"
    uncommitted.mkdir()
    (uncommitted / "m.yaml").write_text(model_doc("taxi", (1, "Production", [])))
    cases = {
        "not in a git repository": [plain, "--model", "taxi"],
        "no manifest under": [repo.root / "manifests", "--model", "nope"],
        "--at 'yesterday': not a time": [repo.root / "manifests", "--model", "taxi", "--at", "yesterday"],
        "--events": [repo.root / "manifests", "--model", "taxi", "--events", tmp_path / "missing.jsonl"],
        "no such file or directory": [repo.root / "nowhere", "--model", "taxi"],
        "no commit touches the manifests there": [uncommitted, "--model", "taxi"],
    }
    before = sorted(p for p in tmp_path.rglob("*") if ".git" not in p.parts)
    for expected, args in cases.items():
        done = history(cli, *args)
        assert done.returncode == 1, (expected, done.stdout)
        assert done.stdout == ""
        assert len(done.stderr.splitlines()) == 1 and expected in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert sorted(p for p in tmp_path.rglob("*") if ".git" not in p.parts) == before


def test_the_default_embedded_registry_is_not_created_when_absent(cli, repo, monkeypatch):
    monkeypatch.chdir(repo.root)
    done = cli("history", "manifests", "--model", "taxi")
    assert done.returncode == 0, done.stderr
    assert "no registry database at sqlite:///mlflow.db" in done.stderr
    assert not (repo.root / "mlflow.db").exists()
    assert repo.git("status", "--porcelain") == ""


def test_the_console_command_in_a_process_of_its_own(run_cli, repo, tmp_path):
    """As users and outside checks run it: a fresh interpreter, the default registry absent."""
    done = run_cli("history", repo.root / "manifests", "--model", "taxi", "--format", "json", "--at",
                   "2026-01-10T12:00:00Z", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert [e["version"] for e in doc["targets"]["Production"]] == ["2"] and doc["at"] == "2026-01-10T12:00:00Z"
    assert not (tmp_path / "mlflow.db").exists()
    bad = run_cli("history", repo.root / "manifests", "--model", "taxi", "--at", "2026-13-01", cwd=tmp_path)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "not a time" in bad.stderr


def test_a_commit_authored_before_the_one_preceding_it_on_the_branch_counts_from_that_one(cli, repo):
    # rebased: authored on Jan 8, landed after the Jan 10 promotion
    repo.commit("Rebased: v3", "lee", "2026-01-08T00:00:00Z",
                {"manifests/taxi.yaml": model_doc("taxi", (2, "Archived", []), (3, "Production", ["champion"]))})
    production = as_json(cli, repo.root / "manifests", "--model", "taxi")["targets"]["Production"]
    assert [(e["version"], e["from"], e["to"]) for e in production][-2:] == [
        ("2", "2026-01-10T12:00:00Z", "2026-01-10T12:00:00Z"), ("3", "2026-01-10T12:00:00Z", None)]
    assert all(e["to"] is None or e["from"] <= e["to"] for e in production)
