"""reconciler.registry.filters: `name IN (...)` filters quote any name and stay under the URL limit."""

from __future__ import annotations

import ast

from reconciler.registry import filters


def test_quoted_names_decode_back_with_python_literal_eval():
    for name in ["plain", "o'brien", 'say "hi"', "back\\slash", "line\nbreak", "tab\t", "pct%_x", "uni\u2028x"]:
        quoted = filters.quote(name)
        assert ast.literal_eval(quoted) == name
        assert "'" not in quoted[1:-1] and '"' not in quoted[1:-1]


def test_name_filters_batch_under_the_limit_and_keep_every_name():
    names = [f"model-{i:05d}" for i in range(2000)]
    batches = list(filters.name_filters(names))
    assert len(batches) > 1 and all(len(b) <= filters.MAX_FILTER_CHARS + len("name IN ()") for b in batches)
    seen = [n for b in batches for n in ast.literal_eval("[" + b[len("name IN ("):-1] + "]")]
    assert seen == names
    assert filters.name_filter(["a"]) == "name IN ('a')"
