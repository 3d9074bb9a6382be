"""Rewrite one model's document so that it declares a chosen run, changing no other byte.

A precise text edit, not a round trip through a YAML library: the file is composed with PyYAML
(a node tree that knows each node's character offsets, nothing is constructed) and only the spans
that must change are replaced. Measured on this repository's manifests, ruamel.yaml's round trip
(which keeps comments) still re-indents every sequence of a file to one style, respaces flow
collections (`{ a: 1 }` -> `{a: 1}`), drops trailing blanks and `...` markers and writes CRLF
files back as LF: a reviewer would see lines change that the proposal never meant to touch.

Each step edits the text and composes it again (a manifest is small), so steps never work on
stale offsets. New text copies the neighbourhood's layout: the indentation of the sibling keys or
items, flow or block style, quote style of a replaced value, and the file's line break.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler.constants import DEFAULT_ARTIFACT_PATH
from reconciler.errors import ReconcilerError

ARCHIVED = "Archived"
# libyaml composes ~10x faster than the pure-Python parser, with the same character offsets
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class EditError(ReconcilerError):
    """The file cannot be edited as asked (no such model, an unexpected layout)."""


@dataclass(frozen=True)
class Proposal:
    """What the model's document should declare after the edit."""

    model: str
    run_id: str
    artifact_path: str = DEFAULT_ARTIFACT_PATH
    stage: str | None = None
    aliases: tuple[str, ...] = ()
    archive_previous: bool = False
    # the live versions registered from that run: an entry selecting one by `version:` or
    # `source:` already declares the run
    live_versions: frozenset[str] = frozenset()
    live_sources: frozenset[str] = frozenset()


def propose(text: str, p: Proposal, file: str = "<manifest>") -> str:
    """`text` with the model's document declaring `p`; `text` itself when it already does."""
    if text.startswith("\ufeff"):  # libyaml's offsets do not count a BOM: edit without it
        return "\ufeff" + propose(text[1:], p, file)
    # the model's document alone is edited (and composed again after each step): a big file of
    # many documents is parsed once
    start, end = _document_span(text, p.model, file)
    editor = _Editor(text[start:end], p, file, first_line=text.count("\n", 0, start) + 1)
    index = editor.entry_index()
    if index is None:
        editor.append_entry()
        index = editor.entry_index()
    else:
        if p.stage is not None:
            editor.set_stage(index, p.stage)
        for alias in p.aliases:
            editor.add_alias(index, alias)
    for alias in p.aliases:
        while (other := editor.other_entry_with_alias(index, alias)) is not None:
            editor.remove_alias(other, alias)
    if p.archive_previous and p.stage not in (None, "None", ARCHIVED):
        while (other := editor.other_entry_in_stage(index, p.stage)) is not None:
            editor.set_stage(other, ARCHIVED)
    return text[:start] + editor.text + text[end:]


def _document_span(text: str, model: str, file: str) -> tuple[int, int]:
    """Where the model's document is: from the start of its first line to its end."""
    node = _model_document(_compose_all(text, file), model, file)
    start = max(text.rfind("\n", 0, node.start_mark.index), text.rfind("\r", 0, node.start_mark.index)) + 1
    return start, node.end_mark.index


def _compose_all(text: str, file: str) -> list[Node]:
    try:
        return list(yaml.compose_all(text, Loader=_Loader))
    except yaml.YAMLError as e:
        raise EditError(f"{file}: cannot be read as YAML: {' '.join(str(e).split())}") from None


def _model_document(documents: list[Node], model: str, file: str) -> MappingNode:
    found = [d for d in documents if isinstance(d, MappingNode) and _value(d, "name") == model]
    if not found:
        raise EditError(f"{file}: no document declares model '{model}'")
    return found[0]


# ---- rendering ---------------------------------------------------------------------------------

_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]*")
_NOT_STRING = re.compile(  # plain scalars YAML 1.1 or 1.2 would read as something else than a string
    r"[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?|0[xob][0-9a-fA-F_]+|[0-9:_]+"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|~|null|Null|NULL"
    r"|y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF"
    r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}.*"
)


def scalar(value: str, style: str | None = None) -> str:
    """`value` as a YAML string: plain when every YAML reader takes it for that string, else
    double-quoted; `style` (a replaced value's quote character) is kept when it can be."""
    if style == "'" and "'" not in value and _PLAIN.fullmatch(value):
        return f"'{value}'"
    if style != '"' and _PLAIN.fullmatch(value) and not _NOT_STRING.fullmatch(value):
        return value
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


# ---- the editor --------------------------------------------------------------------------------


