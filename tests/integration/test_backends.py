"""Smoke tests proving each real backend fixture works with the real MlflowClient."""

from __future__ import annotations

import warnings

import pytest

pytestmark = pytest.mark.integration


def _client(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_registry_roundtrip(registry_uri, unique_name):
    client = _client(registry_uri)
    name = unique_name

    client.create_registered_model(name, tags={"team": "gitops"}, description="smoke")
    mv = client.create_model_version(name, source="s3://bucket/x", tags={"k": "v"})
    # NB: the embedded store returns int versions (1, {"champion": 1}); REST returns "1".
    assert str(mv.version) == "1"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # stages are deprecated in MLflow 3
        client.transition_model_version_stage(name, mv.version, "Staging")
    client.set_registered_model_alias(name, "champion", mv.version)

    models = client.search_registered_models(filter_string=f"name IN ('{name}')")
    assert [m.name for m in models] == [name]
    model = models[0]
    assert {k: str(v) for k, v in model.aliases.items()} == {"champion": "1"}
    assert model.tags == {"team": "gitops"}
    assert model.description == "smoke"

    versions = client.search_model_versions(filter_string=f"name IN ('{name}')", max_results=200000)
    assert len(versions) == 1
    v = versions[0]
    assert (v.name, str(v.version), v.source, v.current_stage) == (
        name,
        "1",
        "s3://bucket/x",
        "Staging",
    )
    assert v.tags == {"k": "v"}
    # MLflow quirk (all backends): search_model_versions does not populate aliases;
    # they come from the registered model (above) or get_model_version (below).
    assert v.aliases == []
    assert client.get_model_version(name, "1").aliases == ["champion"]


def test_shared_server_isolation_by_name(registry_uri, unique_name):
    """Another model on the same (shared) backend never shows up in a name filter."""
    client = _client(registry_uri)
    other = f"{unique_name}_other"
    client.create_registered_model(unique_name)
    client.create_registered_model(other)
    found = client.search_registered_models(filter_string=f"name IN ('{unique_name}')")
    assert [m.name for m in found] == [unique_name]


def test_pyfunc_model_roundtrip_through_server(sqlite_server, unique_name, fluent_uri):
    """Artifacts are proxied by the server: log a real pyfunc model, load it via models:/."""
    import mlflow
    import mlflow.pyfunc
    import pandas as pd

    class Echo(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input

    client = _client(sqlite_server.uri)
    with fluent_uri(sqlite_server.uri):
        experiment_id = client.create_experiment(unique_name)
        with mlflow.start_run(experiment_id=experiment_id) as run:
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=Echo(),
                pip_requirements=["mlflow"],  # skip slow requirement inference
            )
        assert client.get_experiment(experiment_id).artifact_location.startswith(
            "mlflow-artifacts:"
        )
        client.create_registered_model(unique_name)
        # MLflow 3: a models:/m-<id> source must be accompanied by its model_id.
        mv = client.create_model_version(
            unique_name, source=info.model_uri, run_id=run.info.run_id, model_id=info.model_id
        )
        assert mv.version == "1"

        loaded = mlflow.pyfunc.load_model(f"models:/{unique_name}/1")
        df = pd.DataFrame({"x": [1, 2, 3]})
        pd.testing.assert_frame_equal(loaded.predict(df), df)

    # The bytes really went through the server into its --artifacts-destination.
    assert any(p.name == "MLmodel" for p in sqlite_server.artifacts_path.rglob("MLmodel"))


@pytest.mark.postgres
def test_postgres_backend_is_really_postgres(postgres_server):
    import psycopg2

    assert postgres_server.backend_store_uri.startswith("postgresql")
    assert postgres_server.database.startswith("mlflow_gitops_test_")
    conn = psycopg2.connect(
        host="127.0.0.1", port=5432, user="postgres", dbname=postgres_server.database
    )
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = %s",
                ("registered_models",),
            )
            assert cur.fetchone()[0] == 1
    finally:
        conn.close()
