"""A saved plan is untrusted input (issue 9, defects 4, 6 and 8): the published schema
(schemas/plan.v1.json) and the manifest rules refuse it before anything is read or written, with
one clear message whose values are escaped -- never an internal error."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.builders import small_plan

from reconciler.errors import PlanFileError, ReconcilerError
from reconciler.plan.model import Change, Plan
from reconciler.plan.savedfile import load, schema_path


def good() -> dict:
    return small_plan().to_json()


def refusal(doc_or_text) -> str:
    text = doc_or_text if isinstance(doc_or_text, str) else json.dumps(doc_or_text)
    with pytest.raises(PlanFileError) as e:
        load(text, "plan.json")
    message = str(e.value)
    assert "\x1b" not in message and "\r" not in message
    return message


def with_change(**change) -> dict:
    doc = good()
    doc["changes"].append({"version": None, "before": None, "source": "m.yaml:1", **change})
    return doc


def test_a_plan_the_tool_wrote_loads_and_the_schema_is_published():
    assert load(json.dumps(good()), "plan.json").changes == small_plan().changes
    schema = json.loads(schema_path().read_text())
    assert schema["properties"]["format_version"] == {"const": "1"}


@pytest.mark.parametrize("key", ["mlflow.prompt.is_prompt", "mlflow-gitops.manifest", "mlflow.user"])
@pytest.mark.parametrize("action", ["set_model_tag", "delete_model_tag"])
def test_reserved_tags_are_refused(key, action):
    message = refusal(with_change(action=action, model="taxi", key=key, after="true"))
    assert f"plan.json: changes[7].key: tag key '{key}' uses the prefix" in message


def test_reserved_version_tags_and_model_names_are_refused():
    doc = with_change(action="set_version_tag", model="taxi", version="5", key="mlflow-gitops.applied", after="x")
    assert "changes[7].key" in refusal(doc)
    doc = with_change(action="create_model", model="mlflow-gitops.lock.x", after="mlflow-gitops.lock.x")
    assert "changes[7].model: model name 'mlflow-gitops.lock.x' uses the prefix" in refusal(doc)


@pytest.mark.parametrize("mutate, where", [
    (lambda d: d.update(changes=[None]), "plan.changes[0] must be object"),
    (lambda d: d.update(changes="abc"), "plan.changes must be array"),
    (lambda d: d.update(prior_state=["abc"]), "plan.prior_state must be object"),
    (lambda d: d["changes"][0].update(model=5), "plan.changes[0].model must be string"),
    (lambda d: d["changes"][0].update(action="drop_model"), "plan.changes[0].action must be one of"),
    (lambda d: d["changes"][2].update(after="Gone"), "plan.changes[2].after must be one of"),
    (lambda d: d["changes"][2].update(version="5; drop"), "plan.changes[2].version must"),
    (lambda d: d["changes"][5].pop("key"), "plan.changes[5] must contain"),
    (lambda d: d.update(prior_state={"taxi": "sha1:00"}), "plan.prior_state.taxi must match pattern"),
    (lambda d: d.pop("tracking_uri"), "plan must contain"),
])
def test_wrong_shapes_are_one_clear_refusal(mutate, where):
    doc = good()
    mutate(doc)
    message = refusal(doc)
    assert message.startswith("plan.json: ") and where in message, message
    assert "schemas/plan.v1.json" in message


def test_deep_nesting_is_a_refusal_not_a_recursion_error():
    deep = "[" * 100_000 + "]" * 100_000
    assert "nested too deeply" in refusal('{"format_version": "1", "tracking_uri": "x", "changes": ' + deep + "}")
    assert "nested too deeply" in refusal(deep)


def test_escape_codes_in_names_are_refused_and_shown_escaped():
    evil = "evil\x1b[2J\nApply complete! 0 changes"
    message = refusal(with_change(action="set_model_tag", model=evil, key="team", after="x"))
    assert "changes[7].model" in message and "U+001B" in message and "Apply complete!" not in message
    message = refusal(with_change(action="set_model_tag", model="taxi", key="team", after="a\x1b[31mred"))
    assert "changes[7].after" in message and "U+001B" in message


def test_dangling_refs_are_refused():
    doc = with_change(action="set_version_tag", model="taxi", ref="source:s3://elsewhere", key="team", after="x")
    assert "no earlier register_version of 'taxi'" in refusal(doc)


def test_problems_are_capped():
    doc = good()
    doc["changes"] += [{"action": "set_model_tag", "model": "taxi", "key": f"mlflow.x{i}", "after": "1"}
                       for i in range(500)]
    message = refusal(doc)
    assert message.count("\n") < 30 and "... and 480 more problems" in message


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                           max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(path=st.lists(st.sampled_from(["changes", 0, 2, 5, "model", "key", "after", "version", "prior_state", "ref",
                                      "action", "alias", "tracking_uri"]), min_size=1, max_size=3),
       value=json_values)
def test_any_corruption_of_a_plan_loads_or_is_refused_never_crashes(path, value):
    doc = good()
    node = doc
    for step in path[:-1]:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return
    try:
        node[path[-1]] = value
    except (IndexError, TypeError):
        return
    try:
        plan = load(json.dumps(doc), "plan.json")
    except ReconcilerError:
        return
    assert all(isinstance(c, Change) for c in plan.changes)


def test_fifty_thousand_changes_validate_quickly():
    changes = tuple(Change("set_model_tag", f"model_{i // 10}", before=None, after=f"v{i}", key=f"k{i % 10}",
                           source=f"m/{i // 10}.yaml:{i % 10 + 3}") for i in range(50_000))
    plan = Plan(changes=changes, tracking_uri="http://127.0.0.1:5000",
                prior_state={f"model_{j}": "absent" for j in range(5000)})
    text = plan.dumps()
    started = time.perf_counter()
    again = load(text, "plan.json")
    elapsed = time.perf_counter() - started
    assert len(again.changes) == 50_000
    print(f"validated a 50,000-change plan file ({len(text) / 1e6:.1f} MB) in {elapsed:.2f} s")
