"""Every command of the tool (its own MLflow 3 client) against real `mlflow server`s from MLflow 2.9
to the newest 3.x: plan, apply (registration by source and by run_id, stage/alias/tag/description
changes, the audit trail, --lock), drift and export, each followed by an empty second plan.

The matrix is the `compat_server` fixture (conftest.py beside this file): a plain `pytest` runs the
oldest and the newest server on SQLite, `pytest -m compat` every version on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
import urllib.error
import urllib.parse
import urllib.request
import warnings

from support import compat
from support.integration import audit_tags, client, managed, seed_versions, write, writes_reported

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# Logs a pyfunc model the way a team on that server version does: with the server version's own
# client (MLflow 2 keeps it among the run's artifacts, MLflow 3 as a logged model of the run).
LOG_MODEL = textwrap.dedent("""\
    import sys
    import mlflow
    mlflow.set_tracking_uri(sys.argv[1])
    mlflow.set_experiment(sys.argv[2])
    class Identity(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input):
            return model_input
    where = {"name": "model"} if int(mlflow.__version__.split(".")[0]) >= 3 else {"artifact_path": "model"}
    with mlflow.start_run() as run:
        mlflow.pyfunc.log_model(python_model=Identity(), pip_requirements=["mlflow"], **where)
    print(run.info.run_id)
