"""All output goes through here, so that nothing reaches a terminal, log or file unredacted."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from reconciler.errors import ReconcilerError
from reconciler.redact import redact

# What must never reach a terminal raw, whatever put it in a message (a registry value, a server's
# error text, a plan file): control characters but tab and line feed (escape sequences, carriage
# returns that overwrite a line), and invisible format/bidi characters that reorder what is read.
# Renderers escape values themselves; this is the last line of defence for everything printed.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def safe(text: str) -> str:
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def out(text: str = "", end: str = "\n") -> None:
    sys.stdout.write(safe(redact(text)) + end)
    sys.stdout.flush()


def err(text: str = "", end: str = "\n") -> None:
    sys.stderr.write(safe(redact(text)) + end)
    sys.stderr.flush()


class OutputError(ReconcilerError):
    """A file the tool was asked to write (`--out`) cannot be written; nothing was written."""


def shown(path) -> str:
    """A path as it may be printed: control and format characters escaped (repr's rules)."""
    return repr(str(path))[1:-1]


def check_out(path: str, flag: str = "--out") -> None:
    """Refuse an output path that cannot be a regular file, before any work is done: a directory,
    a FIFO or device (writing would block or go elsewhere), or a path under a regular file."""
    target = Path(path)
    if target.exists() and not target.is_file():
        kind = "a directory" if target.is_dir() else "not a regular file"
        raise OutputError(f"{flag} {shown(path)}: {kind}; give a file path. Nothing was written.")
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"{flag} {shown(path)}: {shown(parent)} is not a directory. Nothing was written.")
            break


def write_file(path: str, text: str, flag: str = "--out") -> None:
    check_out(path, flag)
    target = Path(path)
    try:
        if target.parent and not target.parent.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(redact(text), encoding="utf-8")
    except OSError as e:
        raise OutputError(f"{flag} {shown(path)}: cannot write: {e.strerror or type(e).__name__}") from None


def count(n: int, noun: str, plural: str | None = None) -> str:
    """`1 model`, `2 models`: every count shown to people agrees with its noun."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()