class _Editor:
    def __init__(self, text: str, p: Proposal, file: str, first_line: int = 1):
        self.text = text
        self.p = p
        self.file = file
        self.first_line = first_line  # of the document in the file, for messages
        self.newline = _newline(text)
        self.doc = self._compose()

    def _compose(self) -> MappingNode:
        return _model_document(_compose_all(self.text, self.file), self.p.model, self.file)

    def _edit(self, start: int, end: int, new: str) -> None:
        self.text = self.text[:start] + new + self.text[end:]
        self.doc = self._compose()

    # ---- reading the document

    def versions(self) -> SequenceNode | None:
        node = _get(self.doc, "versions")
        return node if isinstance(node, SequenceNode) else None

    def entries(self) -> list[MappingNode]:
        seq = self.versions()
        return [item for item in seq.value if isinstance(item, MappingNode)] if seq is not None else []

    def entry_index(self) -> int | None:
        p = self.p
        for i, entry in enumerate(self.entries()):
            run_id = _value(entry, "run_id")
            if run_id is not None:
                if run_id == p.run_id and (_value(entry, "artifact_path") or DEFAULT_ARTIFACT_PATH) == p.artifact_path:
                    return i
                continue
            number = _number(_value(entry, "version"))
            if number is not None and number in p.live_versions:
                return i
            if _value(entry, "source") in p.live_sources:
                return i
        return None

    def other_entry_with_alias(self, index: int, alias: str) -> int | None:
        for i, entry in enumerate(self.entries()):
            aliases = _get(entry, "aliases")
            if i != index and isinstance(aliases, SequenceNode) and any(
                isinstance(a, ScalarNode) and a.value == alias for a in aliases.value
            ):
                return i
        return None

    def other_entry_in_stage(self, index: int, stage: str) -> int | None:
        for i, entry in enumerate(self.entries()):
            if i != index and _value(entry, "stage") == stage:
                return i
        return None

    # ---- edits

    def set_stage(self, index: int, stage: str) -> None:
        entry = self.entries()[index]
        node = _get(entry, "stage")
        if isinstance(node, ScalarNode):
            if node.value != stage:
                self._edit(node.start_mark.index, node.end_mark.index, scalar(stage, node.style))
            return
        self.add_keys(entry, [("stage", scalar(stage))])

    def add_alias(self, index: int, alias: str) -> None:
        entry = self.entries()[index]
        node = _get(entry, "aliases")
        if isinstance(node, SequenceNode):
            if not any(isinstance(a, ScalarNode) and a.value == alias for a in node.value):
                self.add_items(node, [scalar(alias)])
            return
        self.add_keys(entry, [("aliases", f"[{scalar(alias)}]")])

    def remove_alias(self, index: int, alias: str) -> None:
        entry = self.entries()[index]
        seq = _get(entry, "aliases")
        items = seq.value
        i = next(j for j, a in enumerate(items) if isinstance(a, ScalarNode) and a.value == alias)
        item = items[i]
        if _is_flow(seq):
            if i > 0:  # `a, b` -> `a`: from the end of the item before
                self._edit(items[i - 1].end_mark.index, item.end_mark.index, "")
            elif len(items) > 1:  # `a, b` -> `b`: up to the next item
                self._edit(item.start_mark.index, items[1].start_mark.index, "")
            else:
                self._edit(item.start_mark.index, item.end_mark.index, "")
            return
        # a block list item: its line goes (with its comment, which was about that alias)
        start = max(self.text.rfind("\n", 0, item.start_mark.index), self.text.rfind("\r", 0, item.start_mark.index)) + 1
        if not re.fullmatch(r"[ \t]*-[ \t]+", self.text[start:item.start_mark.index]):
            raise EditError(f"{self.file}:{self.first_line + item.start_mark.line}: cannot remove alias '{alias}': "
                            "its list item does not start its line")
        end = _line_end(self.text, item.end_mark.index, include_break=True)
        if len(items) > 1:
            self._edit(start, end, "")
            return
        # the last one: `aliases:  # note` + `  - a` -> `aliases: []  # note`
        key = next(k for k, v in entry.value if v is seq)
        colon = self.text.index(":", key.end_mark.index) + 1
        self.text = self.text[:colon] + " []" + self.text[colon:start] + self.text[end:]
        self.doc = self._compose()

    def append_entry(self) -> None:
        p = self.p
        fields = [("run_id", scalar(p.run_id))]
        if p.artifact_path != DEFAULT_ARTIFACT_PATH:
            fields.append(("artifact_path", scalar(p.artifact_path)))
        if p.stage is not None:
            fields.append(("stage", scalar(p.stage)))
        if p.aliases:
            fields.append(("aliases", f"[{', '.join(scalar(a) for a in p.aliases)}]"))
        seq = _get(self.doc, "versions")
        if seq is None:
            self.add_keys(self.doc, [("versions", None)], fields)
            return
        if not isinstance(seq, SequenceNode):
            raise EditError(f"{self.file}:{self.first_line + seq.start_mark.line}: `versions` of model '{p.model}' is not a list")
        if _is_flow(seq) or not seq.value:
            self.add_items(seq, ["{" + ", ".join(f"{k}: {v}" for k, v in fields) + "}"])
            return
        dash = seq.start_mark.column
        first = seq.value[0]
        content = first.start_mark.column if first.start_mark.line == seq.start_mark.line else dash + 2
        lines = [" " * dash + "-" + " " * (content - dash - 1) + f"{fields[0][0]}: {fields[0][1]}"]
        lines += [" " * content + f"{k}: {v}" for k, v in fields[1:]]
        self._insert_lines(_last_end(seq), lines)

    def add_keys(self, mapping: MappingNode, keys: list[tuple[str, str | None]],
                 block_items: list[tuple[str, str]] | None = None) -> None:
        """Add `key: value` pairs at the end of `mapping`. A value None with `block_items` is a
        one-item list: written as a block sequence under a block mapping, else in flow style."""
        if _is_flow(mapping):
            parts = []
            for k, v in keys:
                if v is None:
                    v = "[{" + ", ".join(f"{a}: {b}" for a, b in block_items) + "}]"
                parts.append(f"{k}: {v}")
            self._add_flow(mapping, parts)
            return
        column = mapping.value[0][0].start_mark.column if mapping.value else 0
        lines = []
        for k, v in keys:
            if v is not None:
                lines.append(" " * column + f"{k}: {v}")
                continue
            lines.append(" " * column + f"{k}:")
            first, *rest = block_items
            lines.append(" " * (column + 2) + f"- {first[0]}: {first[1]}")
            lines += [" " * (column + 4) + f"{a}: {b}" for a, b in rest]
        self._insert_lines(_last_end(mapping), lines)

    def add_items(self, seq: SequenceNode, items: list[str]) -> None:
        if _is_flow(seq) or not seq.value:
            self._add_flow(seq, items)
            return
        dash = seq.start_mark.column
        self._insert_lines(_last_end(seq), [" " * dash + f"- {item}" for item in items])

    def _add_flow(self, node: Node, parts: list[str]) -> None:
        if node.value:
            last = node.value[-1]
            end = (last[1] if isinstance(last, tuple) else last).end_mark.index
            self._edit(end, end, "".join(", " + part for part in parts))
        else:  # `[]` / `{}`: inside the brackets
            close = node.end_mark.index - 1
            self._edit(close, close, ", ".join(parts))

    def _insert_lines(self, after: int, lines: list[str]) -> None:
        """New lines after the line holding offset `after - 1` (and its comment, if any)."""
        at = _line_end(self.text, max(after - 1, 0))
        if self.text.startswith("\r\n", at - 1):  # a block scalar's last line break is CRLF
            at -= 1
        self._edit(at, at, "".join(self.newline + line for line in lines))


