"""Safe YAML reading that remembers where every key and value was written.

Documents are built straight from libyaml's event stream (one pass, no yaml.load), which lets
us refuse aliases at the alias itself (so alias bombs cannot expand), reject unknown tags and
duplicate keys with their positions, and resolve plain scalars with the YAML 1.2 core schema
(what editors' YAML language servers use): `yes`/`no`/`on`/`off` and dates stay strings.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass

import yaml
from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    StreamEndEvent,
)

from reconciler.errors import MAX_PROBLEMS_PER_FILE, Location, Problem

try:  # libyaml is several times faster; the pure-Python parser yields the same events
    from yaml.cyaml import CParser as _Parser
except ImportError:  # pragma: no cover - PyYAML built without libyaml

    class _Parser(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
        """Event parser only: no composer, no constructor, so nothing can build Python objects."""

        def __init__(self, stream):
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)

MAX_FILE_BYTES = 1024 * 1024
MAX_DEPTH = 64  # manifests nest 4 deep; the cap keeps a `[[[[...` file from exhausting the stack
MAX_INT_DIGITS = 1000  # far beyond any version number; Python refuses to convert over 4300 digits

Path = tuple  # e.g. ("versions", 0, "stage")

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CORE = "tag:yaml.org,2002:"
_NULL = re.compile(r"~|null|Null|NULL|")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT = re.compile(
    r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
)
# first characters a non-string plain scalar can start with; anything else is a string, no regex
_NON_STR_START = frozenset("-+.0123456789~nNtTfF")


class Positions:
    """Maps a path inside one document to the (line, column) of its key and of its value."""

    __slots__ = ("file", "keys", "values")

    def __init__(self, file: str):
        self.file = file
        self.keys: dict[Path, tuple[int, int]] = {}
        self.values: dict[Path, tuple[int, int]] = {}

    def value(self, path: Path) -> Location:
        """Where the value at `path` (a tuple) starts; the nearest enclosing node if it is absent."""
        found = self.values.get(path)
        while found is None and path:
            path = path[:-1]
            found = self.values.get(path)
        line, column = found or (1, 1)
        return Location(self.file, line, column)

    def key(self, path: Path) -> Location:
        """Where the mapping key naming `path` is written; the value's place for list items."""
        found = self.keys.get(path)
        if found is None:
            return self.value(path)
        return Location(self.file, found[0], found[1])


@dataclass(frozen=True)
class Document:
    data: dict
    positions: Positions
    index: int  # 0-based position among the file's non-empty documents

    @property
    def file(self) -> str:
        return self.positions.file

    @property
    def location(self) -> Location:
        return self.positions.value(())


class _Abort(Exception):
    """Stops reading a file after a problem that makes the rest of it meaningless."""


def _nonblocking(path: str, flags: int) -> int:
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def read_file(path: str, display: str | None = None) -> tuple[list[Document], list[Problem]]:
    """Read and parse one manifest file; `display` is the name used in locations."""
    display = path if display is None else display
    try:
        # O_NONBLOCK: a FIFO (or a file swapped for one since it was listed) opens at once instead
        # of waiting for a writer, and is refused below; regular files ignore the flag.
        with open(path, "rb", opener=_nonblocking) as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                return [], [Problem(Location(display, 1, 1), "not a regular file; only regular files are read")]
            size = os.fstat(fh.fileno()).st_size
            raw = fh.read(MAX_FILE_BYTES + 1) if size <= MAX_FILE_BYTES else b""
    except OSError as exc:
        return [], [Problem(Location(display, 1, 1), f"cannot read file: {exc.strerror or exc}")]
    if size > MAX_FILE_BYTES or len(raw) > MAX_FILE_BYTES:
        size = max(size, len(raw))
        message = f"file too large ({size / 1048576:.1f} MiB; the limit is {MAX_FILE_BYTES // 1048576} MiB)"
        return [], [Problem(Location(display, 1, 1), message)]
    return parse_bytes(raw, display)


def parse_bytes(raw: bytes, file: str) -> tuple[list[Document], list[Problem]]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [], [_decode_problem(raw, exc, file)]
    return parse_text(text, file)


