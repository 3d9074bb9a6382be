"""Fuzzing manifest loading: mutated manifests (flipped bytes, deletions, YAML syntax and random
unicode inserted) never raise anything but InputError, never hang, and every problem is one
`FILE:LINE:COLUMN: message` line with a position inside the file."""

from __future__ import annotations

import os
import re
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reconciler.errors import InputError
from reconciler.manifest.desired import DesiredState
from reconciler.manifest.load import load_tree

REPO_ROOT = Path(__file__).resolve().parents[2]
PROBLEM = re.compile(r"^.+:\d+:\d+: .+")
FILE = "fuzzed.yaml"
# a few seconds in CI; a deeper hunt: MLFLOW_GITOPS_FUZZ_EXAMPLES=50000 pytest tests/unit/test_fuzz.py
EXAMPLES = int(os.environ.get("MLFLOW_GITOPS_FUZZ_EXAMPLES", "600"))

SEEDS = [p.read_bytes() for p in sorted((REPO_ROOT / "manifests" / "examples").glob("*.yaml"))] + [
    b"""\
apiVersion: mlflow-gitops/v1
kind: RegisteredModel
name: fuzz_model
description: "quoted \\u00e9 \\n text"
tags: {team: mlops, "owner email": a@b.c}
policy:
  unmanaged_versions: archive
  prune_aliases: true
  prune_tags: false
versions:
  - version: 5
    stage: Production
    aliases: [champion, shadow]
    description: |
      block text
    tags:
      validated: "true"
  - run_id: 0a1b2c3d4e5f
    artifact_path: model
    stage: Staging
  - source: s3://bucket/models/7
---
apiVersion: mlflow-gitops/v1
kind: RegisteredModel
name: second
versions: [{version: '2', stage: Archived}]
""",
]
# what YAML gives meaning to, and what often breaks parsers
SYNTAX = [
    ":", "-", "- ", "? ", ",", "[", "]", "{", "}", "&a ", "*a", "!", "!!str ", "!!python/object:os.system ",
    "|", ">", "'", '"', "#", "%", "@", "`", "\t", "\n", "\r", "\r\n", " ", "  ", "---\n", "...\n", "\\",
    "\x00", "\x85", "\u2028", "\ufeff", "<<: ", "~", "0x", "1e9999", ".nan", "\\u", "\\x9b", "\\e",
]  # fmt: skip


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["flip", "delete", "syntax", "unicode", "bytes", "duplicate"]))
        if kind == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 40))]
        elif kind == "syntax":
            data[at:at] = draw(st.sampled_from(SYNTAX)).encode("utf-8")
        elif kind == "unicode":
            data[at:at] = draw(st.text(min_size=1, max_size=8)).encode("utf-8", "surrogatepass")
        elif kind == "bytes":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:  # a whole slice again: duplicate keys, documents, deeper nesting
            end = draw(st.integers(at, min(len(data), at + 200)))
            data[at:at] = data[at:end]
    return bytes(data)


def lines_in(data: bytes) -> int:
    """An upper bound of the lines a YAML reader can see (it also breaks lines at CR, NEL, LS, PS)."""
    text = data.decode("utf-8", "replace")
    return 1 + sum(text.count(brk) for brk in ("\n", "\r", "\x85", "\u2028", "\u2029"))


@pytest.fixture(scope="module")
def fuzz_dir():
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


@pytest.mark.timeout(300 + EXAMPLES // 10)
@settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=2),  # each example takes milliseconds: this only catches hangs
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=mutated())
@example(data=b"")
@example(data=b"\xff\xfe")
@example(data=b"a: " + b"[" * 70 + b"]" * 70)
@example(data=b"version: " + b"9" * 5000)
@example(data=SEEDS[-1].replace(b"version: 5", b"version: 1e400"))
def test_mutated_manifests_fail_only_with_input_errors(data, fuzz_dir, monkeypatch):
    monkeypatch.chdir(fuzz_dir)
    (fuzz_dir / FILE).write_bytes(data)
    try:
        state = load_tree([FILE])
    except InputError as e:
        messages = e.messages()
        assert messages
        limit = lines_in(data)
        for message in messages:
            assert PROBLEM.match(message), message
            assert "\n" not in message and "\r" not in message, repr(message)
            file, line, column, _ = message.split(":", 3)
            assert file == FILE
            assert 1 <= int(line) <= limit and int(column) >= 1, (message, limit)
    else:
        assert isinstance(state, DesiredState)
        assert state.models


# ---- structure-aware: documents of the manifest's own vocabulary, with values of any type -------------

KEYS = ["apiVersion", "kind", "name", "description", "tags", "policy", "versions", "version", "run_id",
        "artifact_path", "source", "stage", "aliases", "unmanaged_versions", "prune_aliases", "prune_tags"]  # fmt: skip
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True), st.text(max_size=20),
    st.sampled_from(["mlflow-gitops/v1", "RegisteredModel", "Production", "None", "archive", "champion", "latest",
                     "v1", "..", "a/../b", "mlflow.x", "s3://b/m/1", "5", "0", "-1", "1.0", ""]),
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=5),
    max_leaves=10,
)
VERSION_KEYS = ["version", "run_id", "artifact_path", "source", "stage", "aliases", "description", "tags"]
versions = st.lists(st.fixed_dictionaries({}, optional={k: values for k in VERSION_KEYS}), max_size=4)
documents = st.fixed_dictionaries(
    {"apiVersion": st.just("mlflow-gitops/v1"), "kind": st.just("RegisteredModel")},
    optional={k: versions | values if k == "versions" else values for k in KEYS[2:]},
)


@pytest.mark.timeout(300)
@settings(
    max_examples=max(EXAMPLES // 4, 1),  # generating these costs more than checking them
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(docs=st.lists(documents, min_size=1, max_size=3), flow=st.booleans())
def test_documents_of_any_shape_fail_only_with_input_errors(docs, flow, fuzz_dir, monkeypatch):
    import yaml

    monkeypatch.chdir(fuzz_dir)
    text = yaml.safe_dump_all(docs, default_flow_style=flow, allow_unicode=True)
    (fuzz_dir / FILE).write_text(text, encoding="utf-8")
    try:
        state = load_tree([FILE])
    except InputError as e:
        for message in e.messages():
            assert PROBLEM.match(message) and "\n" not in message, repr(message)
    else:
        assert [m.name for m in state.models] == sorted(d["name"] for d in docs)
