"""`propose`'s input errors: one clear message, exit 1, nothing written, and the registry never
contacted (the tracking URI below points at a closed port: reaching it would be another error)."""

from __future__ import annotations

import pytest

NOWHERE = "http://127.0.0.1:9"  # discard port: nothing listens there
GOOD = """\
apiVersion: mlflow-gitops/v1
kind: RegisteredModel
name: taxi
versions:
  - version: 1
    stage: Production
"""


def propose(cli, path, *extra):
    return cli("propose", path, "--model", "taxi", "--experiment", "e", "--tracking-uri", NOWHERE, *extra)


@pytest.mark.parametrize("text, message", [
    (GOOD.replace("stage: Production", "stage: Live"), "m.yaml:6:12: "),
    (GOOD.replace("version: 1", "version: [1"), "m.yaml:"),
    (GOOD.replace("name: taxi", "name: other"), "m.yaml: no document declares model 'taxi' (it declares 'other')"),
    ("# only a comment\n", "m.yaml:1:1: no manifests found"),
])
def test_bad_files_are_reported_before_any_registry_call(cli, tmp_path, text, message):
    path = tmp_path / "m.yaml"
    path.write_bytes(text.encode())
    result = propose(cli, path)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert "127.0.0.1:9" not in result.stderr
    assert path.read_bytes() == text.encode()


def test_flag_and_path_errors(cli, tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(GOOD)
    result = propose(cli, path, "--archive-previous")
    assert result.returncode == 1 and "--archive-previous needs --stage" in result.stderr
    assert propose(cli, tmp_path, "--stage", "Production").returncode == 1
    missing = propose(cli, tmp_path / "nope.yaml")
    assert missing.returncode == 1 and "nope.yaml: cannot read file" in missing.stderr
    bad_stage = propose(cli, path, "--stage", "Live")
    assert bad_stage.returncode == 1 and "Live is not one of" in bad_stage.stderr  # a usage error: exit 1 (SPEC)
    assert path.read_text() == GOOD


def test_an_alias_the_policy_keeps_on_a_stage_is_refused(cli, tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(GOOD.replace("versions:", "policy:\n  stage_aliases: {Production: champion}\nversions:"))
    result = propose(cli, path, "--alias", "champion")
    assert result.returncode == 1
    assert "--alias champion: the model's policy.stage_aliases keeps it on the Production version" in result.stderr
