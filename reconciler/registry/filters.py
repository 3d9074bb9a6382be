"""MLflow search filters: `name IN (...)` lists that any model name round-trips through."""

from __future__ import annotations

from collections.abc import Iterable

from reconciler.registry.decode import PROMPT_TAG

PROMPTS_ONLY = f"tags.`{PROMPT_TAG}` = 'true'"
# Searches are GET requests: keep `name IN (...)` filters well under common URL limits.
MAX_FILTER_CHARS = 4000


def quote(value: str) -> str:
    """`value` as a string literal of an `IN (...)` list in MLflow's search filters, exactly.

    MLflow reads `=`/`LIKE` values by trimming the quotes (no escapes at all: a name with both
    quote kinds cannot be written there), but reads an `IN (...)` list with Python's
    `ast.literal_eval`, after sqlparse has split the filter into tokens (where a backslash before
    a quote escapes it). So every character that either reader could take for syntax -- both
    quotes, the backslash, control and line-break characters -- is written as a Python `\\x`/`\\u`
    escape, which sqlparse sees as plain text and literal_eval decodes: any name round-trips.
    `%` and `_` need nothing: `IN` compares for equality, not as a pattern.
    Filters are always `name IN (...)`, one name or many (see `name_filters`)."""
    out = []
    for ch in value:
        code = ord(ch)
        if ch in _FILTER_SYNTAX or code < 0x20 or 0x7F <= code < 0xA0:
            out.append(f"\\x{code:02x}")
        elif ch in _LINE_BREAKS or 0xD800 <= code < 0xE000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "'" + "".join(out) + "'"


_FILTER_SYNTAX = frozenset("\\'\"")
_LINE_BREAKS = frozenset("\u2028\u2029\x85")


def name_filter(names: Iterable[str]) -> str:
    return f"name IN ({','.join(quote(n) for n in names)})"


def name_filters(names: list[str]) -> Iterable[str]:
    batch: list[str] = []
    size = 0
    for name in names:
        q = quote(name)
        if batch and size + len(q) + 1 > MAX_FILTER_CHARS:
            yield f"name IN ({','.join(batch)})"
            batch, size = [], 0
        batch.append(q)
        size += len(q) + 1
    if batch:
        yield f"name IN ({','.join(batch)})"
