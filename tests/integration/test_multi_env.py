"""Multi-environment promotion (docs/multi-environment.md): one manifest tree per registry, the same
model in each, versions selected by `source:` because every registry numbers its versions itself.

Registry A (staging) is a real `mlflow server` on SQLite, registry B (prod) one on PostgreSQL. The
trees are the repository's own manifests/staging/ and manifests/prod/, with the model names made
unique (the servers are shared by the whole session). Registry state is read with MlflowClient.
"""

from __future__ import annotations

import importlib.util
import json
import re
import warnings
from pathlib import Path
from xml.etree import ElementTree

import pytest
import yaml
from support.integration import client

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
BUCKET = "s3://acme-ml-artifacts"
DF_1028 = f"{BUCKET}/demand_forecaster/2026-10-28/model"
DF_1112 = f"{BUCKET}/demand_forecaster/2026-11-12/model"
DF_1124 = f"{BUCKET}/demand_forecaster/2026-11-24/model"
ROUTER_R41 = f"{BUCKET}/support_ticket_router/r41/model"
ROUTER_R42 = f"{BUCKET}/support_ticket_router/r42/model"


def env_tree(tmp_path: Path, env: str, suffix: str) -> Path:
    """A copy of manifests/<env>/ whose model names end in `_<suffix>`."""
    dst = tmp_path / env
    dst.mkdir()
    renamed = 0
    for src in sorted((REPO_ROOT / "manifests" / env).glob("*.yaml")):
        text, n = re.subn(r"^name: (\w+)$", rf"name: \1_{suffix}", src.read_text(encoding="utf-8"), flags=re.M)
        renamed += n
        (dst / src.name).write_text(text, encoding="utf-8")
    assert renamed == 2, f"manifests/{env}/ should declare demand_forecaster and support_ticket_router"
    return dst


def versions_by_source(uri: str, name: str) -> dict[str, dict]:
    c = client(uri)
    aliases = c.get_registered_model(name).aliases
    return {
        v.source: {
            "version": str(v.version),
            "stage": v.current_stage,
            "aliases": sorted(a for a, n in aliases.items() if str(n) == str(v.version)),
        }
        for v in c.search_model_versions(filter_string=f"name = '{name}'")
    }


def raw(uri: str, names: list[str]) -> dict:
    """Everything MLflow keeps about these models, audit tags and timestamps included: equal
    snapshots mean nothing at all was written to them."""
    c = client(uri)
    snapshot = {}
    for name in names:
        m = c.get_registered_model(name)
        snapshot[name] = {
            "model": (m.description, dict(m.tags), dict(m.aliases), m.last_updated_timestamp),
            "versions": {
                str(v.version): (v.current_stage, v.source, v.description, dict(v.tags), v.last_updated_timestamp)
                for v in c.search_model_versions(filter_string=f"name = '{name}'")
            },
        }
    return snapshot


def register(uri: str, name: str, *sources: str) -> None:
    """Versions registered by hand before GitOps: they shift the registry's numbering."""
    c = client(uri)
    c.create_registered_model(name)
    for source in sources:
        c.create_model_version(name, source=source)


class Envs:
    """Staging (A) and prod (B) after each applied its own tree; A was used before, so its numbers
    are ahead of B's for the very same sources."""

    def __init__(self, staging_uri: str, prod_uri: str, suffix: str, tmp_path: Path, cli):
        self.a, self.b, self.cli = staging_uri, prod_uri, cli
        self.df, self.router = f"demand_forecaster_{suffix}", f"support_ticket_router_{suffix}"
        self.names = [self.df, self.router]
        self.staging = env_tree(tmp_path, "staging", suffix)
        self.prod = env_tree(tmp_path, "prod", suffix)
        register(self.a, self.df, f"{BUCKET}/demand_forecaster/experiment-1/model",
                 f"{BUCKET}/demand_forecaster/experiment-2/model")
        register(self.a, self.router, f"{BUCKET}/support_ticket_router/r40/model")

    def run(self, *args: str, uri: str):
        return self.cli(*args, "--tracking-uri", uri)

    def apply(self, tree: Path, uri: str) -> None:
        result = self.run("apply", str(tree), "--auto-approve", uri=uri)
        assert result.returncode == 0, result.stdout + result.stderr

    def assert_in_sync(self, tree: Path, uri: str) -> None:
        result = self.run("plan", str(tree), "--detailed-exitcode", uri=uri)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def envs(sqlite_server, postgres_server, unique_name, tmp_path, cli) -> Envs:
    e = Envs(sqlite_server.uri, postgres_server.uri, unique_name.split("_", 1)[1], tmp_path, cli)
    e.apply(e.staging, e.a)
    e.apply(e.prod, e.b)
    return e