def parse_text(text: str, file: str) -> tuple[list[Document], list[Problem]]:
    """All non-empty documents of `text`, and every problem found; documents with problems are dropped."""
    if text.startswith("\ufeff"):
        text = text[1:]
    builder = _Builder(file)
    try:
        builder.run(text)
    except _Abort:
        pass
    except yaml.MarkedYAMLError as exc:
        builder.problems.append(_syntax_problem(exc, file, text))
    except yaml.reader.ReaderError as exc:
        builder.problems.append(_reader_problem(text, exc, file))
    except yaml.YAMLError as exc:  # pragma: no cover - every libyaml error is one of the above
        builder.problems.append(Problem(Location(file, 1, 1), f"invalid YAML: {exc}"))
    finally:
        dispose = getattr(builder.parser, "dispose", None)
        if dispose:
            dispose()
    return builder.documents, builder.problems


class _Builder:
    """Turns the event stream into plain data and fills a Positions per document."""

    def __init__(self, file: str):
        self.parser = None
        self.file = file
        self.documents: list[Document] = []
        self.problems: list[Problem] = []
        self.pos: Positions = Positions(file)

    def loc(self, mark) -> Location:
        return Location(self.file, mark.line + 1, mark.column + 1)

    def problem(self, mark, message: str) -> None:
        self.problems.append(Problem(self.loc(mark), message))
        if len(self.problems) > MAX_PROBLEMS_PER_FILE:  # garbage: reading on only slows the report down
            raise _Abort

    def run(self, text: str) -> None:
        self.parser = _Parser(text)  # the pure-Python reader already raises on bad characters here
        get = self.parser.get_event
        get()  # StreamStart
        while not isinstance(self.parser.peek_event(), StreamEndEvent):
            get()  # DocumentStart
            self.pos = Positions(self.file)
            before = len(self.problems)
            first = get()
            data = self.node(first, (), 0)
            get()  # DocumentEnd
            if data is None:
                continue  # empty document, e.g. after a trailing `---`
            if not isinstance(data, dict):
                kind = "a list" if isinstance(data, list) else f"the scalar {data!r}"
                message = f"a manifest document must be a mapping (apiVersion, kind, name, ...), got {kind}"
                self.problem(first.start_mark, message)
            elif len(self.problems) == before:
                self.documents.append(Document(data, self.pos, len(self.documents)))

    def node(self, event, path: Path, depth: int):
        mark = event.start_mark
        self.pos.values[path] = (mark.line + 1, mark.column + 1)
        kind = type(event)
        if kind is ScalarEvent:
            return self.scalar(event)
        if kind is AliasEvent:
            self.problem(mark, f"YAML aliases (*{event.anchor}) are not supported; write the value out")
            raise _Abort
        if depth >= MAX_DEPTH:
            self.problem(mark, f"nested too deeply (more than {MAX_DEPTH} levels)")
            raise _Abort
        if kind is MappingStartEvent:
            self.check_collection_tag(event, "map")
            return self.mapping(path, depth)
        self.check_collection_tag(event, "seq")
        items = []
        get = self.parser.get_event
        child = get()
        while type(child) is not SequenceEndEvent:
            items.append(self.node(child, path + (len(items),), depth + 1))
            child = get()
        return items

    def mapping(self, path: Path, depth: int) -> dict:
        # the hot loop of `validate`: string keys and scalar values are handled inline
        result: dict = {}
        get = self.parser.get_event
        keys, values = self.pos.keys, self.pos.values
        key_event = get()
        while type(key_event) is not MappingEndEvent:
            mark = key_event.start_mark
            if type(key_event) is ScalarEvent:
                key = key_event.value
                if key_event.tag is not None or (key_event.implicit[0] and (not key or key[0] in _NON_STR_START)):
                    key = self.scalar(key_event)  # not a plain string: resolve (and check) it
            else:
                self.node(key_event, path + ("<key>",), depth + 1)  # consume it, reporting nested problems
                key = None
            value_event = get()
            if type(key) is not str:
                shown = _show(key) if type(key_event) is ScalarEvent else "a mapping or list"
                self.problem(mark, f"mapping keys must be strings, got {shown}; quote the key")
                self.node(value_event, path + ("<key>",), depth + 1)
            elif key in result:
                first_line = keys[path + (key,)][0]
                self.problem(mark, f"duplicate key {key!r} (first defined at line {first_line})")
                self.node(value_event, path + ("<duplicate>",), depth + 1)
            else:
                child = path + (key,)
                keys[child] = (mark.line + 1, mark.column + 1)
                if type(value_event) is ScalarEvent:
                    value_mark = value_event.start_mark
                    values[child] = (value_mark.line + 1, value_mark.column + 1)
                    value = value_event.value
                    if value_event.tag is not None or (
                        value_event.implicit[0] and (not value or value[0] in _NON_STR_START)
                    ):
                        value = self.scalar(value_event)
                    result[key] = value
                else:
                    result[key] = self.node(value_event, child, depth + 1)
            key_event = get()
        return result

    def check_collection_tag(self, event, expected: str) -> None:
        tag = event.tag
        if tag is not None and tag != "!" and tag != _CORE + expected:
            self.problem(event.start_mark, f"unsupported YAML tag {_short_tag(tag)}")

    def scalar(self, event):
        tag, value = event.tag, event.value
        if tag is None:
            if event.implicit[0] and (not value or value[0] in _NON_STR_START):
                if len(value) > MAX_INT_DIGITS and _INT.fullmatch(value):
                    self.problem(event.start_mark, f"integer too large ({len(value)} digits)")
                    return value
                return _resolve_plain(value)
            return value
        if tag == "!" or tag == _CORE + "str":
            return value
        if tag.startswith(_CORE) and tag[len(_CORE):] in ("int", "float", "bool", "null"):
            resolved = _resolve_plain(value) if len(value) <= MAX_INT_DIGITS else value
            wanted = {"int": int, "float": (int, float), "bool": bool, "null": type(None)}[tag[len(_CORE):]]
            if isinstance(resolved, wanted) and not (isinstance(resolved, bool) and wanted is not bool):
                return float(resolved) if tag.endswith("float") else resolved
            self.problem(event.start_mark, f"{value!r} is not a valid {_short_tag(tag)}")
            return value
        self.problem(event.start_mark, f"unsupported YAML tag {_short_tag(tag)}")
        return value