""")


def state(uri: str, name: str) -> dict:
    """What the tool manages about `name`, read with MlflowClient. Not helpers.state: MLflow 3's
    client adds `tags.mlflow.prompt.is_prompt != 'true'` to search_registered_models, which an
    MLflow 2 server answers with no model at all (a missing tag never compares unequal there)."""
    c = client(uri)
    m = c.get_registered_model(name)
    return {
        "description": m.description or "",
        "tags": managed(m.tags),
        "aliases": {a: str(v) for a, v in m.aliases.items()},
        "versions": {
            str(v.version): {"stage": v.current_stage, "description": v.description or "", "tags": managed(v.tags),
                             "source": v.source}
            for v in c.search_model_versions(filter_string=f"name = '{name}'")
        },
    }


def manifest(name: str, body: str) -> str:
    return f"apiVersion: mlflow-gitops/v1\nkind: RegisteredModel\nname: {name}\n" + textwrap.dedent(body)


def empty_plan(cli, tree, uri: str) -> None:
    again = cli("plan", tree, "--detailed-exitcode", "--tracking-uri", uri)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "No changes" in again.stdout or "no changes" in again.stdout.lower()


def log_model_with_server_client(server, name: str) -> str:
    python = server.python
    done = subprocess.run([str(python), "-c", LOG_MODEL, server.uri, f"exp_{name}"], capture_output=True,
                          text=True, timeout=300, env={"MLFLOW_UV_AUTO_DETECT": "false", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_plan_then_apply_by_source_then_empty_plan(compat_server, unique_name, cli, tmp_path):
    uri = compat_server.uri
    tree = write(tmp_path / "m" / "model.yaml", manifest(unique_name, """\
        description: registered by source
        tags: {team: mlops}
        versions:
          - source: s3://bucket/a
            stage: Archived
          - source: s3://bucket/b
            stage: Production
            aliases: [champion]
            description: the good one
            tags: {quality: high}
        """))
    planned = cli("plan", tree, "--format", "json", "--tracking-uri", uri)
    assert planned.returncode == 0, planned.stderr
    actions = [c["action"] for c in json.loads(planned.stdout)["changes"]]
    assert actions[:3] == ["create_model", "register_version", "register_version"]

    applied = cli("apply", tree, "--auto-approve", "--tracking-uri", uri)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    live = state(uri, unique_name)
    assert live["description"] == "registered by source" and live["tags"] == {"team": "mlops"}
    by_source = {v["source"]: (n, v) for n, v in live["versions"].items()}
    number_b, b = by_source["s3://bucket/b"]
    assert (b["stage"], b["description"], b["tags"]) == ("Production", "the good one", {"quality": "high"})
    assert by_source["s3://bucket/a"][1]["stage"] == "Archived"
    assert live["aliases"] == {"champion": number_b}
    empty_plan(cli, tree, uri)


def test_register_by_run_id_then_empty_plan(compat_server, unique_name, cli, tmp_path):
    uri = compat_server.uri
    run_id = log_model_with_server_client(compat_server, unique_name)
    tree = write(tmp_path / "m" / "model.yaml", manifest(unique_name, f"""\
        versions:
          - run_id: {run_id}
            stage: Staging
            aliases: [challenger]
        """))
    applied = cli("apply", tree, "--auto-approve", "--tracking-uri", uri)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    versions = client(uri).search_model_versions(f"name = '{unique_name}'")
    assert [(v.run_id, v.current_stage) for v in versions] == [(run_id, "Staging")]
    assert client(uri).get_model_version_by_alias(unique_name, "challenger").version == versions[0].version
    # the version's source is where the model really is: its MLmodel can be read back
    from mlflow.artifacts import download_artifacts

    where = client(uri).get_model_version_download_uri(unique_name, versions[0].version)
    local = download_artifacts(artifact_uri=f"{where.rstrip('/')}/MLmodel", tracking_uri=uri,
                               dst_path=str(tmp_path / "dl"))
    assert "python_function" in open(local).read()
    empty_plan(cli, tree, uri)


def test_stage_alias_tag_description_changes_and_audit_trail(compat_server, unique_name, cli, tmp_path):
    uri = compat_server.uri
    seed_versions(uri, unique_name, ["Production", "Staging", "None"], description="old")
    c = client(uri)
    c.set_registered_model_tag(unique_name, "stale", "x")
    c.set_registered_model_alias(unique_name, "old", "1")
    tree = write(tmp_path / "m" / "model.yaml", manifest(unique_name, """\
        description: new
        tags: {team: mlops}
        policy: {prune_tags: true, prune_aliases: true}
        versions:
          - version: 2
            stage: Production
            aliases: [champion]
            description: promoted
            tags: {approved: "yes"}
          - version: 1
            stage: Archived
        """))
    applied = cli("apply", tree, "--auto-approve", "--verbose", "--tracking-uri", uri,
                  env={"GITHUB_SHA": "abc123", "GITHUB_ACTOR": "octocat", "MLFLOW_TRACKING_USERNAME": None})
    assert applied.returncode == 0, applied.stdout + applied.stderr
    live = state(uri, unique_name)
    assert (live["description"], live["tags"], live["aliases"]) == ("new", {"team": "mlops"}, {"champion": "2"})
    assert {n: v["stage"] for n, v in live["versions"].items()} == {"1": "Archived", "2": "Production", "3": "None"}
    assert (live["versions"]["2"]["description"], live["versions"]["2"]["tags"]) == ("promoted", {"approved": "yes"})
    trail = audit_tags(uri, unique_name)
    assert "by octocat, commit abc123" in trail["model"]["mlflow-gitops.applied"]
    assert trail["2"]["mlflow-gitops.stage"].startswith("Production since ")
    empty_plan(cli, tree, uri)
    again = cli("apply", tree, "--auto-approve", "--verbose", "--tracking-uri", uri)
    assert again.returncode == 0 and writes_reported(again.stderr) == 0


def test_drift_reports_hand_changes_and_apply_restores(compat_server, unique_name, cli, tmp_path):
    uri = compat_server.uri
    seed_versions(uri, unique_name, ["Production", "None"])
    tree = write(tmp_path / "m" / "model.yaml", manifest(unique_name, """\
        tags: {team: mlops}
        versions:
          - version: 1
            stage: Production
            aliases: [champion]
          - version: 2
            stage: Staging
        """))
    assert cli("apply", tree, "--auto-approve", "--tracking-uri", uri).returncode == 0
    assert cli("drift", tree, "--tracking-uri", uri).returncode == 0
    c = client(uri)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        c.transition_model_version_stage(unique_name, "2", "Production")
    c.set_registered_model_tag(unique_name, "team", "someone-else")
    c.set_registered_model_alias(unique_name, "champion", "2")
    drift = cli("drift", tree, "--format", "json", "--tracking-uri", uri)
    assert drift.returncode == 2, drift.stdout + drift.stderr
    text = cli("drift", tree, "--tracking-uri", uri).stdout
    assert "stage: git Staging, live Production" in text and "someone-else" in text and "champion" in text
    assert cli("apply", tree, "--auto-approve", "--tracking-uri", uri).returncode == 0
    assert cli("drift", tree, "--tracking-uri", uri).returncode == 0
    empty_plan(cli, tree, uri)


def test_export_round_trips_to_an_empty_plan(compat_server, unique_name, cli, tmp_path):
    uri = compat_server.uri
    seed_versions(uri, unique_name, ["Production", "Archived"], description="exported")
    c = client(uri)
    c.set_registered_model_tag(unique_name, "team", "mlops")
    c.set_registered_model_alias(unique_name, "champion", "1")
    c.set_model_version_tag(unique_name, "1", "quality", "high")
    for by in ("version", "source"):
        out = tmp_path / f"by-{by}"
        exported = cli("export", "--model", unique_name, "--by", by, "--out", out, "--tracking-uri", uri)
        assert exported.returncode == 0, exported.stderr
        text = (out / f"{unique_name}.yaml").read_text()
        assert "champion" in text and "quality: high" in text and "stage: Production" in text
        empty_plan(cli, out, uri)


def test_apply_with_lock_takes_and_releases_the_lease(compat_server, unique_name, cli, tmp_path):
    uri = compat_server.uri
    tree = write(tmp_path / "m" / "model.yaml", manifest(unique_name, """\
        versions:
          - source: s3://bucket/locked
            stage: Staging
        """))
    applied = cli("apply", tree, "--auto-approve", "--lock", "--tracking-uri", uri)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert state(uri, unique_name)["versions"]["1"]["stage"] == "Staging"
    store = client(uri)._get_registry_client().store  # no prompt filter: see state()
    assert list(store.search_registered_models("name LIKE 'mlflow-gitops.lock.%'", 100)) == []
    assert [m.name for m in store.search_registered_models(f"name = '{unique_name}'", 100)] == [unique_name]
    empty_plan(cli, tree, uri)


def round_trips(stderr: str) -> int:
    m = re.search(r"(\d+) registry round trips", stderr)
    assert m, stderr
    return int(m.group(1))


def accepts_name_in(uri: str, name: str) -> bool:
    """Does the server take `name IN (...)` in model searches? (Asked directly, for the record.)"""
    query = urllib.parse.urlencode({"filter": f"name IN ('{name}')", "max_results": 10})
    try:
        with NO_PROXY.open(f"{uri}/api/2.0/mlflow/registered-models/search?{query}", timeout=30) as r:
            return [m["name"] for m in json.load(r).get("registered_models", [])] == [name]
    except urllib.error.HTTPError:
        return False


def test_reads_take_as_many_round_trips_for_one_model_as_for_ten(compat_server, unique_name, cli, tmp_path):
    uri = compat_server.uri
    names = [f"{unique_name}_{i}" for i in range(10)]
    for n in names:
        seed_versions(uri, n, ["Production"])
    trees = {}
    for count in (1, 10):
        trees[count] = tmp_path / f"t{count}"
        for n in names[:count]:
            write(trees[count] / f"{n}.yaml", manifest(n, "versions:\n  - version: 1\n    stage: Production\n"))
    trips = {}
    for count, tree in trees.items():
        planned = cli("plan", tree, "--detailed-exitcode", "--verbose", "--tracking-uri", uri)
        assert planned.returncode == 0, planned.stdout + planned.stderr
        trips[count] = round_trips(planned.stderr)
    supported = accepts_name_in(uri, names[0])
    compat.SUMMARY[(compat_server.version, compat_server.backend)] = f"name IN: {supported}, plan round trips {trips}"
    assert trips[1] == trips[10]
    # the searches (models, versions) and the plan's other reads; a server that refuses `name IN`
    # costs two more, the refused searches
    assert trips[1] <= (3 if supported else 6)
