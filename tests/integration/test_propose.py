"""`propose` against real stores: runs with `rmse` logged in an experiment, the best one proposed
into a commented manifest, then plan/apply of the proposal register and promote that run."""

from __future__ import annotations

import json
import re

import pytest
from support.integration import client, state, write

pytestmark = pytest.mark.integration

RUNS = {"good": 5.21, "bad": 7.8, "ok": 6.1}  # rmse of each run
GATES = "policy:\n  gates:\n    - {target: Production, metric: rmse, max: 7}\n"


def manifest_text(name: str) -> str:
    return f"""\
# Taxi trip regressor: promoted by pull request only.
apiVersion: mlflow-gitops/v1
kind: RegisteredModel
name: {name}
description: NYC taxi trip duration regressor
{GATES}versions:
  - source: s3://seed/{name}/1   # the model trained in October
    stage:   Production
    aliases: [champion, blue]    # blue: the deployment slot

  - source: s3://seed/{name}/2
    stage: Staging
---
apiVersion: "mlflow-gitops/v1"
kind: RegisteredModel
name: {name}_other          # another model in the same file: not touched
versions: [{{source: 's3://seed/other/1', stage: Production, aliases: [champion]}}]
"""


def train(uri: str, fluent_uri, tmp_path, experiment: str) -> dict[str, str]:
    """Runs of `experiment` logging `rmse` (and, but for the worst, a model at `model`: an MLmodel
    file is what registering `runs:/<id>/model` needs); name -> run id."""
    import mlflow

    model_dir = tmp_path / "model"
    write(model_dir / "MLmodel", "flavors: {}\n")
    ids = {}
    if uri.startswith("sqlite:"):  # else the embedded store puts artifacts in ./mlruns of the cwd
        client(uri).create_experiment(experiment, artifact_location=(tmp_path / "artifacts").as_uri())
    with fluent_uri(uri):
        mlflow.set_experiment(experiment)
        for name, rmse in RUNS.items():
            with mlflow.start_run(run_name=name) as run:
                mlflow.log_params({"max_depth": str(len(name))})
                mlflow.log_metric("rmse", rmse + 1.0)  # an earlier value: the latest one counts
                mlflow.log_metric("rmse", rmse)
                if name in ("good", "ok"):
                    mlflow.log_artifacts(str(model_dir), "model")
            ids[name] = run.info.run_id
    return ids


def propose_args(path, name: str, experiment: str, uri: str, *extra: str) -> list:
    return ["propose", path, "--model", name, "--experiment", experiment,
            "--filter", "metrics.rmse < 7", "--order-by", "metrics.rmse ASC",
            "--stage", "Production", "--alias", "champion", "--archive-previous",
            "--tracking-uri", uri, *extra]


