"""Manifest loading and validation: YAML safety, the JSON Schema, semantic rules, file discovery.

Every input error must be reported as FILE:LINE:COLUMN, so most tests assert the exact location.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from reconciler.errors import InputError, Location
from reconciler.manifest import schema as schema_mod
from reconciler.manifest.desired import Policy, Selector
from reconciler.manifest.load import discover, load_tree
from reconciler.manifest.yamlsrc import MAX_FILE_BYTES, parse_text

REPO_ROOT = Path(__file__).resolve().parents[3]

HEADER = "apiVersion: mlflow-gitops/v1\nkind: RegisteredModel\n"


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """Write files under a temp dir that is also the cwd, so locations use short relative names."""
    monkeypatch.chdir(tmp_path)

    def write(name: str, text: str | bytes) -> str:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(textwrap.dedent(text), encoding="utf-8")
        return name

    return write


def errors(*paths: str) -> list[str]:
    with pytest.raises(InputError) as info:
        load_tree(list(paths))
    return info.value.messages()


def only_error(*paths: str) -> str:
    messages = errors(*paths)
    assert len(messages) == 1, messages
    return messages[0]


def model(body: str) -> str:
    return HEADER + textwrap.dedent(body)


# ---- a valid tree ------------------------------------------------------------------------------


def test_valid_multi_document_file_loads_into_desired_state(tree):
    tree(
        "manifests/models.yaml",
        model(
            """\
            name: zeta
            description: Uploaded 2026-11-20
            tags:
              team: mlops
              "owner email": a@b.c
              off: no
            policy:
              unmanaged_versions: archive
              prune_tags: true
            versions:
              - version: 5
                stage: Production
                aliases: [champion, blue-1]
                description: ""
                tags: {validated: "true"}
              - version: "3"
                stage: None
              - run_id: 0a1b2c3d4e5f
                stage: Staging
              - run_id: 0a1b2c3d4e5f
                artifact_path: other
              - source: s3://bucket/models/taxi/7
            ---
            """
        )
        + "---\n"
        + model("name: alpha\n"),
    )
    state = load_tree(["manifests/"])
    assert state.names == ["alpha", "zeta"]
    assert state.files == ("manifests/models.yaml",)
    alpha, zeta = state.models
    assert alpha.location == Location("manifests/models.yaml", 27, 1)
    assert (alpha.description, alpha.tags, alpha.policy, alpha.versions) == (None, {}, Policy(), ())

    assert zeta.location == Location("manifests/models.yaml", 1, 1)
    assert zeta.description == "Uploaded 2026-11-20"  # a date-like value stays text
    assert zeta.tags == {"team": "mlops", "owner email": "a@b.c", "off": "no"}  # YAML 1.2: no/off are strings
    assert zeta.policy == Policy(unmanaged_versions="archive", prune_aliases=False, prune_tags=True)
    assert zeta.loc("description") == Location("manifests/models.yaml", 4, 1)
    assert zeta.loc("tags.owner email") == Location("manifests/models.yaml", 7, 3)

    v5, v3, run, run_other, source = zeta.versions
    assert v5.selector == Selector(version="5")
    assert v5.location == Location("manifests/models.yaml", 13, 5)
    assert (v5.stage, v5.aliases, v5.description, v5.tags) == ("Production", ("champion", "blue-1"), "", {"validated": "true"})
    assert v5.loc("stage") == Location("manifests/models.yaml", 14, 5)
    assert v5.loc("aliases.blue-1") == Location("manifests/models.yaml", 15, 25)
    assert v5.loc("tags.validated") == Location("manifests/models.yaml", 17, 12)
    assert v3.selector == Selector(version="3") and v3.stage == "None"
    assert run.selector == Selector(run_id="0a1b2c3d4e5f", artifact_path="model")
    assert run.selector.register_uri == "runs:/0a1b2c3d4e5f/model"
    assert run_other.selector.artifact_path == "other" and run_other.stage is None
    assert source.selector == Selector(source="s3://bucket/models/taxi/7")
    assert source.loc("stage") == source.location  # unmanaged fields fall back to the item


def test_example_manifests_are_valid():
    # one tree per registry (manifests/examples, manifests/staging, ...): each is valid on its own
    trees = sorted(p for p in (REPO_ROOT / "manifests").iterdir() if p.is_dir())
    assert trees
    for tree in trees:
        assert load_tree([str(tree)]).models, tree


# ---- the schema file ---------------------------------------------------------------------------


def test_schema_is_valid_draft_2020_12_with_id_and_help_everywhere():
    schema = json.loads((REPO_ROOT / "schemas" / "manifest.v1.json").read_text())
    Draft202012Validator.check_schema(schema)
    assert schema["$id"].endswith("/manifest.v1.json")
    assert schema_mod.load_schema() == schema

    def walk(node, where):
        if isinstance(node, dict):
            if node.get("type") == "object" or "properties" in node:
                assert node.get("additionalProperties") is not None, where
            for name, sub in node.get("properties", {}).items():
                assert sub.get("title") and sub.get("description"), f"{where}.{name}"
            for key, sub in node.items():
                walk(sub, f"{where}/{key}")
        elif isinstance(node, list):
            for i, sub in enumerate(node):
                walk(sub, f"{where}/{i}")

    walk(schema, "#")


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        ["None", "Production", "Archived", "ignore", "archive", "mlflow-gitops/v1", "RegisteredModel", "",
         "5", "05", "0", "champion", "bad alias", "abc\n", "model", "x" * 5001]
    ),
    st.text(max_size=4),
)
VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=3),
    st.dictionaries(st.sampled_from(["a", "b", "c"]), SCALARS, max_size=2),
)
VERSION_KEYS = ["version", "run_id", "artifact_path", "source", "stage", "aliases", "description", "tags", "x"]
VERSION_ITEMS = st.one_of(SCALARS, st.dictionaries(st.sampled_from(VERSION_KEYS), VALUES, max_size=5))
DOCS = st.dictionaries(
    st.sampled_from(["apiVersion", "kind", "name", "description", "tags", "policy", "versions", "x"]),
    st.one_of(
        VALUES,
        st.lists(VERSION_ITEMS, max_size=3),
        st.dictionaries(st.sampled_from(["unmanaged_versions", "prune_aliases", "prune_tags", "y"]), SCALARS, max_size=3),
    ),
    max_size=7,
)


TAGS = st.dictionaries(st.text(max_size=3), st.one_of(st.text(max_size=3), st.sampled_from([1, "x" * 5001])), max_size=2)
NEAR_VALID_VERSION = st.fixed_dictionaries(
    {},
    optional={
        "version": st.sampled_from([1, 5, 5.0, "7", "07", 0, True]),
        "run_id": st.sampled_from(["r1", ""]),
        "artifact_path": st.just("model"),
        "source": st.just("s3://b/m"),
        "stage": st.sampled_from(["None", "Staging", "Production", "Archived", "prod", None]),
        "aliases": st.lists(st.sampled_from(["champion", "b", "bad alias", "x\n", 1]), max_size=3),
        "description": st.sampled_from(["", "d", "d" * 5001]),
        "tags": TAGS,
    },
)
NEAR_VALID = st.fixed_dictionaries(
    {
        "apiVersion": st.sampled_from(["mlflow-gitops/v1", "mlflow-gitops/v1", "v2"]),
        "kind": st.just("RegisteredModel"),
        "name": st.sampled_from(["m", "", 1]),
    },
    optional={
        "description": st.sampled_from(["", "d", None]),
        "tags": TAGS,
        "policy": st.fixed_dictionaries(
            {},
            optional={
                "unmanaged_versions": st.sampled_from(["ignore", "archive", "x"]),
                "prune_aliases": st.sampled_from([True, False, "yes", 0]),
                "prune_tags": st.booleans(),
            },
        ),
        "versions": st.lists(NEAR_VALID_VERSION, max_size=3),
    },
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(DOCS, NEAR_VALID))
def test_fast_checker_agrees_with_jsonschema(doc):
    # the fast path decides validity for valid documents; it must never disagree with jsonschema
    fast = schema_mod._fast_check()
    assert fast is not None
    assert fast(doc) == schema_mod.validator().is_valid(doc)


def test_valid_documents_do_not_import_jsonschema(tmp_path):
    (tmp_path / "m.yaml").write_text(model("name: a\nversions:\n  - version: 1\n    stage: Production\n"))
    code = "import sys, reconciler.manifest.load as m; m.load_tree([sys.argv[1]]); assert 'jsonschema' not in sys.modules"
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, cwd=REPO_ROOT)


def test_importing_manifest_does_not_import_mlflow():
    code = "import reconciler.manifest.load, sys; assert 'mlflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)


# ---- schema errors -----------------------------------------------------------------------------


def test_unknown_key_points_at_the_key(tree):
    tree("m.yaml", model("name: m\nversions:\n  - version: 1\n    stagee: Production\n"))
    message = only_error("m.yaml")
    assert message.startswith("m.yaml:6:5: versions[0]: unknown key 'stagee'; did you mean 'stage'? (allowed: version,")


def test_unknown_top_level_key(tree):
    tree("m.yaml", model("name: m\nowner: me\n"))
    assert only_error("m.yaml").startswith("m.yaml:4:1: unknown key 'owner' (allowed: apiVersion, kind, name,")


def test_stage_not_in_enum(tree):
    tree("m.yaml", model("name: m\nversions:\n  - version: 1\n    stage: Prod\n"))
    assert only_error("m.yaml") == (
        "m.yaml:6:12: versions[0].stage: 'Prod' is not one of 'None', 'Staging', 'Production', 'Archived'; "
        "did you mean 'Production'?"
    )


def test_stage_null_must_be_a_string(tree):
    tree("m.yaml", model("name: m\nversions:\n  - version: 1\n    stage: null\n"))
    assert only_error("m.yaml") == (
        "m.yaml:6:12: versions[0].stage: expected one of 'None', 'Staging', 'Production', 'Archived', got null"
    )


def test_version_needs_a_selector(tree):
    tree("m.yaml", model("name: m\nversions:\n  - version: 1\n  - stage: Staging\n"))
    assert only_error("m.yaml") == "m.yaml:6:5: versions[1]: exactly one of version, run_id, source is required"


def test_version_with_two_selectors(tree):
    tree("m.yaml", model("name: m\nversions:\n  - version: 1\n    source: s3://b/m\n"))
    assert only_error("m.yaml") == (
        "m.yaml:6:5: versions[0]: exactly one of version, run_id, source is required, found version and source"
    )


def test_artifact_path_only_with_run_id(tree):
    tree("m.yaml", model("name: m\nversions:\n  - source: s3://b/m\n    artifact_path: model\n"))
    assert only_error("m.yaml") == "m.yaml:6:5: versions[0]: artifact_path is only allowed with run_id"


@pytest.mark.parametrize(
    ("value", "column", "message"),
    [
        ("0", 14, "versions[0].version: must be at least 1, got 0"),
        ("'05'", 14, "versions[0].version: '05' is not valid: a version number is 1, 2, 3, ..."),
        ("1.5", 14, "versions[0].version: expected an integer or a string, got the number 1.5"),
    ],
)
def test_bad_version_number(tree, value, column, message):
    tree("m.yaml", model(f"name: m\nversions:\n  - version: {value}\n"))
    assert only_error("m.yaml") == f"m.yaml:5:{column}: {message}"


def test_version_number_as_int_or_string_is_normalised(tree):
    tree("m.yaml", model("name: m\nversions:\n  - version: 7\n  - version: '8'\n"))
    assert [v.selector.version for v in load_tree(["m.yaml"]).models[0].versions] == ["7", "8"]


def test_tag_value_must_be_a_string_with_a_quoting_hint(tree):
    tree("m.yaml", model("name: m\ntags:\n  rank: 1\n"))
    assert only_error("m.yaml") == (
        "m.yaml:5:9: tags.rank: expected a string, got the number 1; put the value in quotes to make it a string"
    )


def test_policy_boolean_does_not_accept_yes(tree):
    tree("m.yaml", model("name: m\npolicy:\n  prune_tags: yes\n"))
    assert only_error("m.yaml") == "m.yaml:5:15: policy.prune_tags: expected a boolean (true or false), got the string 'yes'"


def test_missing_required_key_points_at_the_document(tree):
    tree("m.yaml", "# comment\nkind: RegisteredModel\nname: m\n")
    assert only_error("m.yaml") == "m.yaml:2:1: missing required key 'apiVersion'"


def test_wrong_api_version(tree):
    tree("m.yaml", "apiVersion: mlflow-gitops/v2\nkind: RegisteredModel\nname: m\n")
    assert only_error("m.yaml") == "m.yaml:1:13: apiVersion: must be 'mlflow-gitops/v1', got the string 'mlflow-gitops/v2'"


def test_empty_name(tree):
    tree("m.yaml", model("name: ''\n"))
    assert only_error("m.yaml") == "m.yaml:3:7: name: must not be empty"


def test_description_too_long(tree):
    tree("m.yaml", model(f"name: m\ndescription: {'d' * 5001}\n"))
    assert only_error("m.yaml") == "m.yaml:4:14: description: is too long (5001 characters; at most 5000)"


def test_tag_value_too_long(tree):
    tree("m.yaml", model(f"name: m\nversions:\n  - version: 1\n    tags:\n      k: {'v' * 5001}\n"))
    assert only_error("m.yaml") == "m.yaml:7:10: versions[0].tags.k: is too long (5001 characters; at most 5000)"


def test_alias_listed_twice_in_one_version(tree):
    tree("m.yaml", model("name: m\nversions:\n  - version: 1\n    aliases:\n      - a\n      - a\n"))
    assert only_error("m.yaml") == "m.yaml:8:9: versions[0].aliases: 'a' is listed twice (first at line 7)"


def test_every_problem_is_reported_sorted_by_position(tree):
    tree("b.yaml", model("name: b\nversions:\n  - version: 1\n    stage: Prod\n    x: 1\n"))
    tree("a.yaml", model("name: a\ntags: {k: 1}\n"))
    messages = errors(".")
    assert [m.split(": ")[0] for m in messages] == ["a.yaml:4:11", "b.yaml:6:12", "b.yaml:7:5"]


# ---- semantic rules ----------------------------------------------------------------------------


def test_same_model_twice_in_one_file(tree):
    tree("m.yaml", model("name: m\n") + "---\n" + model("name: m\n"))
    assert only_error("m.yaml") == "m.yaml:7:7: model 'm' is already declared at m.yaml:3"


def test_same_model_in_two_files(tree):
    tree("dir/a.yaml", model("name: m\n"))
    tree("dir/b.yml", "# second\n" + model("name: m\n"))
    assert only_error("dir") == "dir/b.yml:4:7: model 'm' is already declared at dir/a.yaml:3"


def test_alias_on_two_versions(tree):
    tree(
        "m.yaml",
        model("name: m\nversions:\n  - version: 1\n    aliases: [champion]\n  - version: 2\n    aliases: [x, champion]\n"),
    )
    assert only_error("m.yaml") == (
        "m.yaml:8:18: versions[1].aliases: alias 'champion' is already carried by versions[0] (line 5); "
        "an alias can point at one version only"
    )


@pytest.mark.parametrize(
    ("alias", "message"),
    [
        ("latest", "alias 'latest' is reserved by MLflow ('latest', in any case, means the newest version)"),
        ("LaTeSt", "alias 'LaTeSt' is reserved by MLflow ('latest', in any case, means the newest version)"),
        ("v3", "alias 'v3' is reserved by MLflow (v<digits> means version 3)"),
        ("V12", "alias 'V12' is reserved by MLflow (v<digits> means version 12)"),
    ],
)
def test_reserved_aliases(tree, alias, message):
    tree("m.yaml", model(f"name: m\nversions:\n  - version: 1\n    aliases: [ok, {alias}]\n"))
    assert only_error("m.yaml") == f"m.yaml:6:19: versions[0].aliases: {message}"


def test_alias_like_names_that_are_not_reserved(tree):
    tree("m.yaml", model("name: m\nversions:\n  - version: 1\n    aliases: [v, v1a, latest2, vv1]\n"))
    assert load_tree(["m.yaml"]).models[0].versions[0].aliases == ("v", "v1a", "latest2", "vv1")


def test_alias_pattern(tree):
    tree("m.yaml", model("name: m\nversions:\n  - version: 1\n    aliases: ['blue green']\n"))
    assert only_error("m.yaml") == (
        "m.yaml:6:15: versions[0].aliases[0]: 'blue green' is not valid: an alias is 1 to 255 letters, digits, '_' or '-'"
    )


def test_alias_with_trailing_newline_is_caught_by_the_rules(tree):
    tree("m.yaml", model('name: m\nversions:\n  - version: 1\n    aliases: ["blue\\n"]\n'))
    assert only_error("m.yaml").startswith("m.yaml:6:15: versions[0].aliases: alias 'blue\\n' is not valid")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("a*b", "tag key 'a*b' contains '*': tag keys may only contain letters, digits,"),
        ("k" * 251, "tag key is too long (251 characters; at most 250)"),
        ("a/../b", "tag key 'a/../b' would resolve to 'b' as a file path"),
        ("..x", "tag key '..x' would resolve to '..x' as a file path"),
        ("a//b", "tag key 'a//b' would resolve to 'a/b' as a file path"),
        ("a/", "tag key 'a/' would resolve to 'a' as a file path"),
        ("/abs", "tag key '/abs' must not start with '/'"),
        ("mlflow.source.type", "tag key 'mlflow.source.type' uses the prefix 'mlflow.', reserved for MLflow system tags"),
        ("mlflow-gitops.hash", "tag key 'mlflow-gitops.hash' uses the prefix 'mlflow-gitops.', reserved for mlflow-gitops itself"),
    ],
)
def test_tag_key_rules(tree, key, message):
    tree("m.yaml", model(f"name: m\ntags:\n  ok: v\n  '{key}': v\n"))
    error = only_error("m.yaml")
    assert error.startswith(f"m.yaml:6:3: {message}"), error


def test_version_tag_key_rule_names_the_version(tree):
    tree("m.yaml", model("name: m\nversions:\n  - version: 1\n    tags: {'a b/c:d.e-f_g': v, 'x#': v}\n"))
    assert only_error("m.yaml").startswith("m.yaml:6:32: versions[0]: tag key 'x#' contains '#'")


def test_valid_mlflow_tag_keys(tree):
    keys = ["a b", "a:b", "a.b", "a..b", "a/b", "ünïcode", "mlflow", "mlflowx.y", "k" * 250]
    body = "name: m\ntags:\n" + "".join(f"  '{k}': v\n" for k in keys)
    tree("m.yaml", model(body))
    assert list(load_tree(["m.yaml"]).models[0].tags) == keys


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ("  - version: 5\n  - version: '5'\n", "versions[1] selects the same version as versions[0] (line 5): version 5"),
        (
            "  - run_id: r1\n  - run_id: r1\n    artifact_path: model\n",
            "versions[1] selects the same version as versions[0] (line 5): run_id r1 with artifact_path 'model'",
        ),
        ("  - source: s3://b/m\n  - source: s3://b/m\n", "versions[1] selects the same version as versions[0] (line 5): source s3://b/m"),
    ],
)
def test_same_selector_twice(tree, items, message):
    tree("m.yaml", model("name: m\nversions:\n" + items))
    assert only_error("m.yaml") == f"m.yaml:6:5: {message}"


def test_same_run_with_other_artifact_path_is_another_version(tree):
    tree("m.yaml", model("name: m\nversions:\n  - run_id: r1\n  - run_id: r1\n    artifact_path: other\n"))
    assert len(load_tree(["m.yaml"]).models[0].versions) == 2


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a/b", "model name 'a/b' must not contain '/' or ':'"),
        ("a:b", "model name 'a:b' must not contain '/' or ':'"),
        ("'  '", "model name must not be blank"),
        ("..m", "model name '..m' would resolve to '..m' as a file path"),
    ],
)
def test_model_name_rules(tree, name, message):
    tree("m.yaml", model(f"name: {name}\n"))
    assert only_error("m.yaml").startswith(f"m.yaml:3:7: {message}")


def test_rules_also_run_on_documents_with_schema_errors(tree):
    tree("m.yaml", model("name: m\nversions:\n  - version: 1\n    stage: Prod\n    aliases: [latest]\n"))
    assert [m.split(": ", 1)[0] for m in errors("m.yaml")] == ["m.yaml:6:12", "m.yaml:7:15"]


# ---- YAML safety -------------------------------------------------------------------------------


def test_duplicate_key_names_the_first_line(tree):
    tree("m.yaml", model("name: m\ndescription: a\ntags: {}\ndescription: b\n"))
    assert only_error("m.yaml") == "m.yaml:6:1: duplicate key 'description' (first defined at line 4)"


def test_nested_duplicate_key(tree):
    tree("m.yaml", model("name: m\nversions:\n  - version: 1\n    version: 2\n"))
    assert only_error("m.yaml") == "m.yaml:6:5: duplicate key 'version' (first defined at line 5)"


@pytest.mark.parametrize(
    ("value", "column", "message"),
    [
        ("!!python/object/apply:os.system ['echo pwned']", 14, "unsupported YAML tag !!python/object/apply:os.system"),
        ("!foo bar", 14, "unsupported YAML tag !foo"),
        ("!!binary aGVsbG8=", 14, "unsupported YAML tag !!binary"),
        ("!!int nope", 14, "'nope' is not a valid !!int"),
    ],
)
def test_custom_tags_are_refused(tree, value, column, message):
    tree("m.yaml", model(f"name: m\ndescription: {value}\n"))
    assert only_error("m.yaml") == f"m.yaml:4:{column}: {message}"


def test_explicit_str_tag_is_fine(tree):
    tree("m.yaml", model("name: m\ntags: {rank: !!str 1}\n"))
    assert load_tree(["m.yaml"]).models[0].tags == {"rank": "1"}


def test_aliases_are_refused(tree):
    tree("m.yaml", model("name: &n m\ndescription: *n\n"))
    assert only_error("m.yaml") == "m.yaml:4:14: YAML aliases (*n) are not supported; write the value out"


def test_billion_laughs_fails_fast(tree):
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    tree("bomb.yaml", "\n".join(lines) + "\n")
    start = time.perf_counter()
    message = only_error("bomb.yaml")
    assert time.perf_counter() - start < 1.0
    assert message == "bomb.yaml:2:10: YAML aliases (*a0) are not supported; write the value out"


def test_deep_nesting_is_refused_not_a_crash(tree):
    tree("deep.yaml", "a: " + "[" * 100 + "]" * 100 + "\n")
    tree("deeper.yaml", "a: " + "[" * 50_000 + "]" * 50_000 + "\n")
    assert errors("deep.yaml", "deeper.yaml") == [
        "deep.yaml:1:67: nested too deeply (more than 64 levels)",
        "deeper.yaml:1:1003: invalid YAML: exceeded maximum nesting depth (while increasing flow level started at line 1)",
    ]


def test_malformed_yaml(tree):
    tree("m.yaml", model("name: m\nversions:\n  - version: 1\n   stage: x\n"))
    message = only_error("m.yaml")
    assert message.startswith("m.yaml:6:4: invalid YAML: "), message


def test_malformed_yaml_after_a_good_document_still_validates_the_good_one(tree):
    tree("m.yaml", model("name: m\ntags: {rank: 1}\n") + "---\nname: [\n")
    assert [m.split(": ", 1)[0] for m in errors("m.yaml")] == ["m.yaml:4:14", "m.yaml:7:1"]


def test_non_utf8_reports_the_bad_byte(tree):
    tree("m.yaml", model("name: m\ndescription: café\n").encode("latin-1"))
    assert only_error("m.yaml") == "m.yaml:4:17: not valid UTF-8 (byte 0xe9); save the file as UTF-8"


def test_utf8_bom_is_accepted(tree):
    tree("m.yaml", b"\xef\xbb\xbf" + model("name: m\n").encode())
    assert load_tree(["m.yaml"]).names == ["m"]


def test_control_character(tree):
    tree("m.yaml", model("name: m\ndescription: a\x07b\n"))
    assert only_error("m.yaml") == "m.yaml:4:15: invalid YAML: character 0x0007 is not allowed (control characters are not allowed)"


def test_file_too_large(tree):
    tree("big.yaml", model("name: m\ndescription: x\n") + "#" * MAX_FILE_BYTES + "\n")
    assert only_error("big.yaml") == "big.yaml:1:1: file too large (1.0 MiB; the limit is 1 MiB)"


def test_empty_documents_are_skipped(tree):
    tree("m.yaml", "---\n# nothing\n---\n" + model("name: m\n") + "---\n")
    assert load_tree(["m.yaml"]).models[0].location == Location("m.yaml", 4, 1)


def test_document_must_be_a_mapping(tree):
    tree("m.yaml", model("name: m\n") + "---\n- name: n\n")
    assert only_error("m.yaml") == "m.yaml:5:1: a manifest document must be a mapping (apiVersion, kind, name, ...), got a list"


def test_keys_must_be_strings(tree):
    tree("m.yaml", model("name: m\ntags:\n  1: one\n"))
    assert only_error("m.yaml") == "m.yaml:5:3: mapping keys must be strings, got 1; quote the key"


def test_scalars_resolve_like_yaml_1_2():
    docs, problems = parse_text("a: 2026-11-20\nb: yes\nc: ~\nd: 0x10\ne: 1e3\nf: '7'\ng: 12:30\nh: .inf\n", "x.yaml")
    assert problems == []
    assert docs[0].data == {"a": "2026-11-20", "b": "yes", "c": None, "d": 16, "e": 1000.0, "f": "7", "g": "12:30", "h": float("inf")}


# ---- discovery ---------------------------------------------------------------------------------


def test_missing_path(tree):
    tree("a.yaml", model("name: a\n"))
    assert only_error("a.yaml", "nope/") == "nope/:1:1: no such file or directory"


def test_no_manifests_found(tree):
    os.makedirs("empty/sub")
    tree("empty/readme.txt", "hi")
    assert only_error("empty") == "empty:1:1: no manifests found (no *.yaml or *.yml files)"


def test_files_with_only_empty_documents(tree):
    tree("m.yaml", "# nothing yet\n")
    assert only_error("m.yaml") == "m.yaml:1:1: no manifests found (the file holds no YAML document)"


def test_discovery_is_recursive_sorted_and_skips_hidden_entries(tree):
    for name in ["root/b.yml", "root/a/z.yaml", "root/a/c.yaml", "root/.git/x.yaml", "root/.hidden.yaml", "root/n.json"]:
        tree(name, model(f"name: {name.replace('/', '_').replace('.', '_')}\n"))
    files, problems = discover(["root/"])
    assert problems == []
    assert [shown for _, shown in files] == ["root/b.yml", "root/a/c.yaml", "root/a/z.yaml"]


def test_explicit_file_is_read_whatever_its_name(tree):
    tree("model.txt", model("name: m\n"))
    assert load_tree(["model.txt"]).files == ("model.txt",)


def test_same_file_via_two_paths_is_read_once(tree):
    tree("dir/a.yaml", model("name: a\n"))
    os.symlink("dir", "link")
    state = load_tree(["dir", "dir/a.yaml", "link"])
    assert state.files == ("dir/a.yaml",)


@pytest.mark.timeout(20)
def test_symlink_loops_do_not_hang(tree):
    tree("dir/a.yaml", model("name: a\n"))
    os.symlink("..", "dir/up")
    os.symlink(".", "dir/self")
    os.symlink("loop.yaml", "dir/loop.yaml")
    os.symlink("dangling-target", "dir/dangling.yaml")
    messages = errors("dir")
    assert messages == [
        "dir/dangling.yaml:1:1: no such file or directory",
        "dir/loop.yaml:1:1: too many levels of symbolic links",
        "dir/self:1:1: symbolic link loop: it points to '.', a directory that contains it",
        "dir/up:1:1: symbolic link loop: it points to '..', a directory that contains it",
    ]


# ---- big trees: files read on two cores ---------------------------------------------------------


def _mixed_tree(write) -> None:
    """Valid files and every kind of problem, spread over both halves of the split."""
    for i in range(10):
        write(f"t/m{i:02}.yaml", model(f"""\
            name: model_{i}
            tags: {{team: a}}
            versions:
              - version: 2
                stage: Production
                aliases: [champion]
              - version: 1
                stage: Archived
            """))
    write("t/m01.yaml", model("name: model_1\nversions:\n  - version: 1\n    stage: Bogus\n"))  # schema
    write("t/m03.yaml", model("name: dup\n"))
    write("t/m08.yaml", model("name: dup\n"))  # the same model as in the other half
    write("t/m07.yaml", model("name: model_7\nversions: [\n"))  # syntax
    write("t/m09.yaml", model("name: model_9\nversions:\n  - version: 1\n    aliases: [latest]\n"))  # rule


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_big_tree_read_on_two_cores_gives_the_same_problems_and_state(tree, monkeypatch):
    from reconciler.manifest import load as manifest

    _mixed_tree(tree)
    used = []
    result = manifest._Child.result

    def spied(child):
        got = result(child)
        used.append(got is not None)
        return got

    monkeypatch.setattr(manifest._Child, "result", spied)
    monkeypatch.setattr(manifest, "PARALLEL_ABOVE_FILES", 10**9)
    alone = errors("t")
    monkeypatch.setattr(manifest, "PARALLEL_ABOVE_FILES", 4)
    assert errors("t") == alone
    assert used == [True]
    assert len(alone) == 4 and any("'dup' is already declared" in m for m in alone)

    for name in ("m01", "m03", "m07", "m08", "m09"):
        os.remove(f"t/{name}.yaml")
    split = load_tree(["t"])
    monkeypatch.setattr(manifest, "PARALLEL_ABOVE_FILES", 10**9)
    assert split == load_tree(["t"]) and len(split.models) == 5
    assert used == [True, True]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_failing_child_only_means_the_parent_reads_its_files(tree, monkeypatch):
    from reconciler.manifest import load as manifest

    _mixed_tree(tree)
    monkeypatch.setattr(manifest, "PARALLEL_ABOVE_FILES", 10**9)
    alone = errors("t")

    def broken(*args):
        raise RuntimeError("a bug in the child")

    monkeypatch.setattr(manifest, "_plain", broken)  # the forked child inherits it
    monkeypatch.setattr(manifest, "PARALLEL_ABOVE_FILES", 4)
    got = []
    result = manifest._Child.result
    monkeypatch.setattr(manifest._Child, "result", lambda child: got.append(result(child)) or got[-1])
    assert errors("t") == alone
    assert got == [None]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_validate_on_two_cores_reports_what_load_tree_reports(tree, monkeypatch):
    """`validate` (manifest.check_tree) gets only names back from its child, for the rules across
    files; the problems must be those of load_tree, the duplicate across the halves included."""
    from reconciler.manifest import load as manifest

    _mixed_tree(tree)
    monkeypatch.setattr(manifest, "PARALLEL_ABOVE_FILES", 10**9)
    alone = errors("t")
    monkeypatch.setattr(manifest, "PARALLEL_ABOVE_FILES", 4)
    children = []
    monkeypatch.setattr(manifest, "_named", lambda *a, _named=manifest._named: children.append(1) or _named(*a))
    with pytest.raises(InputError) as info:
        manifest.check_tree(["t"])
    assert info.value.messages() == alone and "dup" in " ".join(alone)
    for name in ("m01", "m03", "m07", "m09"):  # m08 declares `dup`, now only once
        os.remove(f"t/{name}.yaml")
    assert manifest.check_tree(["t"]) == (6, 6)


@pytest.mark.parametrize("selectors", [{}, {"version": 1, "source": "s3://b/m"}, {"version": 1, "run_id": "r", "source": "s"}])
def test_fast_checker_refuses_a_version_without_exactly_one_selector(selectors):
    # the fast path counts selectors itself instead of compiling the schema's oneOf
    doc = {"apiVersion": "mlflow-gitops/v1", "kind": "RegisteredModel", "name": "m",
           "versions": [{"version": 2}, {**selectors, "stage": "Staging"}]}
    assert schema_mod._fast_check()(doc) is False
    assert not schema_mod.validator().is_valid(doc)
    assert schema_mod._fast_check()({**doc, "versions": [{"version": 2}]}) is True
