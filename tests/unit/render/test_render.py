import json

from support.builders import small_plan

from reconciler.plan.model import Change, Plan
from reconciler.render import RENDERERS, render
from reconciler.render.plan.markdown import COMMENT_LIMIT


def test_text_is_one_line_per_change_with_marks_and_summary():
    assert render("text", small_plan()) == (
        "Registry: http://mlflow.internal:5000\n"
        "\n"
        "  + taxi: create registered model  (m/taxi.yaml:3)\n"
        "  + taxi new#1: register new version from s3://b/7  (m/taxi.yaml:20)\n"
        "  ~ taxi v5: stage Staging -> Production  (m/taxi.yaml:9)\n"
        "  ~ taxi v5: alias @champion: v4 -> v5  (m/taxi.yaml:10)\n"
        "  - taxi v3: delete alias @old (was v3) [policy prune_aliases: true]  (m/taxi.yaml:7)\n"
        '  + taxi: tag team = "mlops"  (m/taxi.yaml:5)\n'
        '  ~ taxi v5: description: "" -> "line1\\nsaid \\"hi\\""  (m/taxi.yaml:11)\n'
        "\n"
        "Plan: 7 changes: 3 to add, 3 to change, 1 to destroy.\n"
    )


def test_text_no_changes():
    assert render("text", Plan(changes=(), tracking_uri="sqlite:///mlflow.db")) == (
        "Registry: sqlite:///mlflow.db\n\nNo changes. The registry matches the manifests.\n"
    )


def test_json_has_the_spec_shape_and_round_trips():
    doc = json.loads(render("json", small_plan()))
    assert doc["format_version"] == "1"
    assert doc["tracking_uri"] == "http://mlflow.internal:5000"
    assert doc["summary"]["changes"] == 7
    assert doc["changes"][2] == {
        "action": "transition_stage", "model": "taxi", "version": "5", "before": "Staging",
        "after": "Production", "source": "m/taxi.yaml:9",
    }
    assert doc["changes"][3]["alias"] == "champion"
    assert doc["changes"][5]["key"] == "team"
    assert doc["changes"][1]["version"] is None
    again = Plan.loads(json.dumps(doc), "plan.json")
    assert again.changes == small_plan().changes
    assert again.prior_state == {"taxi": "absent"}


def test_markdown_table_exact_for_a_small_plan():
    plan = Plan(tracking_uri="sqlite:///mlflow.db", changes=(
        Change("transition_stage", "taxi", "5", before="Staging", after="Production", source="a.yaml:9"),
        Change("set_model_tag", "taxi", before="x|y", after="z", key="team", source="a.yaml:4"),
    ))
    assert render("markdown", plan) == (
        "### mlflow-gitops plan\n\n"
        "Registry: `sqlite:///mlflow.db`\n\n"
        "**Plan: 2 changes: 0 to add, 2 to change, 0 to destroy.**\n\n"
        "| | Model | Version | Change | Manifest |\n"
        "|---|---|---|---|---|\n"
        "| 🔄 | `taxi` | v5 | stage Staging -> Production | `a.yaml:9` |\n"
        '| 🔄 | `taxi` |  | tag team: "x\\|y" -> "z" | `a.yaml:4` |\n'
    )


def test_markdown_collapses_long_plans_and_stays_under_the_comment_limit():
    changes = tuple(
        Change("set_model_tag", f"model_{i:05d}", after="v" * 50, key="k" * 40, source=f"x/{i}.yaml:1")
        for i in range(5000)
    )
    text = render("markdown", Plan(changes=changes, tracking_uri="sqlite:///mlflow.db"))
    assert len(text) < COMMENT_LIMIT
    assert "<details><summary>Show 5000 changes</summary>" in text
    assert "more changes not shown" in text


def test_every_format_is_registered():
    assert set(RENDERERS) == {"text", "json", "markdown"}
