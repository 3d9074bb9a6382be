"""Which tracking/registry URIs the tool can use, checked before MLflow sees them.

MLflow answers a URI it cannot use with an exception from deep inside its store registry (an
unknown scheme, a host:port taken for a local directory, a database driver that is not
installed); here each becomes one line naming the accepted forms. Nothing here imports MLflow.
"""

from __future__ import annotations

import importlib.util
import os
import re
from urllib.parse import unquote, urlsplit

from reconciler.errors import ReconcilerError
from reconciler.redact import redact

ACCEPTED = (
    "http://HOST:PORT or https://HOST:PORT (an mlflow server), sqlite:///PATH (a local file), "
    "postgresql://HOST/DB or mysql+pymysql://HOST/DB (a database, with its driver installed), "
    "or databricks"
)
POSTGRES_HINT = "install the driver with: pip install 'mlflow-gitops[postgres]' (or psycopg2-binary)"
# SQLAlchemy's default driver for each database scheme, and the module that driver imports.
DEFAULT_DRIVERS = {"mysql": "MySQLdb", "mssql": "pyodbc"}
DRIVER_MODULES = {
    "psycopg2": "psycopg2", "psycopg": "psycopg", "pg8000": "pg8000", "asyncpg": "asyncpg",
    "pymysql": "pymysql", "mysqldb": "MySQLdb", "mysqlconnector": "mysql.connector", "pyodbc": "pyodbc",
    "pymssql": "pymssql",
}  # fmt: skip
DATABASES = ("postgresql", "mysql", "mssql")
HOST_PORT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d+(/.*)?$")


class UriError(ReconcilerError):
    """A tracking or registry URI this tool cannot use."""


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def store_uri(uri: str, what: str = "--tracking-uri") -> str:
    """`uri` as MLflow should get it, or UriError. `what` names where it came from (a flag or a
    variable). A plain `postgresql://` gets the driver that is installed (SQLAlchemy 2.1 would
    pick psycopg 3; the `postgres` extra installs psycopg2)."""
    shown = f"{what} {redact(uri)!r}"
    if uri in ("databricks", "databricks-uc", "uc") or uri.startswith(("databricks://", "databricks-uc://", "uc:")):
        return uri
    if HOST_PORT.match(uri) and "://" not in uri:
        raise UriError(f"{shown} has no scheme: did you mean http://{uri}? Accepted: {ACCEPTED}")
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if not scheme or (len(scheme) == 1 and os.name == "nt"):
        raise UriError(f"{shown}: a local directory is MLflow's retired file store; use sqlite:///PATH "
                       f"for a local registry. Accepted: {ACCEPTED}")
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise UriError(f"{shown} names no host. Accepted: {ACCEPTED}")
        try:
            parts.port
        except ValueError:
            raise UriError(f"{shown}: the port is not a number from 0 to 65535. Accepted: {ACCEPTED}") from None
        return uri
    if scheme == "sqlite":
        if not uri.startswith("sqlite:///") and uri != "sqlite://":
            raise UriError(f"{shown}: a sqlite URI is sqlite:///relative/path.db or sqlite:////absolute/path.db")
        return uri
    if scheme == "file":
        raise UriError(f"{shown}: MLflow's file store is retired; use sqlite:///PATH for a local registry. "
                       f"Accepted: {ACCEPTED}")
    database, _, driver = scheme.partition("+")
    if database in DATABASES:
        if driver:
            module = DRIVER_MODULES.get(driver)
            if module is not None and not _installed(module):
                hint = POSTGRES_HINT if database == "postgresql" else f"install the {driver} package"
                raise UriError(f"{shown}: the database driver {driver} is not installed; {hint}")
            return uri
        if database == "postgresql":
            for candidate in ("psycopg", "psycopg2"):
                if _installed(candidate):
                    return f"postgresql+{candidate}{uri[len(scheme):]}"
            raise UriError(f"{shown}: no PostgreSQL driver is installed; {POSTGRES_HINT}")
        if not _installed(DEFAULT_DRIVERS[database]):
            example = {"mysql": "pymysql", "mssql": "pyodbc"}[database]
            raise UriError(f"{shown}: name the database driver, as in {database}+{example}://HOST/DB, "
                           f"and install it: pip install {example}")
        return uri
    raise UriError(f"{shown}: unsupported scheme '{parts.scheme}'. Accepted: {ACCEPTED}")


def sqlite_path(uri: str) -> str | None:
    """The file of a `sqlite:///…` URI (None for other URIs and for an in-memory database)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = unquote(urlsplit(uri).path)[1:]  # sqlite:///rel.db -> rel.db; sqlite:////abs.db -> /abs.db
    path = path.split("?", 1)[0]
    return path or None


def sqlite_missing(uri: str) -> bool:
    """A sqlite registry that does not exist yet: empty, as far as reading it goes."""
    path = sqlite_path(uri)
    return path is not None and not os.path.exists(path)


def require_sqlite_directory(uri: str, what: str) -> None:
    """Writing creates a missing sqlite file, but not its directory: MLflow would make the whole
    path, and a typo would leave a new registry in a stray directory."""
    path = sqlite_path(uri)
    if path is None or os.path.exists(path):
        return
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UriError(f"{what} {redact(uri)!r}: the directory {directory} does not exist; create it first "
                       "(apply creates the sqlite file, not its directory)")


def require_sqlite_file(uri: str, what: str) -> None:
    """A sqlite URI naming a directory cannot be opened (MLflow would retry for a minute)."""
    path = sqlite_path(uri)
    if path is not None and os.path.isdir(path):
        raise UriError(f"{what} {redact(uri)!r}: {path} is a directory; name the database file, "
                       "as in sqlite:///path/to/mlflow.db")
