"""`export` through the CLI against real registries: the laws (the export validates, plans to
nothing, and is byte-identical when repeated), selectors, refused values, file names, errors."""

from __future__ import annotations

import json
import string
import subprocess
import sys
import warnings
from pathlib import Path
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.integration import client

from reconciler.manifest.yamlsrc import parse_text

pytestmark = pytest.mark.integration


def seed(uri: str, name: str, *, description: str = "", tags: dict | None = None, versions: list[dict] = (),
         aliases: dict | None = None) -> list[str]:
    """Create `name` with `versions` (dicts of source, stage, description, tags, run_id); returns
    the version numbers."""
    c = client(uri)
    c.create_registered_model(name, tags=tags or {}, description=description)
    numbers = []
    for v in versions:
        mv = c.create_model_version(name, source=v.get("source", f"s3://seed/{uuid4().hex}"), run_id=v.get("run_id"),
                                    tags=v.get("tags") or {}, description=v.get("description", ""))
        if v.get("stage", "None") != "None":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                c.transition_model_version_stage(name, mv.version, v["stage"])
        numbers.append(str(mv.version))
    for alias, version in (aliases or {}).items():
        c.set_registered_model_alias(name, alias, version)
    return numbers


def files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def assert_laws(cli, uri: str, directory: Path, *export_args: str) -> None:
    """The exported tree validates and plans to nothing; exporting again gives the same bytes."""
    validated = cli("validate", directory)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    plan = cli("plan", directory, "--detailed-exitcode", "--tracking-uri", uri)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "No changes." in plan.stdout
    again = directory.parent / f"{directory.name}-again"
    second = cli("export", *export_args, "--out", again, "--tracking-uri", uri)
    assert second.returncode == 0, second.stderr
    assert files(again) == files(directory)


RICH_DESCRIPTION = "NYC taxi trip durations.\n\nTrained on: 2026-11\n  # not a comment\nOwner: 'mlops' \"team\"\n"


def test_export_of_a_rich_model_validates_plans_to_nothing_and_repeats_byte_for_byte(
        registry_uri, unique_name, cli, tmp_path):
    name = unique_name
    seed(registry_uri, name, description=RICH_DESCRIPTION,
         tags={"team": "mlops", "enabled": "yes", "count": "5", "note": "key: value # hash", "empty": ""},
         versions=[
             {"stage": "Archived", "description": "Uploaded model to production on 2026-11-20"},
             {},  # bare: left out
             {"stage": "Production", "tags": {"validated": "true", "null": "null"}},
             {"stage": "Staging", "description": " leading space\nsecond line"},
             {"stage": "None"},  # alias only
         ],
         aliases={"champion": "3", "challenger": "4", "shadow": "5"})
    out = tmp_path / "manifests"
    result = cli("export", "--model", name, "--out", out, "--tracking-uri", registry_uri)
    assert result.returncode == 0, result.stderr
    assert f"Exported 1 model to {out}." in result.stderr
    (written,) = out.iterdir()
    assert written.name == f"{name}.yaml"
    text = written.read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=../schemas/manifest.v1.json\n")
    assert f"""\
apiVersion: mlflow-gitops/v1
kind: RegisteredModel
name: {name}
description: |
  NYC taxi trip durations.

  Trained on: 2026-11
    # not a comment
  Owner: 'mlops' "team"
tags:
  count: "5"
  empty: ""
  enabled: "yes"
  note: "key: value # hash"
  team: mlops
versions:
  - version: 1
    stage: Archived
    description: Uploaded model to production on 2026-11-20
  - version: 3
    stage: Production
    aliases: [champion]
    tags:
      "null": "null"
      validated: "true"
  - version: 4
    stage: Staging
    aliases: [challenger]
    description: |2-
       leading space
      second line
  - version: 5
    aliases: [shadow]
""" in text
    assert_laws(cli, registry_uri, out, "--model", name)


