"""Apply says which number each registered version got: in its text lines and in JSON
(`apply.registered`, SPEC "Apply JSON")."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration


def manifest(tmp_path, sources: list[str]) -> None:
    versions = "".join(f"  - source: {s}\n" for s in sources)
    (tmp_path / "m.yaml").write_text(
        f"apiVersion: mlflow-gitops/v1\nkind: RegisteredModel\nname: registered_m\nversions:\n{versions}")


def test_apply_json_lists_the_registered_numbers(cli, tmp_path, embedded_uri):
    manifest(tmp_path, ["s3://bucket/a", "s3://bucket/b"])
    result = cli("apply", tmp_path, "--auto-approve", "--format", "json", "--tracking-uri", embedded_uri)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    refs = [c["ref"] for c in doc["changes"] if c["action"] == "register_version"]
    assert doc["apply"]["registered"] == [
        {"model": "registered_m", "ref": refs[0], "version": "1"},
        {"model": "registered_m", "ref": refs[1], "version": "2"},
    ]
    manifest(tmp_path, ["s3://bucket/a", "s3://bucket/b", "s3://bucket/c"])
    text = cli("apply", tmp_path, "--auto-approve", "--tracking-uri", embedded_uri)
    assert text.returncode == 0, text.stderr
    assert "registered_m new#1: register new version from s3://bucket/c -> version 3" in text.stdout, text.stdout
    again = cli("apply", tmp_path, "--auto-approve", "--format", "json", "--tracking-uri", embedded_uri)
    assert json.loads(again.stdout)["apply"] == {"status": "no_changes", "applied": 0, "registered": []}
