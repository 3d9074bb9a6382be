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


# Problems listed per file, as `validate` lists them: a manifest naming 50,000 missing versions is a
# screenful and a count, not 50,000 lines.
MAX_PROBLEMS_PER_FILE = 100


def capped(problems: list[Problem]) -> list[Problem]:
    """`problems` (sorted) with at most MAX_PROBLEMS_PER_FILE per file, then one line saying how
    many more. Lists already capped that way (validate's) pass unchanged."""
    per_file: dict[str, int] = {}
    for p in problems:
        per_file[p.location.file] = per_file.get(p.location.file, 0) + 1
    if all(n <= MAX_PROBLEMS_PER_FILE + 1 for n in per_file.values()):
        return problems
    shown: list[Problem] = []
    seen: dict[str, int] = {}
    for p in problems:
        count = seen[p.location.file] = seen.get(p.location.file, 0) + 1
        if count <= MAX_PROBLEMS_PER_FILE:
            shown.append(p)
        elif count == MAX_PROBLEMS_PER_FILE + 1:
            more = per_file[p.location.file] - MAX_PROBLEMS_PER_FILE
            shown.append(Problem(p.location, f"... and {more} more problems in this file, not listed: "
                                             f"fix the first {MAX_PROBLEMS_PER_FILE} and run again"))
    return shown


class InputError(ReconcilerError):
    """One or more problems in the manifests; each names FILE:LINE:COLUMN."""

    def __init__(self, problems: list[Problem]):
        self.problems = capped(sorted(problems, key=lambda p: (p.location, p.message)))
        super().__init__("\n".join(str(p) for p in self.problems))

    def messages(self) -> list[str]:
        return [str(p) for p in self.problems]


class PlanFileError(ReconcilerError):
    """A saved plan file that cannot be read or does not match this tool's format."""


class StalePlanError(ReconcilerError):
    """The registry changed since the saved plan was made; nothing was applied."""


class RegistryError(ReconcilerError):
    """The registry could not be read or written (connection, permission, server error)."""


class ApplyFailed(ReconcilerError):
    """Apply stopped part-way: models failed, or Ctrl-C. Carries the executor's ApplyResult
    (reconciler.apply.executor): every change made, each failed change with its error, every change
    not made, and whether it was interrupted or stopped early."""

    def __init__(self, result):
        self.result = result
        failures = result.failures
        if result.interrupted:
            message = "interrupted"
        else:
            message = failures[0][1] if len(failures) == 1 else f"{len(failures)} models failed"
        super().__init__(message)

    @property
    def applied(self) -> list:
        return self.result.applied

    @property
    def failures(self) -> list:
        return self.result.failures

    @property
    def failed(self):
        """The first failed change (None when interrupted with no failure)."""
        return self.result.failures[0][0] if self.result.failures else None

    @property
    def pending(self) -> list:
        return self.result.not_applied


class Aborted(ReconcilerError):
    """The user declined the confirmation prompt."""


class GatesBlockedError(ReconcilerError):
    """Promotion gates failed (policy.gates); nothing was applied."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__("\n".join(lines))

    def messages(self) -> list[str]:
        return list(self.lines)
