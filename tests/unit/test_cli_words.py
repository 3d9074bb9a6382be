"""Help and option errors in plain words; a usage error exits 1 (2 means "changes" to
`plan --detailed-exitcode`)."""

from __future__ import annotations

import pytest

from reconciler.cli import app


@pytest.mark.parametrize(("args", "line"), [
    (["plan", "m", "--format", "yaml"], "plan: --format: yaml is not one of: text, json, markdown (see mlflow-gitops plan --help)"),
    (["plan", "m", "--timeout", "-1"], "plan: --timeout: must be 0 or more (see mlflow-gitops plan --help)"),
    (["apply", "m", "--parallelism", "abc"], "apply: --parallelism: must be a whole number (see mlflow-gitops apply --help)"),
    (["drift"], "drift: give PATH: one or more manifest files or directories (see mlflow-gitops drift --help)"),
    (["export", "extra"], "export: unexpected argument: extra (see mlflow-gitops export --help)"),
])
def test_option_errors_are_one_plain_line_and_exit_1(cli, args, line):
    result = cli(*args)
    assert (result.returncode, result.stderr) == (1, line + "\n")
    assert "Value error" not in result.stderr and "Input should" not in result.stderr


def test_a_usage_error_under_detailed_exitcode_is_not_read_as_changes(cli):
    assert cli("plan", "m", "--detailed-exitcode", "--format", "yaml").returncode == 1


def test_help_names_arguments_without_python_types(cli):
    for command in ("validate", "plan", "apply", "drift"):
        text = cli(command, "--help").stdout
        assert "<list[str]>" not in text and "{PATH" not in text and "x>=" not in text, text
    assert "Usage: mlflow-gitops plan [OPTIONS] PATH..." in cli("plan", "--help").stdout


def test_the_command_list_never_cuts_a_description():
    from typer.main import get_command

    listing = get_command(app)
    for name, command in listing.commands.items():
        short = command.get_short_help_str(limit=45)
        assert not short.endswith("..."), (name, short)
        assert (command.help or "").replace("\n", " ").startswith(short.split()[0]), name