def test_propose_best_run_then_plan_and_apply_register_it(registry_uri, unique_name, cli, tmp_path, fluent_uri):
    name, experiment = unique_name, f"exp_{unique_name}"
    uri = ["--tracking-uri", registry_uri]
    # the versions from before gates: registered by source, no run (they would fail the rmse gate)
    ungated = write(tmp_path / "before" / "models.yaml", manifest_text(name).replace(GATES, ""))
    assert cli("apply", ungated, "--auto-approve", *uri).returncode == 0
    path = write(tmp_path / "models.yaml", manifest_text(name))
    ids = train(registry_uri, fluent_uri, tmp_path, experiment)
    before = path.read_bytes()

    first = cli(*propose_args(path, name, experiment, registry_uri, "--detailed-exitcode"))
    assert first.returncode == 2, first.stderr
    best = ids["good"]
    assert f"Best run in experiment '{experiment}': {best} (rmse 5.21)." in first.stdout
    assert f"+  - run_id: {best}" in first.stdout  # the diff
    assert "Gates: all 1 pass." in first.stdout and "rmse 5.21 <= max 7" in first.stdout
    expected = before.decode().replace(
        """    stage:   Production
    aliases: [champion, blue]    # blue: the deployment slot

  - source: s3://seed/{name}/2
    stage: Staging
""".replace("{name}", name),
        f"""    stage:   Archived
    aliases: [blue]    # blue: the deployment slot

  - source: s3://seed/{name}/2
    stage: Staging
  - run_id: {best}
    stage: Production
    aliases: [champion]
""")
    assert path.read_text() == expected  # every other byte, the other document included

    plan = cli("plan", path, "--format", "json", *uri)
    assert plan.returncode == 0, plan.stderr
    changes = [(c["action"], c.get("run_id"), c.get("after")) for c in json.loads(plan.stdout)["changes"]]
    assert ("register_version", best, None) in [(a, r, None) for a, r, _ in changes]
    applied = cli("apply", path, "--auto-approve", *uri)
    assert applied.returncode == 0, applied.stderr
    live = state(registry_uri, name)
    registered = [v for v in client(registry_uri).search_model_versions(f"name = '{name}'") if v.run_id == best]
    assert len(registered) == 1
    version = str(registered[0].version)
    assert live["aliases"] == {"champion": version, "blue": "1"}
    assert live["versions"][version]["stage"] == "Production"
    assert live["versions"]["1"]["stage"] == "Archived"

    again = cli(*propose_args(path, name, experiment, registry_uri, "--detailed-exitcode", "--verbose"))
    assert again.returncode == 0, again.stderr
    # constant reads: experiment, search_runs, the model (2 searches), the gated runs (2)
    trips = int(re.search(r"(\d+) registry round trips", again.stderr).group(1))
    assert trips <= 6, again.stderr
    assert "nothing to change" in again.stdout and "+++" not in again.stdout
    assert path.read_text() == expected
    assert cli("plan", path, "--detailed-exitcode", *uri).returncode == 0


def test_entry_selecting_the_runs_version_by_number_is_the_one_edited(embedded_uri, unique_name, cli, tmp_path,
                                                                      fluent_uri):
    name, experiment = unique_name, f"exp_{unique_name}"
    ids = train(embedded_uri, fluent_uri, tmp_path, experiment)
    c = client(embedded_uri)
    c.create_registered_model(name)
    c.create_model_version(name, source="s3://seed/x/1")
    c.create_model_version(name, source=f"runs:/{ids['good']}/model", run_id=ids["good"])
    path = write(tmp_path / "m.yaml", f"""\
apiVersion: mlflow-gitops/v1
kind: RegisteredModel
name: {name}
versions:
  - version: 1
    stage: Production
  - version: 2 # the good run, registered by hand
""")
    result = cli(*propose_args(path, name, experiment, embedded_uri))
    assert result.returncode == 0, result.stderr
    assert path.read_text() == f"""\
apiVersion: mlflow-gitops/v1
kind: RegisteredModel
name: {name}
versions:
  - version: 1
    stage: Archived
  - version: 2 # the good run, registered by hand
    stage: Production
    aliases: [champion]
"""


