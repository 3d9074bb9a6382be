"""The export YAML writer: every string reads back, through the manifest loader, as exactly itself,
in the plainest form that does so."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.export.yamlwriter import Comment, Flow, Map, Seq, data, render
from reconciler.manifest.yamlsrc import parse_text


def read_back(text: str):
    documents, problems = parse_text(text, "t.yaml")
    assert not problems, (text, problems)
    assert len(documents) == 1, text
    return documents[0].data


def as_value(value: str, nested: bool = False) -> Map:
    """`value` as a top-level value or, nested, as a version's value (block indentation differs)."""
    if nested:
        return Map([("versions", Seq([Map([("version", 1), ("description", value)])]))])
    return Map([("description", value)])


TRICKY = [
    "yes", "no", "on", "off", "Yes", "y", "n", "true", "False", "null", "Null", "~", "", "5", "-5", "+5",
    "007", "1e3", "1E3", "0x1", "0o7", "1_000", "1:20", ".5", ".inf", "-.inf", ".nan", "2026-11-20",
    "2026-11-20 10:00:00", "=", "<<", " lead", "trail ", " both ", "a: b", "a:", "a:b", "a #b", "a#b",
    "#x", "- x", "-x", "-", "?", "? x", ":x", "[x]", "{x}", "x, y", "&anchor", "*alias", "!tag", "!!str",
    "|", ">", "'", '"', "''", "%YAML", "@x", "`x", "---", "...", "--- x", "x\\y", "it's", 'say "hi"',
    "C:\\models\\new", "multi\nline", "multi\nline\n", "multi\n\n", "multi\n\n\n", "\nleading newline",
    "\n\n", "\n", "  indented\nfirst", "x\n  indented later\n", "line\n# not a comment", "tab\there",
    "\ttab first\nline", "cr\r\nlf", "cr only\r", "bell\x07", "del\x7f", "nel\x85", "ls\u2028x", "ps\u2029",
    "rlo\u202eevil", "bom\ufeff", "nbsp\xa0", "é unicode ✓", "emoji 🎉", "日本語", "trailing space \nline",
    "line\ntrailing space ", "a" * 5000, "word " * 100, "x\u0300", "private\ue000", "\U0010fffd",
    "None", "Staging", "s3://bucket/models/taxi/7", "runs:/0a1b/model", "models:/m-abc", "file:///a#b",
    "key: value\nother: thing", "- item\n- item", "{a: 1}\n[b]",
]


@pytest.mark.parametrize("value", TRICKY)
@pytest.mark.parametrize("nested", [False, True])
def test_every_value_reads_back_as_itself(value, nested):
    doc = as_value(value, nested)
    assert read_back(render(doc)) == data(doc)


# (tag keys are at most 250 characters: YAML limits implicit keys to 1024)
@pytest.mark.parametrize("value", [v for v in TRICKY if v and "\n" not in v and "\r" not in v and len(v) <= 250])
def test_every_single_line_string_reads_back_as_a_key_and_in_a_flow_list(value):
    doc = Map([("tags", Map([(value, value)])), ("aliases", Flow([value, "x"]))])
    assert read_back(render(doc)) == {"tags": {value: value}, "aliases": [value, "x"]}


@pytest.mark.parametrize("value", ["team", "s3://bucket/models/taxi/7", "Uploaded to production on 2026-11-20",
                                   "a#b", "a:b", "it's", 'say "hi"', "é unicode ✓", "None", "Production",
                                   "runs:/0a1b/model"])
def test_strings_that_need_no_quotes_are_plain(value):
    assert render(Map([("k", value)])) == f"k: {value}\n"


@pytest.mark.parametrize("value", ["yes", "no", "on", "null", "~", "5", "1e3", "0x1", "0o7", "1_000", "1:20",
                                   "true", "2026-11-20", ".inf", " lead", "trail ", "a: b", "a #b", "#x",
                                   "- x", "", "[x]", "&a", "*a", "!t", "%x", "@x", "=", "<<"])
def test_strings_another_reader_would_take_for_something_else_are_quoted(value):
    line = render(Map([("k", value)]))
    assert line in (f'k: "{value}"\n', f"k: '{value}'\n"), line
    # what a YAML 1.1 reader (PyYAML) makes of it: the same string
    assert yaml.safe_load(line) == {"k": value}


def test_multi_line_text_is_a_literal_block_with_the_right_chomping():
    assert render(Map([("d", "one\ntwo")])) == "d: |-\n  one\n  two\n"
    assert render(Map([("d", "one\ntwo\n")])) == "d: |\n  one\n  two\n"
    assert render(Map([("d", "one\n\ntwo\n\n")])) == "d: |+\n  one\n\n  two\n\n"
    assert render(Map([("d", " one\ntwo")])) == "d: |2-\n   one\n  two\n"


@pytest.mark.parametrize("value", ["cr\r\nlf", "trailing \nspace", "tab\tin\nblock", "bidi\u202e\nx", "\n\n"])
def test_text_a_block_cannot_carry_exactly_is_double_quoted_on_one_line(value):
    line = render(Map([("d", value)]))
    assert line.startswith('d: "') and line.count("\n") == 1, line


def test_invisible_characters_are_escaped_so_a_reviewer_sees_them():
    assert render(Map([("d", "a\u202eb\x07c\u2028")])) == 'd: "a\\u202Eb\\ac\\L"\n'


def test_comments_stand_where_they_are_put_and_do_not_change_the_data():
    doc = Map([
        ("name", "m"),
        Comment("note at the top"),
        ("versions", Seq([Comment("before the item"), Map([("version", 2), Comment("inside"), ("stage", "None")])])),
    ])
    text = render(doc)
    assert text == (
        "name: m\n"
        "# note at the top\n"
        "versions:\n"
        "  # before the item\n"
        "  - version: 2\n"
        "    # inside\n"
        "    stage: None\n"
    )
    assert read_back(text) == {"name": "m", "versions": [{"version": 2, "stage": "None"}]}


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=40), st.text(st.characters(codec="utf-8"), max_size=80))
def test_any_text_reads_back_as_itself(key, value):
    doc = Map([
        ("description", value),
        ("tags", Map([(key or "k", value)])),
        ("versions", Seq([Map([("version", 1), ("description", value), ("aliases", Flow([key or "a"]))])])),
    ])
    text = render(doc)
    assert read_back(text) == data(doc)
    assert render(doc) == text  # deterministic


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["a", " ", "\n", "\t", "#", ":", "-", "'", '"', "\\", "é", "\r", "|", "1", "e"]),
                max_size=30).map("".join))
def test_syntax_heavy_text_reads_back_as_itself(value):
    doc = as_value(value, nested=True)
    assert read_back(render(doc)) == data(doc)


def test_a_kept_block_at_the_end_of_a_document_keeps_its_blank_lines_before_the_next_document():
    first = render(Map([("name", "a"), ("description", "x\n\n\n")]))
    documents, problems = parse_text(first + "---\n" + render(Map([("name", "b")])), "t.yaml")
    assert not problems
    assert [d.data for d in documents] == [{"name": "a", "description": "x\n\n\n"}, {"name": "b"}]
