"""The console script's entry point.

`validate` runs in pre-commit hooks and editors, on every commit and save, and must stay well under
a second on big trees. Typer builds a pydantic adapter for each parameter it parses: ~0.2 s of
a 0.3 s start. So the plain forms `validate PATH...`, `schema` and `--version` run their command directly;
anything else (an option, `--help`, no path) goes through the typer CLI, which gives the same
result for those forms.
"""

from __future__ import annotations

import sys
from collections.abc import Callable


def fast_command(argv: list[str]) -> Callable[[], int] | None:
    if len(argv) >= 2 and argv[0] == "validate" and not any(a.startswith("-") for a in argv[1:]):
        from reconciler.commands import validate

        return lambda: validate.run(argv[1:])
    if argv == ["--version"]:
        return _print_version
    if argv == ["schema"]:
        from reconciler.commands import schema

        return schema.run
    return None


def _print_version() -> int:
    from reconciler import __version__

    print(f"mlflow-gitops {__version__}")
    return 0


def main() -> None:
    command = fast_command(sys.argv[1:])
    if command is not None:
        from reconciler.handler import run

        sys.exit(run(command))
    from reconciler.cli import main as cli_main

    cli_main()
