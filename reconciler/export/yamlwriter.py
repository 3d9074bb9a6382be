"""A small YAML writer for exported manifests: block style, stable, quoting only where needed.

PyYAML's emitter is not used: it quotes by YAML 1.1 rules only, folds long strings at arbitrary
widths, writes `|` blocks it cannot always read back (trailing spaces), and gives no control
over comments. This writer knows exactly three node kinds (mappings, sequences of mappings, flow
lists of short strings) plus comments, and chooses per string the plainest form that reads back
as that same string:

- plain, when neither our loader (`reconciler.manifest.yamlsrc`, YAML 1.2 core schema) nor a YAML 1.1
  reader (PyYAML, yq, older tools) would take it for anything else (`yes`, `null`, `5`, `1e3`,
  `0x1`, `~`, `2026-11-20` are quoted) and it has no YAML syntax in it;
- a `|` literal block for multi-line text that a block can carry exactly (no CR, tabs, trailing
  spaces an editor would strip, or invisible characters);
- double quotes otherwise (single quotes when the text has backslashes or double quotes and
  needs no escapes), escaping what a reviewer could not see: control, format (bidi) and line
  separator characters.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import yaml
from yaml.nodes import ScalarNode

from reconciler.manifest.yamlsrc import _resolve_plain

INDENT = 2
# characters a plain scalar may not start with (YAML indicators), and what may not appear in one
# inside a flow list
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")
_FLOW_INDICATORS = frozenset(",[]{}:#")
_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
_ESCAPES = {
    "\0": "\\0", "\a": "\\a", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\v": "\\v", "\f": "\\f",
    "\r": "\\r", "\x1b": "\\e", '"': '\\"', "\\": "\\\\", "\x85": "\\N", "\u2028": "\\L",
    "\u2029": "\\P",
}
_STR_TAG = "tag:yaml.org,2002:str"
_PRINTABLE_ASCII = re.compile(r"[ -~]*")
_yaml11 = yaml.resolver.Resolver()


class Map(list):
    """A block mapping: `(key, value)` pairs and `Comment`s, written in the order given."""


class Seq(list):
    """A block sequence of `Map`s and `Comment`s."""


class Flow(list):
    """A flow list of strings, `[a, b]`: for short identifiers such as aliases."""


class Comment(str):
    """A `# ...` line, written where it stands among the entries; must be a single line."""


def visible(char: str) -> bool:
    """Can this character be written as it is, without a reviewer missing or misreading it?
    (Also everything YAML calls printable, apart from tab and line breaks.)"""
    if " " <= char <= "~":
        return True
    if char < "\xa0" or char in "\ufeff\ufffe\uffff":
        return False
    return unicodedata.category(char) not in _INVISIBLE


def all_visible(text: str) -> bool:
    return _PRINTABLE_ASCII.fullmatch(text) is not None or all(visible(c) for c in text)


def reads_as_string(text: str) -> bool:
    """Would YAML 1.2 (our loader) and YAML 1.1 readers both take this plain scalar as a string?"""
    if _resolve_plain(text) != text:
        return False
    return _yaml11.resolve(ScalarNode, text, (True, False)) == _STR_TAG


@functools.lru_cache(maxsize=65536)  # tag keys, stages and short values repeat across versions
def plain_ok(text: str, flow: bool = False) -> bool:
    if not text or text[0] in _INDICATORS or text[0] == " " or text[-1] == " ":
        return False
    if text.startswith("...") or ": " in text or " #" in text or text.endswith(":"):
        return False
    if flow and any(c in _FLOW_INDICATORS for c in text):
        return False
    if not all_visible(text):
        return False
    return reads_as_string(text)


def block_ok(text: str) -> bool:
    """Multi-line text a `|` block reproduces exactly, and that survives an editor trimming
    trailing whitespace."""
    if "\n" not in text or not text.strip("\n"):
        return False
    for line in text.split("\n"):
        if line.endswith(" ") or not all_visible(line):
            return False
    return True


def single_ok(text: str) -> bool:
    return all_visible(text)


def double_quoted(text: str) -> str:
    out = []
    for c in text:
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif visible(c):
            out.append(c)
        elif ord(c) <= 0xFF:
            out.append(f"\\x{ord(c):02X}")
        elif ord(c) <= 0xFFFF:
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(f"\\U{ord(c):08X}")
    return '"' + "".join(out) + '"'


def quoted(text: str) -> str:
    if ('"' in text or "\\" in text) and single_ok(text):
        return "'" + text.replace("'", "''") + "'"
    return double_quoted(text)


def key_text(key: str, quote_all: bool = False) -> str:
    return key if not quote_all and plain_ok(key) else quoted(key)


def block(text: str, column: int) -> str:
    """`|` header and the lines of a literal block whose parent key starts at `column`."""
    body = text.rstrip("\n")
    trailing = len(text) - len(body)
    chomp = "-" if trailing == 0 else "" if trailing == 1 else "+"
    # a first line that starts with a space (or is empty) would be read as the indentation
    indicator = str(INDENT) if body[0] in " \n" else ""
    pad = " " * (column + INDENT)
    lines = [pad + line if line else "" for line in body.split("\n")]
    lines += [""] * max(0, trailing - 1)
    return f"|{indicator}{chomp}\n" + "\n".join(lines)


def scalar_text(value, column: int, quote_all: bool = False) -> str:
    """The text after `key: ` for a scalar whose key starts at `column`; may span lines."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"cannot write {type(value).__name__} values")
    if isinstance(value, int):
        return str(value)
    if not quote_all and plain_ok(value):
        return value
    if not quote_all and block_ok(value):
        return block(value, column)
    return quoted(value)


def flow_text(items: list[str], quote_all: bool = False) -> str:
    return "[" + ", ".join(i if not quote_all and plain_ok(i, flow=True) else quoted(i) for i in items) + "]"


def render(doc: Map, quote_all: bool = False) -> str:
    lines: list[str] = []
    _mapping(doc, 0, lines, quote_all, first_prefix=None)
    return "\n".join(lines) + "\n"


def _mapping(node: Map, column: int, lines: list[str], quote_all: bool, first_prefix: str | None) -> None:
    """Entries at `column`; `first_prefix` replaces the indentation of the first entry (`- `)."""
    pad = " " * column
    for item in node:
        if isinstance(item, Comment):
            lines.append(f"{pad}# {item}")
            continue
        key, value = item
        lead = pad
        if first_prefix is not None:
            lead, first_prefix = first_prefix, None
        head = f"{lead}{key_text(key, quote_all)}:"
        if isinstance(value, Map):
            lines.append(head)
            _mapping(value, column + INDENT, lines, quote_all, None)
        elif isinstance(value, Seq):
            lines.append(head)
            _sequence(value, column + INDENT, lines, quote_all)
        elif isinstance(value, Flow):
            lines.append(f"{head} {flow_text(value, quote_all)}")
        else:
            lines.append(f"{head} {scalar_text(value, column, quote_all)}")


def _sequence(node: Seq, column: int, lines: list[str], quote_all: bool) -> None:
    pad = " " * column
    for item in node:
        if isinstance(item, Comment):
            lines.append(f"{pad}# {item}")
        else:
            _mapping(item, column + INDENT, lines, quote_all, first_prefix=f"{pad}- ")


def data(node):
    """The plain data a node stands for (what a loader should read back), comments left out."""
    if isinstance(node, Map):
        return {item[0]: data(item[1]) for item in node if not isinstance(item, Comment)}
    if isinstance(node, Seq):
        return [data(item) for item in node if not isinstance(item, Comment)]
    if isinstance(node, Flow):
        return list(node)
    return node