def label(path: Path) -> str:
    """`versions[0].tags.team`: a path as a user reads it."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


def _resolve_plain(value: str):
    if not value:
        return None
    if value[0] not in _NON_STR_START:
        return value
    if _NULL.fullmatch(value):
        return None
    if value in _BOOL:
        return _BOOL[value]
    if _INT.fullmatch(value):
        return int(value, 0) if value[:2] in ("0o", "0x") else int(value)
    if _FLOAT.fullmatch(value):
        lowered = value.lower()
        return float(lowered.replace(".", "")) if lowered.endswith(("inf", "nan")) else float(value)
    return value


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_CORE):] if tag.startswith(_CORE) else tag


def _show(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


_BREAKS = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # what the YAML reader counts as line breaks


def _syntax_problem(exc: yaml.MarkedYAMLError, file: str, text: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    message = exc.problem or exc.context or "invalid YAML"
    if exc.context and exc.problem and exc.context_mark is not None:
        message = f"{message} ({exc.context} started at line {exc.context_mark.line + 1})"
    location = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)
    breaks = list(_BREAKS.finditer(text)) if location.line > 1 else []
    if location.line > len(breaks) + 1:
        # libyaml puts the end of a file without a final newline on a line of its own: point at
        # the end of the last line instead, which an editor can show
        last_start = breaks[-1].end() if breaks else 0
        location = Location(file, len(breaks) + 1, len(text) - last_start + 1)
    return Problem(location, f"invalid YAML: {message}")


def _reader_problem(text: str, exc, file: str) -> Problem:
    # libyaml reports a byte offset into its own encoding; finding the character is simpler
    char = exc.character if isinstance(exc.character, str) else chr(exc.character)
    offset = max(text.find(char), 0)
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    message = f"invalid YAML: character {ord(char):#06x} is not allowed ({exc.reason})"
    return Problem(Location(file, line, column), message)


def _decode_problem(raw: bytes, exc: UnicodeDecodeError, file: str) -> Problem:
    start = exc.start
    line_start = raw.rfind(b"\n", 0, start) + 1
    line = raw.count(b"\n", 0, start) + 1
    column = len(raw[line_start:start].decode("utf-8", errors="replace")) + 1
    bad = raw[start : start + 1].hex()
    return Problem(Location(file, line, column), f"not valid UTF-8 (byte 0x{bad}); save the file as UTF-8")
