"""What the connected registry server can do, learnt once per connection.

The tool's client is MLflow 3; the servers it talks to run MLflow 2.9 and later (README: "Server
compatibility"). Some APIs the client would use do not exist on older servers. Rather than asking
the server for its version (MLflow 2.9 has no such endpoint) the registry tries the API where it
is first needed: a server without it answers with a plain 404 page (MLflow's client reports
ENDPOINT_NOT_FOUND, distinct from a JSON RESOURCE_DOES_NOT_EXIST), after which the feature is off
for the rest of the connection and the caller's fallback is used without asking again. The first
try is serialised, so concurrent callers send it once.

Features (and their fallbacks in reconciler.registry.client):
- ``logged_models``: MLflow 3 logged models (`/api/2.0/mlflow/logged-models/search`), which
  `runs:/` sources of MLflow 3 runs resolve to. MLflow 2 servers lack them; a run's model is then
  among the run's own artifacts, registered with its artifact URI and run_id.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
MISSING_ENDPOINT = "ENDPOINT_NOT_FOUND"
FEATURES = ("logged_models",)


def missing_endpoint(e: BaseException) -> bool:
    """The server does not know the endpoint at all (not: the resource is missing)."""
    return getattr(e, "error_code", None) == MISSING_ENDPOINT or "failed with error code 404" in str(e)


class Capabilities:
    def __init__(self) -> None:
        self.known: dict[str, bool] = {}  # feature -> available, once learnt
        self._learning = {feature: threading.Lock() for feature in FEATURES}

    def missing(self) -> list[str]:
        return sorted(f for f, ok in self.known.items() if not ok)

    def attempt(self, feature: str, call: Callable[[], T], fallback: T) -> T:
        """call() while the server may have `feature`; `fallback` once it is known not to."""
        if self.known.get(feature) is False:
            return fallback
        if feature in self.known:
            return call()
        with self._learning[feature]:
            if feature in self.known:  # learnt while we waited
                return self.attempt(feature, call, fallback)
            try:
                result = call()
            except Exception as e:
                if not missing_endpoint(e):
                    raise
                self.known[feature] = False
                return fallback
            self.known[feature] = True
            return result


def equality_filter(name: str) -> str | None:
    """`name = '...'` for servers that refuse `name IN (...)`. Such servers read `=` values by
    trimming the quotes, without escapes: a name holding both quote kinds cannot be written, and
    gets no filter (the caller reads everything and matches names itself)."""
    if "'" not in name:
        return f"name = '{name}'"
    if '"' not in name:
        return f'name = "{name}"'
    return None
