"""Retry policy: which failures are retried, how often, within which deadline, and how a call that
must not be repeated blindly (creating a version) is recovered. No real sleeping: backoffs are 0
and the deadline's clock is a counter."""

from __future__ import annotations

import errno
import socket

import pytest
import requests
import urllib3.exceptions as u3

from reconciler.registry import retry


@pytest.fixture(autouse=True)
def fast_policy():
    retry.configure(timeout=None, policy=retry.Policy(retries=3, backoff=0, jitter=0))
    yield
    retry.configure(timeout=None, policy=retry.Policy())


def mlflow_wrapped(inner: BaseException) -> Exception:
    """What MLflow's http_request raises: a new exception whose context is the requests error."""
    try:
        try:
            raise inner
        except Exception as e:
            raise RuntimeError(f"API request to http://h/x failed with exception {e}")  # noqa: B904
    except RuntimeError as outer:
        return outer


def refused() -> Exception:
    cause = u3.NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    os_error = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
    cause.__context__ = os_error
    return mlflow_wrapped(requests.exceptions.ConnectionError(u3.MaxRetryError(None, "/x", cause)))


def dropped() -> Exception:
    inner = u3.ProtocolError("Connection aborted.", ConnectionResetError(errno.ECONNRESET, "reset"))
    return mlflow_wrapped(requests.exceptions.ConnectionError(inner))


def http_error(status: int, retry_after: str | None = None) -> Exception:
    """What MLflow's RestStore raises for an error answer; the status is what the adapter saw."""
    from mlflow.exceptions import MlflowException

    retry.record_response(status, retry_after)
    return MlflowException(f"API request failed with error code {status}")


# ---- classification


def test_connection_refused_was_not_sent():
    fault = retry.classify(refused())
    assert fault == retry.Fault("connection refused", maybe_applied=False)


def test_a_dropped_connection_may_have_been_applied():
    fault = retry.classify(dropped())
    assert fault is not None and fault.maybe_applied


def test_read_timeout_may_have_been_applied_and_connect_timeout_not():
    assert retry.classify(mlflow_wrapped(requests.exceptions.ReadTimeout("read timed out"))).maybe_applied
    connect = retry.classify(mlflow_wrapped(requests.exceptions.ConnectTimeout("connect timed out")))
    assert connect is not None and not connect.maybe_applied


def test_dns_failure_is_transient_but_not_applied():
    fault = retry.classify(mlflow_wrapped(socket.gaierror(-2, "Name or service not known")))
    assert fault is not None and not fault.maybe_applied


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_statuses(status):
    fault = retry.classify(http_error(status))
    assert fault is not None and fault.reason.startswith(f"HTTP {status}")
    assert fault.maybe_applied == (status not in (408, 429))


def test_the_servers_own_words_are_kept_but_not_mlflows_wrapping():
    from mlflow.exceptions import MlflowException

    assert retry._detail(MlflowException("INTERNAL_ERROR: database is locked")) == "INTERNAL_ERROR: database is locked"
    assert retry._detail(MlflowException("API request to endpoint /x failed with error code 503 != 200")) == ""


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409])
def test_client_errors_are_final(status):
    assert retry.classify(http_error(status)) is None


def test_retry_after_is_honoured_within_the_cap():
    assert retry.classify(http_error(503, "2")).retry_after == 2.0
    assert retry.Policy().delay(1, retry.classify(http_error(429, "600"))) == retry.MAX_BACKOFF
    assert retry.classify(http_error(503, "Wed, 21 Oct 2015 07:28:00 GMT")).retry_after is None


def test_tls_errors_and_our_own_errors_are_final():
    assert retry.classify(mlflow_wrapped(requests.exceptions.SSLError("bad certificate"))) is None
    assert retry.classify(retry.DeadlineExceeded("x")) is None
    retry.record_response(503)
    assert retry.classify(ValueError("a bug, not an answer of the server")) is None


def test_backoff_grows_with_jitter_and_is_capped():
    p = retry.Policy(retries=5, backoff=0.5, jitter=0.5)
    fault = retry.Fault("x", False)
    for n, base in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0)]:
        assert base <= p.delay(n, fault) <= base + 0.5
    assert p.delay(10, fault) <= retry.MAX_BACKOFF + 0.5