# ---- node helpers ------------------------------------------------------------------------------


def _get(mapping: MappingNode, key: str) -> Node | None:
    if not isinstance(mapping, MappingNode):
        return None
    for k, v in mapping.value:
        if isinstance(k, ScalarNode) and k.value == key:
            return v
    return None


def _value(mapping: MappingNode, key: str) -> str | None:
    node = _get(mapping, key)
    return node.value if isinstance(node, ScalarNode) else None


def _number(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(int(float(value.strip())))
    except ValueError:
        return None


def _is_flow(node: Node) -> bool:
    return node.flow_style is True


def _last_end(node: Node) -> int:
    """Offset just past the last scalar or flow collection inside a block collection."""
    while isinstance(node, (SequenceNode, MappingNode)) and not _is_flow(node) and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(last, tuple) else last
    return node.end_mark.index


def _line_end(text: str, index: int, include_break: bool = False) -> int:
    """Where the line holding `index` ends (before its line break, or after it)."""
    ends = [i for i in (text.find("\r", index), text.find("\n", index)) if i >= 0]
    if not ends:
        return len(text)
    end = min(ends)
    if not include_break:
        return end
    return end + 2 if text.startswith("\r\n", end) else end + 1


def _newline(text: str) -> str:
    for i, ch in enumerate(text):
        if ch == "\n":
            return "\r\n" if i and text[i - 1] == "\r" else "\n"
        if ch == "\r" and not text.startswith("\r\n", i):
            return "\r"
    return "\n"