def test_export_all_models_one_file_each_with_names_safe_on_every_os(embedded_uri, cli, run_cli, tmp_path):
    names = ["churn", "Churn", "taxi trip", "modèle.v2", "fraud_detector"]
    for name in names:
        seed(embedded_uri, name, versions=[{"stage": "Production"}], aliases={"champion": "1"})
    out = tmp_path / "exported"
    result = run_cli("export", "--out", out, "--tracking-uri", embedded_uri)  # a real process, once
    assert result.returncode == 0, result.stderr
    assert f"Exported 5 models to {out}." in result.stderr
    written = sorted(p.name for p in out.iterdir())
    assert len(written) == 5 and len({w.lower() for w in written}) == 5
    assert "fraud_detector.yaml" in written
    assert all(w.isascii() and " " not in w and not w.startswith(".") for w in written)
    declared = {}
    for p in out.iterdir():
        (doc,), problems = parse_text(p.read_text(encoding="utf-8"), p.name)
        assert not problems
        declared[doc.data["name"]] = p.name
    assert sorted(declared) == sorted(names)
    assert_laws(cli, embedded_uri, out)


def test_export_to_stdout_is_one_stream_of_documents(embedded_uri, cli, tmp_path):
    seed(embedded_uri, "b_model", description="second", versions=[{"stage": "Staging"}])
    seed(embedded_uri, "a_model", tags={"team": "x"})
    result = cli("export", "--tracking-uri", embedded_uri)
    assert result.returncode == 0, result.stderr
    assert "Exported 2 models." in result.stderr
    assert result.stdout.count("# yaml-language-server: $schema=") == 1
    assert result.stdout.startswith("# yaml-language-server: $schema=")
    documents, problems = parse_text(result.stdout, "-")
    assert not problems
    assert [d.data["name"] for d in documents] == ["a_model", "b_model"]
    tree = tmp_path / "all.yaml"
    tree.write_text(result.stdout, encoding="utf-8")
    plan = cli("plan", tree, "--detailed-exitcode", "--tracking-uri", embedded_uri)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert cli("export", "--tracking-uri", embedded_uri).stdout == result.stdout


def test_by_source_and_by_run_id_fall_back_to_numbers_with_a_comment(embedded_uri, cli, tmp_path):
    c = client(embedded_uri)
    run_a, run_b = (c.create_run("0").info.run_id for _ in range(2))
    seed(embedded_uri, "m", versions=[
        {"source": "s3://b/shared", "stage": "Archived", "run_id": run_a},
        {"source": "s3://b/shared", "stage": "Archived", "run_id": run_a},
        {"source": f"mlflow-artifacts:/0/{run_b}/artifacts/clf", "stage": "Production", "run_id": run_b},
        {"source": "s3://b/four", "stage": "Staging"},
    ])
    by_source = tmp_path / "by-source"
    result = cli("export", "--by", "source", "--out", by_source, "--tracking-uri", embedded_uri)
    assert result.returncode == 0, result.stderr
    assert "2 versions are selected by `version:` instead of `source:`" in result.stderr
    text = (by_source / "m.yaml").read_text(encoding="utf-8")
    assert "  # version 1: selected by number, its source is also the source of version 2\n  - version: 1\n" in text
    assert f"  - source: mlflow-artifacts:/0/{run_b}/artifacts/clf\n    stage: Production\n" in text
    assert "  - source: s3://b/four\n    stage: Staging\n" in text
    assert_laws(cli, embedded_uri, by_source, "--by", "source")

    by_run = tmp_path / "by-run"
    result = cli("export", "--by", "run_id", "--out", by_run, "--tracking-uri", embedded_uri)
    assert result.returncode == 0, result.stderr
    text = (by_run / "m.yaml").read_text(encoding="utf-8")
    assert "  # version 2: selected by number, its run_id is also the run_id of version 1\n" in text
    assert f"  - run_id: {run_b}\n    artifact_path: clf\n    stage: Production\n" in text
    assert "  # version 4: selected by number, it has no run_id\n  - version: 4\n" in text
    assert_laws(cli, embedded_uri, by_run, "--by", "run_id")