def test_each_tree_puts_the_same_sources_in_place_under_each_registrys_own_numbers(envs):
    a_df, b_df = versions_by_source(envs.a, envs.df), versions_by_source(envs.b, envs.df)
    # A had two experiments registered first; B numbers from 1
    assert a_df[DF_1112] == {"version": "3", "stage": "Production", "aliases": ["champion"]}
    assert a_df[DF_1124] == {"version": "4", "stage": "Staging", "aliases": ["challenger"]}
    assert {a_df[s]["stage"] for s in a_df if "experiment" in s} == {"None"}  # undeclared: left alone
    assert b_df[DF_1028] == {"version": "1", "stage": "Archived", "aliases": []}
    assert b_df[DF_1112] == {"version": "2", "stage": "Production", "aliases": ["champion"]}
    assert DF_1124 not in b_df  # not promoted yet
    assert a_df[DF_1112]["version"] != b_df[DF_1112]["version"]

    a_router, b_router = versions_by_source(envs.a, envs.router), versions_by_source(envs.b, envs.router)
    assert (a_router[ROUTER_R41]["version"], a_router[ROUTER_R41]["aliases"]) == ("2", ["champion"])
    assert (a_router[ROUTER_R42]["version"], a_router[ROUTER_R42]["aliases"]) == ("3", ["challenger"])
    assert set(b_router) == {ROUTER_R41}
    assert (b_router[ROUTER_R41]["version"], b_router[ROUTER_R41]["aliases"]) == ("1", ["champion"])

    b_model = client(envs.b).get_registered_model(envs.df)
    assert b_model.tags["environment"] == "prod"
    assert client(envs.a).get_registered_model(envs.df).tags["environment"] == "staging"

    envs.assert_in_sync(envs.staging, envs.a)
    envs.assert_in_sync(envs.prod, envs.b)


def promote(staging_tree: Path, prod_tree: Path, name: str) -> None:
    """The promotion pull request: copy the Staging candidate's entry from the staging manifest
    into the prod one as Production champion, and archive the version it replaces."""
    staging_doc = yaml.safe_load((staging_tree / "demand_forecaster.yaml").read_text(encoding="utf-8"))
    prod_file = prod_tree / "demand_forecaster.yaml"
    prod_doc = yaml.safe_load(prod_file.read_text(encoding="utf-8"))
    assert staging_doc["name"] == prod_doc["name"] == name
    candidate = next(v for v in staging_doc["versions"] if v["source"] == DF_1124)
    candidate = {**candidate, "stage": "Production", "aliases": ["champion"]}
    for entry in prod_doc["versions"]:
        if entry["source"] == DF_1112:
            entry["stage"] = "Archived"
            entry.pop("aliases")
    prod_doc["versions"].append(candidate)
    header = "# yaml-language-server: $schema=../../schemas/manifest.v1.json\n"
    prod_file.write_text(header + yaml.safe_dump(prod_doc, sort_keys=False), encoding="utf-8")


