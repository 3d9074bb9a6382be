"""All output goes through here, so that nothing reaches a terminal, log or file unredacted."""

from __future__ import annotations

import sys
from pathlib import Path

from reconciler.redact import redact


def out(text: str = "", end: str = "\n") -> None:
    sys.stdout.write(redact(text) + end)
    sys.stdout.flush()


def err(text: str = "", end: str = "\n") -> None:
    sys.stderr.write(redact(text) + end)
    sys.stderr.flush()


def write_file(path: str, text: str) -> None:
    """Write an --out file; a path that cannot be written is the user's error, said in one line."""
    from reconciler.errors import ReconcilerError

    target = Path(path)
    try:
        if target.parent and not target.parent.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(redact(text), encoding="utf-8")
    except OSError as e:
        raise ReconcilerError(f"cannot write {path}: {e.strerror or e}") from None


def count(n: int, noun: str, plural: str | None = None) -> str:
    """`1 model`, `2 models`: every count shown to people agrees with its noun."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()