def test_export_by_source_promotes_to_another_registry(embedded_uri, cli, tmp_path):
    seed(embedded_uri, "promoted", description="from staging", versions=[
        {"source": "s3://b/p/1", "stage": "Archived"},
        {"source": "s3://b/p/2", "stage": "Production", "tags": {"validated": "true"}},
    ], aliases={"champion": "2"})
    out = tmp_path / "prod"
    assert cli("export", "--by", "source", "--out", out, "--tracking-uri", embedded_uri).returncode == 0
    prod = f"sqlite:///{tmp_path / 'prod.db'}"
    applied = cli("apply", out, "--auto-approve", "--tracking-uri", prod)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    model = client(prod).get_registered_model("promoted")
    assert model.description == "from staging" and model.aliases == {"champion": 2}
    assert cli("plan", out, "--detailed-exitcode", "--tracking-uri", prod).returncode == 0


def test_values_manifests_refuse_are_left_out_with_a_comment_and_a_warning(embedded_uri, cli, tmp_path):
    seed(embedded_uri, "refused", description="clear screen \x1b[2J",
         tags={"ok": "kept", "long": "x" * 6000, "team\n": "key with a newline", "mlflow-gitops.applied_by": "ci",
               "mlflow.source.type": "NOTEBOOK"},
         versions=[{"stage": "Production", "tags": {"bell": "ding\x07", "fine": "yes"}}],
         aliases={"ünï": "1", "champion": "1"})
    seed(embedded_uri, "bad\x01name", versions=[{"stage": "Production"}])
    out = tmp_path / "out"
    result = cli("export", "--out", out, "--tracking-uri", embedded_uri)
    assert result.returncode == 0, result.stderr
    assert "Exported 1 model to" in result.stderr
    assert "warning: model 'bad\\x01name' skipped: model name contains the control character U+0001" in result.stderr
    for what in ["description left out", "tag 'long' left out", "tag key 'team\\n'", "version 1's tag 'bell' left out",
                 "alias 'ünï' is not valid"]:
        assert "warning: model 'refused': " in result.stderr and what in result.stderr, what
    text = (out / "refused.yaml").read_text(encoding="utf-8")
    assert "# description left out (not managed): contains the control character U+001B" in text
    assert "# tag 'long' left out (not managed): 6000 characters, over the 5000 a manifest allows" in text
    assert "\x1b" not in text and "\x07" not in text and "xxxxxxxx" not in text
    assert "mlflow-gitops." not in text and "mlflow.source" not in text  # audit and system tags are not exported
    assert "  ok: kept\n" in text and "aliases: [champion]" in text and '      fine: "yes"\n' in text
    assert_laws(cli, embedded_uri, out)


def test_values_that_look_like_credentials_are_left_out_not_written_masked(embedded_uri, run_cli, cli, tmp_path):
    # a masked value in a manifest would make `apply` overwrite the real one with "***"
    seed(embedded_uri, "creds", tags={"endpoint": "https://bot:hunter22@host/x", "kept": "plain", "pw": "has-s3cr3t-pw"},
         versions=[{"stage": "Staging", "description": "Authorization: Bearer abcdef"}])
    out = tmp_path / "out"
    secret = {"MLFLOW_TRACKING_USERNAME": "u", "MLFLOW_TRACKING_PASSWORD": "s3cr3t-pw"}
    result = run_cli("export", "--out", out, "--tracking-uri", embedded_uri, env=secret)
    assert result.returncode == 0, result.stderr
    text = (out / "creds.yaml").read_text(encoding="utf-8")
    assert "hunter22" not in text and "abcdef" not in text and "***" not in text and "s3cr3t" not in text
    assert "# tag 'endpoint' left out (not managed): it looks like a credential" in text
    assert "# tag 'pw' left out (not managed): it looks like a credential" in text
    assert "# version 1's description left out (not managed): it looks like a credential" in text
    assert "  kept: plain\n" in text
    assert result.stderr.count("looks like a credential") == 3
    assert cli("validate", out).returncode == 0
    assert cli("plan", out, "--detailed-exitcode", "--tracking-uri", embedded_uri).returncode == 0
    again = run_cli("export", "--out", tmp_path / "again", "--tracking-uri", embedded_uri, env=secret)
    assert again.returncode == 0, again.stderr
    assert files(tmp_path / "again") == files(out)


