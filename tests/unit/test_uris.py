"""URIs the tool cannot use are one line naming the accepted forms, never an internal error."""

from __future__ import annotations

import pytest

from reconciler.uris import UriError, sqlite_path, store_uri

MANIFEST = "apiVersion: mlflow-gitops/v1\nkind: RegisteredModel\nname: m\n"


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("htp://127.0.0.1:5055", "unsupported scheme 'htp'"),
        ("127.0.0.1:5055", "did you mean http://127.0.0.1:5055?"),
        ("localhost:5000/mlflow", "did you mean http://localhost:5000/mlflow?"),
        ("mysql://u:pw@db/x", "mysql+pymysql://HOST/DB"),
        ("file:///tmp/store", "sqlite:///PATH"),
        ("./mlruns", "sqlite:///PATH"),
        ("sqlite://x.db", "sqlite:////absolute/path.db"),
        ("http://", "names no host"),
        ("http://host:port", "not a number"),
    ],
)
def test_unusable_uris_name_the_accepted_forms(uri, words):
    with pytest.raises(UriError) as e:
        store_uri(uri)
    assert words in str(e.value)
    assert "\n" not in str(e.value)
    assert "pw" not in str(e.value)  # credentials stay masked


@pytest.mark.parametrize(
    "uri",
    ["http://127.0.0.1:5000", "https://mlflow.example.com/prefix", "sqlite:///mlflow.db", "sqlite:////tmp/x.db",
     "databricks", "databricks://profile", "postgresql+psycopg2://u@h/db"],
)
def test_usable_uris_pass_unchanged(uri):
    assert store_uri(uri) == uri


def test_plain_postgresql_gets_the_installed_driver():
    # SQLAlchemy 2.1 maps postgresql:// to psycopg 3; the `postgres` extra installs psycopg2
    assert store_uri("postgresql://u@h:5432/db") in ("postgresql+psycopg://u@h:5432/db", "postgresql+psycopg2://u@h:5432/db")


def test_plain_postgresql_without_a_driver_names_the_extra(monkeypatch):
    monkeypatch.setattr("reconciler.uris._installed", lambda module: False)
    with pytest.raises(UriError, match=r"mlflow-gitops\[postgres\]"):
        store_uri("postgresql://u@h/db")
    with pytest.raises(UriError, match=r"mlflow-gitops\[postgres\]"):
        store_uri("postgresql+psycopg2://u@h/db")


def test_sqlite_paths():
    assert sqlite_path("sqlite:///mlflow.db") == "mlflow.db"
    assert sqlite_path("sqlite:////abs/dir/x.db") == "/abs/dir/x.db"
    assert sqlite_path("sqlite://") is None
    assert sqlite_path("http://h") is None


@pytest.mark.parametrize("command", ["plan", "drift", "apply", "export"])
@pytest.mark.parametrize("uri", ["htp://127.0.0.1:5055", "127.0.0.1:5055", "mysql://h/db"])
def test_every_command_refuses_a_bad_uri_in_one_line(cli, tmp_path, command, uri):
    (tmp_path / "m.yaml").write_text(MANIFEST)
    args = [command] if command == "export" else [command, str(tmp_path)]
    result = cli(*args, "--tracking-uri", uri)
    assert result.returncode == 1
    assert "internal error" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--tracking-uri" in lines[0], result.stderr


def test_a_bad_uri_from_the_environment_is_named(cli, tmp_path):
    (tmp_path / "m.yaml").write_text(MANIFEST)
    result = cli("plan", str(tmp_path), env={"MLFLOW_TRACKING_URI": "htp://x"})
    assert result.returncode == 1
    assert result.stderr.startswith("MLFLOW_TRACKING_URI 'htp://x': unsupported scheme")


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_a_sqlite_uri_naming_a_directory_is_one_line(cli, tmp_path, command):
    (tmp_path / "m.yaml").write_text(MANIFEST)
    result = cli(command, str(tmp_path / "m.yaml"), "--tracking-uri", f"sqlite:///{tmp_path}")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"the registry URI 'sqlite:///{tmp_path}': {tmp_path} is a directory; name the database file, "
        "as in sqlite:///path/to/mlflow.db"]
