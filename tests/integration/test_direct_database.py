"""A database URI without a driver (`postgresql://`) works with the driver the `postgres` extra
installs (psycopg2; SQLAlchemy 2.1 alone would pick psycopg 3, which is not installed)."""

from __future__ import annotations

import json

import pytest
from conftest import PG_HOST, PG_PORT, PG_USER, _pg_create_database, _pg_drop_database

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@pytest.fixture
def plain_postgres_uri():
    db = _pg_create_database()
    try:
        yield f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{db}"
    finally:
        _pg_drop_database(db)


def test_plain_postgresql_uri_plans_and_applies(cli, tmp_path, plain_postgres_uri):
    (tmp_path / "m.yaml").write_text(
        "apiVersion: mlflow-gitops/v1\nkind: RegisteredModel\nname: direct_db\ntags: {team: db}\n")
    applied = cli("apply", tmp_path, "--auto-approve", "--tracking-uri", plain_postgres_uri, "--format", "json")
    assert applied.returncode == 0, applied.stderr
    assert json.loads(applied.stdout)["apply"]["status"] == "applied"
    again = cli("plan", tmp_path, "--tracking-uri", plain_postgres_uri, "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