def test_an_unknown_model_is_an_error_and_nothing_is_written(embedded_uri, cli, run_cli, tmp_path):
    seed(embedded_uri, "known")
    out = tmp_path / "out"
    result = run_cli("export", "--model", "known", "--model", "no such model", "--out", out,
                     "--tracking-uri", embedded_uri)
    assert result.returncode == 1
    assert "no registered model named 'no such model'" in result.stderr
    assert "nothing was exported" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists() and result.stdout == ""


def test_a_re_export_names_manifests_it_did_not_write(embedded_uri, cli, tmp_path):
    seed(embedded_uri, "kept")
    out = tmp_path / "out"
    (out / "nested").mkdir(parents=True)
    (out / "deleted_model.yaml").write_text("apiVersion: mlflow-gitops/v1\nkind: RegisteredModel\nname: gone\n")
    result = cli("export", "--out", out, "--verbose", "--tracking-uri", embedded_uri)
    assert result.returncode == 0, result.stderr
    assert f"Wrote {out / 'kept.yaml'} (model 'kept')" in result.stderr
    assert f"{out} also holds 1 manifest file this export did not write (deleted_model.yaml)" in result.stderr
    assert (out / "deleted_model.yaml").exists()  # never deleted: it may be the user's


def test_out_that_is_a_file_is_an_error(embedded_uri, cli, tmp_path):
    seed(embedded_uri, "known")
    target = tmp_path / "file.yaml"
    target.write_text("keep me")
    result = cli("export", "--out", target, "--tracking-uri", embedded_uri)
    assert result.returncode == 1 and "not a directory" in result.stderr
    assert target.read_text() == "keep me"


def test_the_schema_comment_points_at_the_nearest_schema_or_says_how_to_create_it(embedded_uri, cli, tmp_path):
    seed(embedded_uri, "m", tags={"a": "b"})
    repo = tmp_path / "repo"
    without = cli("export", "--out", repo / "manifests" / "prod", "--tracking-uri", embedded_uri)
    assert without.returncode == 0
    # no git work tree here: the schema would go beside the exported directory
    expected = (repo / "manifests" / "schemas" / "manifest.v1.json").resolve()
    hint = without.stderr.split("create it with: ", 1)[1].strip()
    assert hint == f"mkdir -p {expected.parent} && mlflow-gitops schema > {expected}"
    # the hint works as printed (the directory does not exist yet)
    ran = subprocess.run(hint.replace("mlflow-gitops", f"{sys.executable} -m reconciler"), shell=True,
                         capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(expected.read_text())["title"].startswith("mlflow-gitops")
    expected.unlink()
    expected.parent.rmdir()
    assert (repo / "manifests" / "prod" / "m.yaml").read_text().startswith(
        "# yaml-language-server: $schema=../schemas/manifest.v1.json\n")

    (repo / "schemas").mkdir(parents=True)
    (repo / "schemas" / "manifest.v1.json").write_text(cli("schema").stdout)
    found = cli("export", "--out", repo / "manifests" / "prod", "--tracking-uri", embedded_uri)
    assert found.returncode == 0 and "create it" not in found.stderr
    assert (repo / "manifests" / "prod" / "m.yaml").read_text().startswith(
        "# yaml-language-server: $schema=../../schemas/manifest.v1.json\n")


# ---- the laws over random registries ------------------------------------------------------------------

TEXT = st.one_of(
    st.sampled_from(["", "yes", "no", "null", "~", "5", "1e3", "0x1", "2026-11-20", " leading", "trailing ",
                     "key: value", "# hash", "a #b", "it's \"quoted\"", "line one\nline two\n",
                     "  indented\nblock\n\n", "Zürich ✓ 🎉", "tab\there", "[x]", "- item"]),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")) | st.sampled_from("\n\t:#'\" "),
            max_size=40),
)
KEYS = st.one_of(st.sampled_from(["team", "yes", "5", "null", "a: b", "x/y", "owner name", "é"]),
                 st.text(string.ascii_letters + string.digits + "_-. :", min_size=1, max_size=10)
                 .filter(lambda k: k.strip() == k and ".." not in k and not k.startswith(("/", "."))
                         and not k.endswith(".") and not k.startswith("mlflow")))
