"""Typed errors raised by domain code; the CLI's error handler turns them into messages and exit codes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Location:
    """A position in a manifest file; line and column are 1-based as editors show them."""

    file: str
    line: int
    column: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    @property
    def short(self) -> str:
        """`file:line`, the form plans use to point at the manifest."""
        return f"{self.file}:{self.line}"


class ReconcilerError(Exception):
    """Base of every error the CLI reports without a traceback (exit code 1)."""

    def messages(self) -> list[str]:
        return [str(self)]


@dataclass(frozen=True)
class Problem:
    location: Location
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class InputError(ReconcilerError):
    """One or more problems in the manifests; each names FILE:LINE:COLUMN."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.location, p.message))
        super().__init__("\n".join(str(p) for p in self.problems))

    def messages(self) -> list[str]:
        return [str(p) for p in self.problems]


class PlanFileError(ReconcilerError):
    """A saved plan file that cannot be read or does not match this tool's format."""


class StalePlanError(ReconcilerError):
    """The registry changed since the saved plan was made; nothing was applied."""


class RegistryError(ReconcilerError):
    """The registry could not be read or written (connection, permission, server error)."""


class ApplyError(ReconcilerError):
    """Apply stopped part-way; carries which changes were applied and which were not."""

    def __init__(self, message: str, applied: list, failed, pending: list):
        self.applied = applied
        self.failed = failed
        self.pending = pending
        super().__init__(message)


class Aborted(ReconcilerError):
    """The user declined the confirmation prompt."""


class GatesBlockedError(ReconcilerError):
    """Promotion gates failed (policy.gates); nothing was applied."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__("\n".join(lines))

    def messages(self) -> list[str]:
        return list(self.lines)
