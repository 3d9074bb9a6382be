"""registry.capabilities: a missing API is learnt from the server's first plain 404, then the
fallback is used without asking again; other errors are never taken for a missing API."""

from __future__ import annotations

import threading

import pytest
from mlflow.exceptions import MlflowException, RestException

from reconciler.registry.capabilities import Capabilities

MISSING = "API request to endpoint /api/2.0/mlflow/logged-models/search failed with error code 404 != 200."


class Server:
    """Counts calls; answers like an MLflow 2 server (plain 404) or a 3 server (a result)."""

    def __init__(self, has_api: bool):
        self.has_api = has_api
        self.calls = 0
        self._lock = threading.Lock()

    def search(self):
        with self._lock:
            self.calls += 1
        if not self.has_api:
            raise MlflowException(MISSING, error_code="ENDPOINT_NOT_FOUND")
        return ["m-1"]


def test_a_missing_endpoint_is_asked_once_then_the_fallback_answers():
    caps, server = Capabilities(), Server(has_api=False)
    assert [caps.attempt("logged_models", server.search, fallback=[]) for _ in range(3)] == [[], [], []]
    assert server.calls == 1 and caps.missing() == ["logged_models"]


def test_a_present_endpoint_is_always_called():
    caps, server = Capabilities(), Server(has_api=True)
    assert [caps.attempt("logged_models", server.search, fallback=[]) for _ in range(3)] == [["m-1"]] * 3
    assert server.calls == 3 and caps.known == {"logged_models": True} and caps.missing() == []


def test_concurrent_first_callers_send_the_probe_once():
    caps, server = Capabilities(), Server(has_api=False)
    results = []
    threads = [threading.Thread(target=lambda: results.append(caps.attempt("logged_models", server.search, [])))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [[]] * 8 and server.calls == 1


@pytest.mark.parametrize("error", [
    RestException({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Experiment 7 not found"}),
    MlflowException("API request to endpoint /x failed with error code 500 != 200.", error_code="INTERNAL_ERROR"),
    ConnectionError("refused"),
])
def test_other_errors_are_not_a_missing_api(error):
    caps = Capabilities()

    def fails():
        raise error

    with pytest.raises(type(error)):
        caps.attempt("logged_models", fails, fallback=[])
    assert caps.known == {}  # still unknown: the next call asks again


def test_equality_filter_quotes_what_the_old_readers_can_read():
    from reconciler.registry.capabilities import equality_filter

    assert equality_filter("taxi") == "name = 'taxi'"
    assert equality_filter("o'brien") == 'name = "o\'brien"'
    assert equality_filter("both'\"") is None  # unwritable there: the caller reads every version