ALIASES = st.one_of(st.sampled_from(["champion", "challenger", "1", "true", "null", "yes"]),
                    st.text(string.ascii_lowercase + string.digits + "_-", min_size=1, max_size=8)
                    .filter(lambda a: a != "latest" and not (a[0] == "v" and a[1:].isdigit())))


STRICT_POLICY = "policy: {unmanaged_versions: archive, prune_aliases: true, prune_tags: true}\n"


@st.composite
def registries(draw):
    models = []
    for slot in range(draw(st.integers(1, 2))):
        versions = [
            {"stage": draw(st.sampled_from(["None", "Staging", "Production", "Archived"])),
             "description": draw(TEXT),
             "tags": draw(st.dictionaries(KEYS, TEXT, max_size=2)),
             "source": draw(st.sampled_from(["s3://b/1", "s3://b/2", f"s3://b/u/{slot}/{i}"]))}
            for i in range(draw(st.integers(0, 4)))
        ]
        aliases = draw(st.dictionaries(ALIASES, st.integers(1, len(versions)).map(str), max_size=3)) if versions else {}
        models.append({"suffix": draw(st.sampled_from(["", " Trip", ".v2", "-é"])), "description": draw(TEXT),
                       "tags": draw(st.dictionaries(KEYS, TEXT, max_size=3)), "versions": versions,
                       "aliases": aliases})
    return models, draw(st.sampled_from(["version", "source"]))


def test_random_registries_export_to_manifests_that_validate_plan_to_nothing_and_repeat(
        embedded_uri, cli, tmp_path):
    @settings(max_examples=15, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(registries())
    def law(case):
        models, by = case
        prefix = f"law_{uuid4().hex[:8]}"  # one store for every example: each gets its own models
        names = []
        for i, m in enumerate(models):
            name = f"{prefix}_{i}{m['suffix']}"
            seed(embedded_uri, name, description=m["description"], tags=m["tags"], versions=m["versions"],
                 aliases=m["aliases"])
            names.append(name)
        args = [a for n in names for a in ("--model", n)] + ["--by", by]
        out = tmp_path / prefix
        result = cli("export", *args, "--out", out, "--tracking-uri", embedded_uri)
        assert result.returncode == 0, result.stderr
        assert "warning" not in result.stderr  # every value drawn is one manifests accept
        assert_laws(cli, embedded_uri, out, *args)
        # ... and nothing was forgotten (an export that wrote nothing would pass the laws): with
        # every pruning policy on, the plan is still empty, and each description was exported
        strict = tmp_path / f"{prefix}-strict"
        strict.mkdir()
        for p in out.iterdir():
            text = p.read_text(encoding="utf-8") + STRICT_POLICY
            (strict / p.name).write_text(text, encoding="utf-8")
            (doc,), _ = parse_text(text, p.name)
            live = client(embedded_uri).get_registered_model(doc.data["name"])
            assert doc.data.get("description", "") == (live.description or "")
        plan = cli("plan", strict, "--detailed-exitcode", "--tracking-uri", embedded_uri)
        assert plan.returncode == 0, plan.stdout + plan.stderr

    law()