def test_no_match_errors_and_deleted_runs_write_nothing(embedded_uri, unique_name, cli, tmp_path, fluent_uri):
    name, experiment = unique_name, f"exp_{unique_name}"
    ids = train(embedded_uri, fluent_uri, tmp_path, experiment)
    path = write(tmp_path / "m.yaml", manifest_text(name))
    before = path.read_bytes()
    base = ["propose", path, "--model", name, "--experiment", experiment, "--tracking-uri", embedded_uri]

    none = cli(*base, "--filter", "metrics.rmse < 1", "--detailed-exitcode")
    assert none.returncode == 0 and f"No active run in experiment '{experiment}'" in none.stdout
    bad = cli(*base, "--filter", "metrics.rmse <<< 1")
    assert bad.returncode == 1 and "--filter" in bad.stderr and "Traceback" not in bad.stderr
    unknown = cli(*base[:3], f"{name}_nope", *base[4:])
    assert unknown.returncode == 1 and f"no document declares model '{name}_nope'" in unknown.stderr
    no_exp = cli(*base[:5], "no_such_experiment", *base[6:])
    assert no_exp.returncode == 1 and "no experiment named 'no_such_experiment'" in no_exp.stderr
    assert path.read_bytes() == before
    missing = tmp_path / "none" / "mlflow.db"
    absent = cli(*base[:-1], f"sqlite:///{missing}")
    assert absent.returncode == 1 and "no experiment named" in absent.stderr
    assert not missing.parent.exists()  # a read of the registry creates nothing

    client(embedded_uri).delete_run(ids["good"])  # deleted runs are never proposed
    by_id = client(embedded_uri).get_experiment_by_name(experiment).experiment_id
    result = cli(*base[:5], by_id, *base[6:], "--filter", "metrics.rmse < 7", "--order-by", "metrics.rmse ASC")
    assert result.returncode == 0, result.stderr
    assert f"- run_id: {ids['ok']}" in path.read_text()


def test_a_worse_proposal_is_written_but_its_gate_blocks_plan_and_apply(embedded_uri, unique_name, cli, tmp_path,
                                                                     fluent_uri):
    name, experiment = unique_name, f"exp_{unique_name}"
    ids = train(embedded_uri, fluent_uri, tmp_path, experiment)
    path = write(tmp_path / "m" / "m.yaml", f"""\
apiVersion: mlflow-gitops/v1
kind: RegisteredModel
name: {name}
policy:
  gates:
    - target: Production
      metric: rmse
      vs_current: lower   # never worse than what serves now
versions:
  - run_id: {ids["good"]}
    stage: Production
""")
    uri = ["--tracking-uri", embedded_uri]
    assert cli("apply", path.parent, "--auto-approve", *uri).returncode == 0
    before = state(embedded_uri, name)
    worse = cli("propose", path, "--model", name, "--experiment", experiment, "--filter", "metrics.rmse < 7",
                "--order-by", "metrics.rmse DESC", "--stage", "Production", "--archive-previous", *uri)
    assert worse.returncode == 0, worse.stderr  # a proposal, not an error: the PR shows why it cannot merge
    assert "Gates: 1 of 1 fail: apply would refuse this proposal." in worse.stdout
    assert "rmse 6.10 is higher than 5.21" in worse.stdout
    assert f"- run_id: {ids['ok']}" in path.read_text()
    plan = cli("plan", path.parent, *uri)
    assert plan.returncode == 1 and "Plan blocked by 1 gate" in plan.stdout + plan.stderr
    applied = cli("apply", path.parent, "--auto-approve", *uri)
    assert applied.returncode == 1
    assert state(embedded_uri, name) == before


def test_crlf_and_bom_file_keeps_its_bytes_and_mode(embedded_uri, unique_name, cli, tmp_path, fluent_uri):
    name, experiment = unique_name, f"exp_{unique_name}"
    ids = train(embedded_uri, fluent_uri, tmp_path, experiment)
    text = f"\ufeff# Windows editor\r\napiVersion: mlflow-gitops/v1\r\nkind: RegisteredModel\r\nname: {name}\r\n"
    path = tmp_path / "m.yaml"
    path.write_bytes(text.encode())
    path.chmod(0o640)
    result = cli("propose", path, "--model", name, "--experiment", experiment, "--order-by", "metrics.rmse ASC",
                 "--alias", "champion", "--tracking-uri", embedded_uri)
    assert result.returncode == 0, result.stderr
    assert path.read_bytes() == (text + f"versions:\r\n  - run_id: {ids['good']}\r\n    aliases: [champion]\r\n").encode()
    assert path.stat().st_mode & 0o777 == 0o640
    assert "\r" not in result.stdout  # the diff is printed with plain line breaks
