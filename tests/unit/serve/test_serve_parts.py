"""serve's pure parts: webhook signatures (checked against MLflow's own signer), metric names,
the status page and backoff."""

from __future__ import annotations

import json
import re

from reconciler.serve.controller import backoff
from reconciler.serve.metrics import Metrics
from reconciler.serve.page import render
from reconciler.serve.status import ERROR, OUT_OF_SYNC, SYNCED, ModelView, View, parse_applied
from reconciler.serve.webhook import Verifier, signature

NOW = 1_800_000_000


def headers(secret: str, body: bytes, delivery: str = "d-1", stamp: int = NOW) -> dict[str, str]:
    return {"X-MLflow-Signature": signature(secret, delivery, str(stamp), body), "X-MLflow-Delivery-Id": delivery,
            "X-MLflow-Timestamp": str(stamp)}


def test_signature_is_mlflows():
    from mlflow.webhooks.delivery import _generate_hmac_signature

    payload = '{"entity": "model_version_alias", "action": "created", "data": {"alias": "champion"}}'
    assert signature("s3cret", "abc", "1700000000", payload.encode()) == \
        _generate_hmac_signature("s3cret", "abc", "1700000000", payload)


def test_verifier_accepts_only_a_fresh_valid_signature():
    body = b'{"entity": "registered_model"}'
    v = Verifier("s3cret", clock=lambda: NOW)
    assert v.verify(headers("s3cret", body), body) is None
    assert "does not match" in v.verify(headers("other", body), body)
    assert "does not match" in v.verify(headers("s3cret", body), body + b" ")
    assert "stale" in v.verify(headers("s3cret", body, stamp=NOW - 301), body)
    assert "stale" in v.verify(headers("s3cret", body, stamp=NOW + 301), body)
    assert v.verify(headers("s3cret", body, stamp=NOW - 299), body) is None
    assert "missing" in v.verify({}, body)
    forged = headers("s3cret", body)
    forged["X-MLflow-Delivery-Id"] = "d-2"  # signature of another delivery
    assert "does not match" in v.verify(forged, body)
    assert "secret" in Verifier(None).verify(headers("s3cret", body), body)


def test_a_delivery_triggers_once():
    v = Verifier("s3cret", clock=lambda: NOW)
    assert v.first_time("d-1", str(NOW))
    assert not v.first_time("d-1", str(NOW))
    assert v.first_time("d-2", str(NOW))


def test_metric_names_of_the_contract_and_forgotten_models():
    m = Metrics()
    m.models(["a", "b"])
    m.model("a", 0)
    m.model("b", 3)
    m.cycles.inc()
    text = m.exposition().decode()
    for line in ('mlflow_gitops_model_in_sync{model="a"} 1.0', 'mlflow_gitops_model_in_sync{model="b"} 0.0',
                 'mlflow_gitops_drifted_fields{model="b"} 3.0', 'mlflow_gitops_heals_total{model="a"} 0.0',
                 "mlflow_gitops_cycles_total 1.0", "mlflow_gitops_cycle_errors_total 0.0",
                 "mlflow_gitops_last_success_timestamp_seconds 0.0"):
        assert line in text.splitlines()
    m.models(["a"])
    assert 'model="b"' not in m.exposition().decode()


def test_backoff_grows_to_the_interval():
    assert [backoff(n, 10) for n in range(6)] == [10, 1, 2, 4, 8, 10]


def test_applied_stamp_parts():
    assert parse_applied("2026-11-27T16:06:15Z by alice, commit 3f2a9c+dirty, run https://ci/1") == {
        "at": "2026-11-27T16:06:15Z", "by": "alice", "commit": "3f2a9c+dirty", "run": "https://ci/1"}
    assert parse_applied("2026-11-27T16:06:15Z commit 3f2a")["commit"] == "3f2a"
    assert parse_applied(None)["at"] is None


def test_page_escapes_and_shows_each_status():
    drift = ({"model": "m<x>", "version": "2", "field": "stage", "git": "Production", "live": "Archived"},)
    view = View(tracking_uri="http://h", interval=60, self_heal=False, started="t", models=(
        ModelView("m<x>", OUT_OF_SYNC, drift=drift, last_applied="2026-11-27T16:06:15Z by bob, commit abcdef1234567"),
        ModelView("ok", SYNCED), ModelView("bad", ERROR, error="registry down")))
    html = render(view)
    assert "<x>" not in html and "m&lt;x&gt;" in html
    assert re.search(r'data-status="out_of_sync".*v2 stage.*Production.*Archived.*abcdef123456.*by bob', html, re.S)
    assert "registry down" in html and "<script" not in html
    assert 'name="viewport"' in html


def test_a_broken_manifest_fails_the_cycle_not_the_process(tmp_path):
    from reconciler.serve.controller import Controller, Options
    from reconciler.target import Target

    (tmp_path / "m.yaml").write_text("apiVersion: mlflow-gitops/v1\nkind: RegisteredModel\nname: [oops]\n")
    target = Target("http://u:pw-secret-1@127.0.0.1:9", "http://u:pw-secret-1@127.0.0.1:9")
    c = Controller([str(tmp_path)], target, Options(interval=5), say=lambda _: None,
                   registry_factory=lambda _: (_ for _ in ()).throw(AssertionError("registry read")))
    outcome = c.cycle()
    assert not outcome.ok and "m.yaml:3:" in outcome.error
    assert c.failures == 1 and not c.view.healthy and c.view.cycle_errors == 1
    assert c.metrics.exposition().decode().count("mlflow_gitops_cycle_errors_total 1.0") == 1


def test_notifications_and_events_once_per_transition(tmp_path):
    from support.memregistry import MemoryRegistry

    from reconciler.serve.controller import Controller, Options
    from reconciler.target import Target

    (tmp_path / "m.yaml").write_text("apiVersion: mlflow-gitops/v1\nkind: RegisteredModel\nname: m\n"
                                     "tags: {team: mlops}\n")
    registry = MemoryRegistry([{"name": "m", "description": "", "tags": {"team": "mlops"}, "aliases": {},
                                "versions": []}])
    events = tmp_path / "events.jsonl"
    c = Controller([str(tmp_path)], Target("memory://", "memory://"), Options(interval=5, events=str(events)),
                   say=lambda _: None, registry_factory=lambda _: registry)
    posted: list[dict] = []
    c.outbox.post = posted.append
    assert c.cycle().ok and not posted
    registry.set_model_tag("m", "team", "by-hand")
    for _ in range(3):
        outcome = c.cycle()
        assert outcome.ok and outcome.drift_left
    assert [p["event"] for p in posted] == ["out_of_sync"] and "`m`" in posted[0]["text"]
    assert registry.writes == 1  # only the hand change: without self-heal nothing is written
    registry.set_model_tag("m", "team", "mlops")
    assert not c.cycle().drift_left
    registry.set_model_tag("m", "team", "again")
    c.cycle()
    assert [p["event"] for p in posted] == ["out_of_sync", "out_of_sync"]
    kinds = [json.loads(line)["event"] for line in events.read_text().splitlines()]
    assert kinds == ["drift", "in_sync", "drift"]
    m = c.view.to_json()["models"][0]
    assert m["status"] == "out_of_sync" and m["drift"][0]["live"] == "again"
