"""policy.stage_aliases on real registries: the stage -> alias migration walk-through of
docs/stage-aliases.md, step by step, through the CLI."""

from __future__ import annotations

import warnings

from support.integration import client, seed_versions, state, write


def manifest(name: str, production: int, staging: int | None, policy: str) -> str:
    staged = f"  - version: {staging}\n    stage: Staging\n" if staging else ""
    return f"""\
apiVersion: mlflow-gitops/v1
kind: RegisteredModel
name: {name}
policy:
  unmanaged_versions: archive
{policy}versions:
  - version: {production}
    stage: Production
{staged}"""


STAGE_ALIASES = "  stage_aliases: {Production: champion, Staging: challenger}\n"


def resolve(uri: str, name: str, alias: str) -> str:
    return str(client(uri).get_model_version_by_alias(name, alias).version)


def test_stage_aliases_follow_promotions_until_the_aliases_are_declared_outright(registry_uri, unique_name, cli,
                                                                                  tmp_path):
    seed_versions(registry_uri, unique_name, ["Production", "Staging", "None"])
    uri = ["--tracking-uri", registry_uri]
    tree = tmp_path / "m" / "model.yaml"

    # step 1: keep the stages, add the policy: aliases appear on the versions in those stages
    write(tree, manifest(unique_name, 1, 2, STAGE_ALIASES))
    plan = cli("plan", tree, *uri)
    assert "alias @champion -> v1 [policy stage_aliases: Production -> champion]" in plan.stdout
    assert "alias @challenger -> v2 [policy stage_aliases: Staging -> challenger]" in plan.stdout
    assert cli("apply", tree, "--auto-approve", *uri).returncode == 0
    assert (resolve(registry_uri, unique_name, "champion"), resolve(registry_uri, unique_name, "challenger")) == ("1", "2")

    # step 2: promote v3 by stage, as before; the alias follows, and the empty Staging loses its alias
    write(tree, manifest(unique_name, 3, None, STAGE_ALIASES))
    assert cli("apply", tree, "--auto-approve", *uri).returncode == 0
    live = state(registry_uri, unique_name)
    assert live["aliases"] == {"champion": "3"}
    assert {v: live["versions"][v]["stage"] for v in "123"} == {"1": "Archived", "2": "Archived", "3": "Production"}
    assert cli("plan", tree, "--detailed-exitcode", *uri).returncode == 0

    # someone moves a stage by hand: drift reports the stage and the alias that should follow it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        client(registry_uri).transition_model_version_stage(unique_name, "2", "Production")
    drift = cli("drift", tree, *uri)
    assert drift.returncode == 2
    assert "~ v2 stage: git Archived, live Production" in drift.stdout

    # step 3: consumers use @champion; declare the alias outright and drop the policy: nothing moves
    write(tree, f"""\
apiVersion: mlflow-gitops/v1
kind: RegisteredModel
name: {unique_name}
versions:
  - version: 3
    aliases: [champion]
  - version: 2
    stage: Archived
""")
    assert cli("apply", tree, "--auto-approve", *uri).returncode == 0
    assert cli("plan", tree, "--detailed-exitcode", *uri).returncode == 0
    assert state(registry_uri, unique_name)["aliases"] == {"champion": "3"}
