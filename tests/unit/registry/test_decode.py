"""reconciler.registry.decode: MLflow's REST JSON and entity objects decode to the same snapshot
data, without a server (and without importing mlflow)."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace as NS

from reconciler.registry import decode
from reconciler.registry.snapshot import LiveVersion

AUDIT = decode.AUDIT_TAG_PREFIX + "applied"


def test_a_model_from_rest_json_and_from_an_entity_is_the_same_row():
    doc = {
        "name": "m", "description": "d", "last_updated_timestamp": "1700000000000",
        "tags": [{"key": "team", "value": "a"}, {"key": "mlflow.x", "value": "y"}, {"key": "empty"}],
        "aliases": [{"alias": "champion", "version": 3}],
    }  # fmt: skip
    entity = NS(name="m", description="d", last_updated_timestamp=1700000000000,
                tags={"team": "a", "mlflow.x": "y", "empty": ""}, aliases={"champion": 3})
    row = decode.model_from_json(doc)
    assert row == decode.model_from_entity(entity)
    assert row == {"name": "m", "description": "d", "tags": {"team": "a", "mlflow.x": "y", "empty": ""},
                   "aliases": {"champion": "3"}, "last_updated_timestamp": 1700000000000}


def test_missing_fields_of_a_model_take_their_defaults():
    assert decode.model_from_json({"name": "m"}) == {
        "name": "m", "description": "", "tags": {}, "aliases": {}, "last_updated_timestamp": None,
    }  # fmt: skip
    entity = NS(name="m", description=None, last_updated_timestamp=None, tags=None, aliases=None)
    assert decode.model_from_entity(entity) == decode.model_from_json({"name": "m"})


def test_a_version_keeps_user_tags_apart_from_mlflow_and_audit_tags():
    doc = {
        "name": "m", "version": "2", "current_stage": "Production", "description": "", "run_id": "r1",
        "source": "runs:/r1/model", "status": "READY", "user_id": "alice", "last_updated_timestamp": 5,
        "tags": [{"key": "k", "value": "v"}, {"key": "mlflow.source", "value": "x"}, {"key": AUDIT, "value": "c1"}],
    }  # fmt: skip
    entity = NS(name="m", version=2, current_stage="Production", description="", run_id="r1",
                source="runs:/r1/model", status="READY", user_id="alice", last_updated_timestamp=5,
                tags={"k": "v", "mlflow.source": "x", AUDIT: "c1"})
    expected = ("m", LiveVersion(version="2", stage="Production", tags={"k": "v"}, run_id="r1",
                                 source="runs:/r1/model", user_id="alice", last_updated_timestamp=5,
                                 audit={AUDIT: "c1"}))
    assert decode.version_from_json(doc) == expected
    assert decode.version_from_entity(entity) == expected


def test_empty_version_fields_read_as_mlflow_defaults():
    name, v = decode.version_from_json({"name": "m", "version": 1, "run_id": "", "source": ""})
    assert (name, v) == ("m", LiveVersion(version="1", stage="None", status="READY"))


def test_a_run_from_rest_json_and_from_an_entity():
    doc = {"info": {"run_uuid": "r1", "experiment_id": 7, "status": "FINISHED", "start_time": "12"},
           "data": {"metrics": [{"key": "rmse", "value": 0.5}, {"key": "nan"}],
                    "params": [{"key": "lr", "value": "0.1"}, {"key": "empty"}]}}
    run = decode.run_from_json(doc)
    assert (run.run_id, run.experiment_id, run.status, run.lifecycle_stage) == ("r1", "7", "FINISHED", "active")
    assert run.metrics == {"rmse": 0.5} and run.params == {"lr": "0.1", "empty": ""} and run.start_time == 12
    entity = NS(info=NS(run_id="r1", experiment_id=7, status="FINISHED", lifecycle_stage="active", start_time=12),
                data=NS(metrics={"rmse": 0.5}, params={"lr": "0.1", "empty": ""}))
    assert decode.run_from_entity(entity) == run


def test_live_models_leave_out_prompts_and_our_own_models_and_unwanted_names():
    row = decode.model_from_json
    models = [
        row({"name": "a", "tags": [{"key": "t", "value": "1"}, {"key": AUDIT, "value": "c"}]}),
        row({"name": "p", "tags": [{"key": decode.PROMPT_TAG, "value": "false"}]}),  # any value: a prompt
        row({"name": decode.RESERVED_MODEL_PREFIX + "lock"}),
        row({"name": "other"}),
    ]
    versions = [("a", LiveVersion(version="1")), ("a", LiveVersion(version="2")), ("p", LiveVersion(version="1"))]
    live, prompts = decode.live_models(models, versions, {"a", "p", decode.RESERVED_MODEL_PREFIX + "lock"})
    assert list(live) == ["a"] and prompts == frozenset({"p"})
    assert live["a"].tags == {"t": "1"} and live["a"].audit == {AUDIT: "c"}
    assert sorted(live["a"].versions) == ["1", "2"]
    everything, _ = decode.live_models(models, versions, None)
    assert list(everything) == ["a", "other"]


def test_decoding_imports_no_mlflow():
    code = "import sys, reconciler.registry.decode; print('mlflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