def test_promotion_registers_the_candidate_in_prod_and_moves_stages_without_touching_staging(envs, tmp_path):
    staging_numbers = versions_by_source(envs.a, envs.df)
    promote(envs.staging, envs.prod, envs.df)

    planned = envs.run("plan", str(envs.prod), "--format", "json", "--detailed-exitcode", uri=envs.b)
    assert planned.returncode == 2, planned.stderr
    changes = [c for c in json.loads(planned.stdout)["changes"] if c["model"] == envs.df]
    register_change = next(c for c in changes if c["action"] == "register_version")
    assert register_change["version"] is None and DF_1124 in register_change["ref"]
    stage_moves = [(c["version"], c["before"], c["after"]) for c in changes if c["action"] == "transition_stage"]
    # the candidate (no number yet) is promoted before version 2 is archived
    assert stage_moves == [(None, "None", "Production"), ("2", "Production", "Archived")]
    assert not any(c["model"] == envs.router for c in json.loads(planned.stdout)["changes"])

    staging_before = raw(envs.a, envs.names)
    envs.apply(envs.prod, envs.b)

    b_df = versions_by_source(envs.b, envs.df)
    assert b_df[DF_1124] == {"version": "3", "stage": "Production", "aliases": ["champion"]}
    assert b_df[DF_1112] == {"version": "2", "stage": "Archived", "aliases": []}
    assert b_df[DF_1028]["stage"] == "Archived"
    assert staging_numbers[DF_1124]["version"] == "4"  # same build, another number in staging
    c = client(envs.b)
    candidate = c.get_model_version(envs.df, "3")
    assert candidate.tags["mape"] == "0.087"  # carried over with the copied entry
    assert candidate.description.startswith("Candidate trained on data up to 2026-11-23")

    assert raw(envs.a, envs.names) == staging_before
    envs.assert_in_sync(envs.prod, envs.b)
    envs.assert_in_sync(envs.staging, envs.a)


def test_applying_the_prod_tree_to_staging_changes_staging_only(envs):
    """The registry is chosen by --tracking-uri alone, never by the tree: mirroring prod into
    staging rewrites staging and leaves prod as it was, to the timestamp."""
    prod_before = raw(envs.b, envs.names)
    envs.apply(envs.prod, envs.a)

    a_df = versions_by_source(envs.a, envs.df)
    assert a_df[DF_1028] == {"version": "5", "stage": "Archived", "aliases": []}  # v1 in prod
    assert a_df[DF_1112]["stage"] == "Production" and a_df[DF_1112]["version"] == "3"
    # prod's policy archives versions it does not declare that sit in Staging/Production
    assert a_df[DF_1124]["stage"] == "Archived"
    assert client(envs.a).get_registered_model(envs.df).tags["environment"] == "prod"
    a_router = versions_by_source(envs.a, envs.router)
    assert a_router[ROUTER_R42]["aliases"] == []  # prune_aliases: prod declares no challenger

    assert raw(envs.b, envs.names) == prod_before
    envs.assert_in_sync(envs.prod, envs.a)
    envs.assert_in_sync(envs.prod, envs.b)


def test_export_by_source_bootstraps_a_tree_that_applies_to_another_registry(
    sqlite_server, postgres_server, unique_name, tmp_path, cli
):
    """Adopting GitOps: export a hand-managed prod registry by source, and the files select the
    same builds in a staging registry whose numbers differ."""
    name, prod_uri, staging_uri = unique_name, postgres_server.uri, sqlite_server.uri
    sources = [f"{BUCKET}/{name}/build-{i}/model" for i in range(1, 4)]
    c = client(prod_uri)
    c.create_registered_model(name, description="hand-managed so far")
    for source, stage in zip(sources, ["Archived", "Staging", "Production"], strict=True):
        version = c.create_model_version(name, source=source).version
        with warnings.catch_warnings():  # MLflow deprecates stages; registries still use them
            warnings.simplefilter("ignore", FutureWarning)
            c.transition_model_version_stage(name, version, stage)
    c.set_registered_model_alias(name, "champion", "3")
    c.set_model_version_tag(name, "3", "validated", "true")
    register(staging_uri, name, f"{BUCKET}/{name}/scratch/model")

    exported = tmp_path / "exported"
    result = cli("export", "--model", name, "--by", "source", "--out", str(exported), "--tracking-uri", prod_uri)
    assert result.returncode == 0, result.stdout + result.stderr
    docs = [d for p in sorted(exported.glob("*.y*ml")) for d in yaml.safe_load_all(p.read_text(encoding="utf-8"))]
    assert [d["name"] for d in docs] == [name]
    assert [v.get("source") for v in docs[0]["versions"]] == sources
    assert not any("version" in v for v in docs[0]["versions"])
    assert cli("validate", str(exported)).returncode == 0
    assert cli("plan", str(exported), "--detailed-exitcode", "--tracking-uri", prod_uri).returncode == 0

    applied = cli("apply", str(exported), "--auto-approve", "--tracking-uri", staging_uri)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    staged = versions_by_source(staging_uri, name)
    assert staged[sources[0]] == {"version": "2", "stage": "Archived", "aliases": []}  # v1 in prod
    assert staged[sources[1]] == {"version": "3", "stage": "Staging", "aliases": []}
    assert staged[sources[2]] == {"version": "4", "stage": "Production", "aliases": ["champion"]}
    assert client(staging_uri).get_model_version(name, "4").tags["validated"] == "true"
    assert cli("plan", str(exported), "--detailed-exitcode", "--tracking-uri", staging_uri).returncode == 0