def test_policy_reads_its_own_variables():
    p = retry.Policy.from_env({"MLFLOW_GITOPS_HTTP_MAX_RETRIES": "1", "MLFLOW_GITOPS_HTTP_BACKOFF_FACTOR": "0.5",
                               "MLFLOW_GITOPS_HTTP_TIMEOUT": "10"})
    assert (p.retries, p.backoff, p.request_timeout) == (1, 0.5, 10)
    assert retry.Policy.from_env({}) == retry.Policy()
    # MLflow's own variables are MLflow's: not read as the tool's policy
    assert retry.Policy.from_env({"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "9"}) == retry.Policy()


@pytest.mark.parametrize("name, value", [
    ("MLFLOW_GITOPS_HTTP_MAX_RETRIES", "7000"), ("MLFLOW_GITOPS_HTTP_MAX_RETRIES", "1.5"),
    ("MLFLOW_GITOPS_HTTP_TIMEOUT", "nan"), ("MLFLOW_GITOPS_HTTP_BACKOFF_FACTOR", "abc"),
    ("MLFLOW_GITOPS_HTTP_BACKOFF_JITTER", "-1"), ("MLFLOW_GITOPS_HTTP_BACKOFF_FACTOR", "1e300"),
])
def test_a_bad_value_of_the_tools_variables_is_a_clear_error(name, value):
    with pytest.raises(retry.ConfigError, match=f"^{name} must be a"):
        retry.Policy.from_env({name: value})


# ---- the loop


class Flaky:
    def __init__(self, *failures, result="ok"):
        self.failures = list(failures)
        self.calls = 0
        self.result = result

    def __call__(self):
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)()
        return self.result


def test_transient_failures_are_retried_until_success():
    fn = Flaky(refused, dropped, lambda: http_error(503))
    notes = []
    assert retry.call(fn, "reading", on_retry=notes.append) == "ok"
    assert fn.calls == 4
    assert len(notes) == 3 and "retry 1/3" in notes[0]


def test_gives_up_after_the_retries_with_one_line_naming_the_fault():
    fn = Flaky(*[refused] * 10)
    with pytest.raises(retry.GaveUp) as e:
        retry.call(fn, "reading")
    assert fn.calls == 4
    assert str(e.value).startswith("connection refused (4 attempts in ")
    assert "\n" not in str(e.value)


def test_final_errors_are_not_retried():
    fn = Flaky(lambda: http_error(403))
    with pytest.raises(Exception, match="error code 403"):
        retry.call(fn, "writing")
    assert fn.calls == 1


def test_non_idempotent_call_is_recovered_not_repeated():
    fn = Flaky(dropped, result="2")
    recovered = []

    def recover():
        recovered.append(True)
        return "7"  # the first attempt did register: version 7

    assert retry.call(fn, "register", idempotent=False, recover=recover) == "7"
    assert fn.calls == 1 and recovered == [True]


def test_non_idempotent_call_is_repeated_when_recover_finds_nothing():
    fn = Flaky(dropped, result="2")
    assert retry.call(fn, "register", idempotent=False, recover=lambda: None) == "2"
    assert fn.calls == 2


def test_non_idempotent_call_is_repeated_when_the_request_was_never_sent():
    fn = Flaky(refused, result="2")
    assert retry.call(fn, "register", idempotent=False) == "2"
    assert fn.calls == 2


def test_non_idempotent_call_without_recover_is_not_repeated_after_a_drop():
    fn = Flaky(dropped)
    with pytest.raises(retry.GaveUp, match="not retried, as it may have been made"):
        retry.call(fn, "register", idempotent=False)
    assert fn.calls == 1


def test_when_the_check_itself_fails_the_message_says_it_may_have_been_made():
    fn = Flaky(dropped)
    with pytest.raises(retry.GaveUp) as e:
        retry.call(fn, "register", idempotent=False, recover=Flaky(*[refused] * 10))
    assert str(e.value).startswith("connection refused (5 attempts in ")
    assert str(e.value).endswith("it may have been made before the connection was lost: run plan to see")
    assert fn.calls == 1


def test_no_attempt_after_the_deadline():
    now = [0.0]
    retry._deadline = retry.Deadline(5, clock=lambda: now[0])

    def slow_failure():
        now[0] += 6
        raise refused()

    with pytest.raises(retry.GaveUp):  # the next pause would end after the deadline
        retry.call(Flaky(slow_failure, slow_failure), "reading")
    with pytest.raises(retry.DeadlineExceeded, match=r"timed out \(--timeout 5 s\)"):
        retry.call(lambda: "never", "reading")


def test_grace_gives_clean_up_a_fresh_deadline():
    retry._deadline = retry.Deadline(5, clock=lambda: 100.0)
    retry._deadline.remaining()
    retry._deadline.end = 0  # long expired
    with retry.grace(10):
        assert retry.call(lambda: "released", "release") == "released"
    assert retry.deadline().expired()


def test_deadline_without_limit():
    d = retry.Deadline(None)
    assert not d.expired() and d.remaining() == float("inf")
    assert retry.Deadline(0).seconds is None  # --timeout 0: no limit


def test_the_deadline_starts_with_the_first_registry_call():
    now = [0.0]
    d = retry.Deadline(5, clock=lambda: now[0])
    now[0] = 100.0  # start-up (importing MLflow, parsing manifests) is not counted
    assert d.remaining() == 5
    now[0] = 106.0
    assert d.expired()


def test_retry_after_sets_the_pause_and_the_verbose_note(monkeypatch):
    slept = []
    monkeypatch.setattr(retry, "wait", lambda seconds, what: slept.append(seconds))
    notes = []
    fn = Flaky(lambda: http_error(429, "3"), lambda: http_error(503))
    assert retry.call(fn, "reading", on_retry=notes.append) == "ok"
    assert slept == [3.0, 0.0]  # Retry-After first, then the (zero) backoff of this test's policy
    assert notes[0] == "reading: HTTP 429 Too Many Requests; retry 1/3 in 3.0 s"
