"""Help and option errors in plain words, and exit 1 for a usage error.

Typer (on pydantic) writes `PATH <list[str]>`, `{PATH}...`, `[x>=0]`, cuts command descriptions
at 45 characters in the command list, and answers a bad option with pydantic's words (`Value error,
'yaml' is not one of…`, `Input should be greater than or equal to 0`) and exit 2 — which, under
`plan --detailed-exitcode`, reads as "changes". Here the group the CLI is built on fixes each.
"""

from __future__ import annotations

import re
import sys

import typer
from typer.core import TyperGroup

try:  # newer typer carries its own copy of click
    from typer._click import exceptions as cx
except ImportError:  # pragma: no cover - older typer on click
    from click import exceptions as cx

PYDANTIC = [
    (re.compile(r"^Value error, "), ""),
    (re.compile(r"Input should be greater than or equal to (\S+)"), r"must be \1 or more"),
    (re.compile(r"Input should be less than or equal to (\S+)"), r"must be \1 or less"),
    (re.compile(r"Input should be greater than (\S+)"), r"must be more than \1"),
    (re.compile(r"Input should be a valid integer[^;]*"), "must be a whole number"),
    (re.compile(r"Input should be a valid number[^;]*"), "must be a number"),
    (re.compile(r"Input should be a finite number"), "must be a number"),
]


def first_sentence(text: str) -> str:
    flat = " ".join(text.split())
    end = re.search(r"\.(\s|$)", flat)
    return flat[: end.start()] if end else flat


def plain_error(e: cx.UsageError) -> str:
    """One line: `COMMAND: what is wrong (see COMMAND --help)`."""
    ctx = e.ctx
    path = ctx.command_path if ctx is not None else "mlflow-gitops"
    command = ctx.command.name if ctx is not None and ctx.parent is not None else None
    param = getattr(e, "param", None)
    if isinstance(e, cx.MissingParameter) and is_argument(param):
        what = f"give {(param.metavar or param.name or '').upper()}" + (
            ": one or more manifest files or directories" if (param.metavar or "").startswith("PATH") else "")
    elif isinstance(e, cx.BadParameter) and param is not None:
        name = max(getattr(param, "opts", None) or [param.name or ""], key=len)
        detail = e.message
        for pattern, words in PYDANTIC:
            detail = pattern.sub(words, detail)
        detail = detail.replace("'", "").replace(" is not one of ", " is not one of: ") if " is not one of " in detail \
            else detail
        what = f"{name}: {detail}"
    else:
        what = re.sub(r"^Got unexpected extra argument(?:\(s\)|s)? \((.*)\)$", r"unexpected argument: \1", e.format_message())
    prefix = f"{command}: " if command else ""
    return f"{prefix}{what.rstrip('.')} (see {path} --help)"


def is_argument(param) -> bool:
    return getattr(param, "param_type_name", None) == "argument"


def _no_type_label(ctx) -> None:
    return None


def _plain(command) -> None:
    if command.help and not command.short_help:
        command.short_help = first_sentence(command.help)  # never cut mid-word in the command list
    for param in command.params:
        if is_argument(param):
            name = (param.metavar or param.name or "").upper()
            shown = name + ("..." if param.nargs != 1 and not name.endswith("...") else "")
            param.display_type_rich = _no_type_label  # no `<list[str]>` beside it
            param._rich_display_name = lambda shown=shown: shown
            param._usage_display_name = lambda shown=shown: shown
        elif hasattr(param, "_get_number_range_help_str"):
            param._get_number_range_help_str = lambda: None  # the help says the range in words


class PlainGroup(TyperGroup):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for command in self.commands.values():
            _plain(command)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except cx.UsageError as e:
            if type(e).__name__ == "NoArgsIsHelpError":  # no command given: the help
                typer.echo(e.format_message())
            else:
                typer.echo(plain_error(e), err=True)
            code = 1
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code