# ---- the CI examples' own command lines, run as the pipelines run them -----------------------------


def _ci_examples_module():
    # The parser of the CI examples lives with their unit tests; one copy, so both read the same.
    path = REPO_ROOT / "tests" / "unit" / "test_ci_examples.py"
    spec = importlib.util.spec_from_file_location("ci_examples", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def workflow_command_lines(filename: str) -> list[list[str]]:
    ci = _ci_examples_module()
    workflow = ci.load(ci.GITHUB_DIR / filename)
    lines: list[list[str]] = []
    for step in ci.steps_of(workflow):  # in the order the job runs them: `run:` scripts and the action
        if ci.is_tool_action(step):
            argv = ci.action_argv(step.get("with", {}))
            lines += [argv] if argv else []  # no command: install only
        elif "run" in step:
            lines += [argv for t in ci.command_lines(step["run"]) for argv in ci.invocations(t)]
    return lines


def ci_env(uri: str) -> dict[str, str]:
    # as GitHub sets them: the URI from a secret, the credential secrets a registry without
    # auth does not need arrive as empty variables
    return {"MLFLOW_TRACKING_URI": uri, "MLFLOW_TRACKING_TOKEN": "", "MLFLOW_TRACKING_USERNAME": "",
            "MLFLOW_TRACKING_PASSWORD": ""}


@pytest.fixture
def ci_checkout(tmp_path, unique_name) -> Path:
    """A working copy as actions/checkout leaves it: manifests/prod/ (its model names made unique),
    and the place the commands write their outputs to."""
    checkout = tmp_path / "checkout"
    (checkout / "manifests").mkdir(parents=True)
    env_tree(tmp_path, "prod", unique_name.split("_", 1)[1]).rename(checkout / "manifests" / "prod")
    return checkout


def test_the_workflows_apply_and_plan_command_lines_converge_a_registry(sqlite_server, run_cli, ci_checkout):
    env = ci_env(sqlite_server.uri)
    applies = workflow_command_lines("mlflow-gitops-apply.yml")
    assert [a[0] for a in applies] == ["apply", "plan"]
    for argv in applies:  # apply, then the workflow's check that a fresh plan is empty
        result = run_cli(*argv, env=env, cwd=ci_checkout)
        assert result.returncode == 0, f"{argv}: {result.stdout}{result.stderr}"
    plans = workflow_command_lines("mlflow-gitops-plan.yml")
    assert [a[0] for a in plans] == ["plan"]
    result = run_cli(*plans[0], env=env, cwd=ci_checkout)
    assert result.returncode == 0, result.stdout + result.stderr  # --detailed-exitcode: no changes
    assert result.stdout.lstrip().startswith("#") and "No changes" in result.stdout  # Markdown


def test_the_drift_workflow_command_line_writes_junit_and_reports_in_sync(sqlite_server, run_cli, ci_checkout):
    env = ci_env(sqlite_server.uri)
    applied = run_cli("apply", "manifests/prod", "--auto-approve", env=env, cwd=ci_checkout)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    (drift,) = workflow_command_lines("mlflow-gitops-drift.yml")
    result = run_cli(*drift, env=env, cwd=ci_checkout)
    # models of other tests on this shared server are unmanaged here: listed, not failing
    assert result.returncode == 0, result.stdout + result.stderr
    report = ci_checkout / drift[drift.index("--out") + 1]
    suite = ElementTree.parse(report).getroot()
    cases = suite.iter("testcase")
    names = {case.get("name", "") + " " + case.get("classname", "") for case in cases}
    for model in ("demand_forecaster", "support_ticket_router"):
        assert any(model in n for n in names), names
    assert not list(suite.iter("failure"))
