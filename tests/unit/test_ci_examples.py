"""The copy-paste CI examples (examples/ci/) and the pre-commit hooks (.pre-commit-hooks.yaml).

People copy these files into their repositories, where nothing but a failed CI run tells them that
a flag was renamed. So every `mlflow-gitops` command line in them is parsed by the real CLI, every
path they name must exist, the triggers they promise must be there, and their shell glue is run
(with a stand-in `mlflow-gitops` that exits 0, 1 or 2) to show that each exit code ends as the
README says: plan errors fail the check, drift fails the audit, the plan comment is one note.
"""

from __future__ import annotations

import enum
import json
import os
import re
import shlex
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import typer
import yaml
from support.workflows import ACTION_FILE, Runner, action_argv, is_tool_action

from reconciler.cli import app

REPO_ROOT = Path(__file__).resolve().parents[2]
CI_DIR = REPO_ROOT / "examples" / "ci"
GITHUB_DIR = CI_DIR / "github"
GITLAB_CI = CI_DIR / "gitlab" / ".gitlab-ci.yml"
HOOKS = REPO_ROOT / ".pre-commit-hooks.yaml"
PRE_COMMIT_CONFIG = CI_DIR / "pre-commit-config.yaml"
SCHEMA_COMMENT = re.compile(r"\A# yaml-language-server: \$schema=(\S+)\n")
ENV_TREES = ("staging", "prod")

SCRIPT_KEYS = {"run", "script", "before_script", "after_script"}
CONTROL_TOKENS = {"|", "||", "|&", "&", "&&", ";", ";;", "(", ")"}
PATH_COMMANDS = {"validate", "plan", "apply", "drift", "propose"}
JUNIT_REPORTERS = ("mikepenz/action-junit-report", "dorny/test-reporter")
STICKY_COMMENTERS = ("marocchino/sticky-pull-request-comment", "actions/github-script")
CREDENTIAL_VARS = ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_USERNAME")


# ---- reading the files ---------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """yaml.safe_load, plus: a duplicate key is an error (GitHub and GitLab refuse those files,
    PyYAML would silently keep the last one)."""


def _mapping_without_duplicates(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def load(path: Path):
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)  # noqa: S506 - a SafeLoader


def ci_yaml_files() -> list[Path]:
    return sorted(p for p in CI_DIR.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())


def github_workflows() -> list[Path]:
    return sorted(GITHUB_DIR.glob("*.yml"))


def triggers(workflow: dict) -> dict:
    # YAML 1.1 (PyYAML) reads the bare key `on` as the boolean True; GitHub reads it as "on".
    on = workflow.get("on", workflow.get(True))
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return on or {}


def script_blocks(node, where: str = ""):
    """(where, shell text) of every `run:` / `script:` / `before_script:` / `after_script:`."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{where}.{key}" if where else str(key)
            if key in SCRIPT_KEYS and isinstance(value, (str, list)):
                lines = value if isinstance(value, list) else [value]
                yield here, "\n".join(str(line) for line in lines)
            else:  # e.g. `defaults: {run: {shell: bash}}` is no script
                yield from script_blocks(value, here)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from script_blocks(item, f"{where}[{i}]")


_HEREDOC = re.compile(r"<<-?\s*(['\"]?)([A-Za-z_]\w*)\1")


def split_heredocs(text: str) -> tuple[str, list[str]]:
    """The shell text without here-document bodies (they are data, e.g. Python), and the bodies."""
    kept, bodies, end, body = [], [], None, []
    for line in text.splitlines():
        if end is not None:
            if line.strip() == end:
                bodies.append("\n".join(body) + "\n")
                end, body = None, []
            else:
                body.append(line)
            continue
        match = _HEREDOC.search(line)
        if match:
            end = match.group(2)
            line = line[: match.start()] + line[match.end() :]
        kept.append(line)
    assert end is None, f"unterminated here-document {end!r}"
    return "\n".join(kept), bodies


def command_lines(script: str):
    """Token lists of the script's lines, continuations joined, redirection fds dropped."""
    text, _ = split_heredocs(script)
    text = text.replace("\\\n", " ")
    for line in text.splitlines():
        line = re.sub(r"(?<![\w$-])\d+(?=[<>])", " ", line)  # the 2 of 2> is no argument
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        yield list(lexer)


def invocations(tokens: list[str]):
    """The argument lists after each `mlflow-gitops` (or `python -m reconciler`) in one line."""
    i = 0
    while i < len(tokens):
        token = tokens[i]
        is_cli = token == "mlflow-gitops" or token.endswith("/mlflow-gitops")
        is_cli = is_cli or (token == "reconciler" and i > 0 and tokens[i - 1] == "-m")
        if not is_cli:
            i += 1
            continue
        args, j = [], i + 1
        while j < len(tokens) and tokens[j] not in CONTROL_TOKENS:
            if tokens[j][0] in "<>" or tokens[j] in ("&>", "&>>"):
                j += 2  # a redirection and its target
                continue
            args.append(tokens[j])
            j += 1
        yield args
        i = j


def repo_files_matching(pattern: str) -> list[str]:
    """Repository files (posix, relative) that a pre-commit `files:` regex selects."""
    regex, found = re.compile(pattern), []
    for root, dirs, files in os.walk(REPO_ROOT):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
        for name in files:
            rel = (Path(root) / name).relative_to(REPO_ROOT).as_posix()
            if regex.search(rel):
                found.append(rel)
    return sorted(found)


def hook_definitions() -> dict[str, dict]:
    return {hook["id"]: hook for hook in load(HOOKS)}


def all_invocations():
    """(file, where, argv) of every mlflow-gitops command line in the CI examples and the hooks."""
    for path in ci_yaml_files():
        if path == PRE_COMMIT_CONFIG:
            continue  # its hooks are the ones below, with other `files`/`args`
        for where, script in script_blocks(load(path)):
            for tokens in command_lines(script):
                for argv in invocations(tokens):
                    yield path, where, argv
        if path.parent == GITHUB_DIR:
            for step in steps_of(load(path)):
                # (no command: the action only installs the tool, as action.yml documents)
                if is_tool_action(step) and action_argv(step.get("with", {})):
                    yield path, f"uses: {step['uses']}", action_argv(step.get("with", {}))
    configured = [h for repo in load(PRE_COMMIT_CONFIG)["repos"] for h in repo["hooks"]]
    for hook in [*hook_definitions().values(), *configured]:
        hook = {**hook_definitions()[hook["id"]], **hook}
        entry = shlex.split(hook["entry"])
        argv = [*entry[1:], *hook.get("args", [])]
        if hook.get("pass_filenames", True):
            # what pre-commit appends: files its `files:` selects (there must be some)
            argv += repo_files_matching(hook["files"])[:2]
        yield HOOKS, f"{hook['id']} ({hook.get('name')})", argv


# ---- checking one command line against the real CLI ---------------------------------------------


def cli_group():
    return typer.main.get_command(app)  # a fresh click group: tests may alter it


def choices(param) -> list[str] | None:
    declared = getattr(getattr(param, "type", None), "choices", None)
    if declared:
        return [getattr(c, "value", c) for c in declared]
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [member.value for member in annotation]
    return None


def problems(argv: list[str], group=None) -> list[str]:
    """What is wrong with `mlflow-gitops *argv` for the real CLI (an empty list: nothing)."""
    group = group or cli_group()
    if not argv:
        return ["no command after mlflow-gitops"]
    name, args = argv[0], argv[1:]
    command = group.commands.get(name)
    if command is None:
        return [f"no command {name!r} (there are: {', '.join(sorted(group.commands))})"]
    options = {
        opt: param
        for param in command.params
        if param.param_type_name == "option"
        for opt in (*param.opts, *param.secondary_opts)
    }
    found, positionals, i = [], [], 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-") and arg != "-":
            flag, has_value, value = arg.partition("=")
            param = options.get(flag)
            if param is None:
                found.append(f"{name}: no option {flag}")
            elif param.is_flag or param.count:
                if has_value:
                    found.append(f"{name}: {flag} takes no value")
            else:
                if not has_value:
                    i += 1
                    value = args[i] if i < len(args) else None
                allowed = choices(param)
                if value is None:
                    found.append(f"{name}: {flag} needs a value")
                elif allowed and "$" not in value and value not in allowed:
                    found.append(f"{name}: {flag} {value!r} is not one of {allowed}")
        else:
            positionals.append(arg)
        i += 1
    if name in PATH_COMMANDS:
        if not positionals:
            found.append(f"{name}: no manifest path")
        for path in positionals:
            if not (REPO_ROOT / path).exists():
                found.append(f"{name}: {path} does not exist in the repository")
    if not found and not any("$" in a for a in args):
        try:  # the CLI's own parser: types, ranges, required arguments
            command.make_context(name, list(args))
        except Exception as exc:  # noqa: BLE001 - click's UsageError family, whatever its module
            found.append(f"{name}: {exc}")
    return found


# ---- the files exist, parse, and carry no syntax surprises ---------------------------------------


def test_the_promised_example_files_exist():
    names = {p.relative_to(REPO_ROOT).as_posix() for p in ci_yaml_files()}
    assert {
        "examples/ci/github/mlflow-gitops-plan.yml",
        "examples/ci/github/mlflow-gitops-apply.yml",
        "examples/ci/github/mlflow-gitops-drift.yml",
        "examples/ci/gitlab/.gitlab-ci.yml",
        "examples/ci/pre-commit-config.yaml",
    } <= names
    assert (CI_DIR / "README.md").is_file() and HOOKS.is_file()


@pytest.mark.parametrize("path", [*ci_yaml_files(), HOOKS], ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_every_ci_file_is_safe_yaml_without_duplicate_keys(path):
    doc = load(path)
    assert doc, f"{path} is empty"
    assert yaml.safe_load(path.read_text(encoding="utf-8")) == doc


def test_every_mlflow_gitops_command_line_is_accepted_by_the_real_cli():
    seen, found = [], []
    for path, where, argv in all_invocations():
        seen.append(argv[0] if argv else "")
        found += [f"{path.relative_to(REPO_ROOT)} {where}: mlflow-gitops {shlex.join(argv)}: {p}" for p in problems(argv)]
    assert not found, "\n".join(found)
    # the extraction itself works: every example command is found (and none of them is lost)
    assert {"plan", "apply", "drift", "validate", "propose"} <= set(seen)


def test_the_checker_rejects_what_the_cli_rejects():
    assert problems(["plan", "manifests/prod", "--format", "markdown", "--detailed-exitcode"]) == []
    assert problems(["drift", "manifests/prod", "-f", "junit", "-o", "x.xml"]) == []
    assert problems(["drift", "manifests/prod", "--format=junit", "--out=x.xml"]) == []
    assert "plan: no option --formats" in problems(["plan", "manifests/prod", "--formats", "markdown"])
    assert problems(["plan", "manifests/prod", "--format", "junit"]) == [
        "plan: --format 'junit' is not one of ['text', 'json', 'markdown']"
    ]
    assert problems(["apply", "manifests/prod", "--auto-approve=yes"]) == ["apply: --auto-approve takes no value"]
    assert problems(["apply", "manifests/nowhere"]) == ["apply: manifests/nowhere does not exist in the repository"]
    assert problems(["apply"]) == ["apply: no manifest path"]
    assert problems(["deploy", "manifests/prod"])[0].startswith("no command 'deploy'")
    assert problems(["apply", "manifests/prod", "--timeout", "soon"])  # make_context: not a number
    # the choices are read from the app, so a --format check cannot pass by finding none
    params = {p.name: p for p in cli_group().commands["drift"].params}
    assert choices(params["format"]) == ["text", "json", "markdown", "junit"]


def test_renaming_a_flag_breaks_the_examples():
    group = cli_group()
    lock = next(p for p in group.commands["apply"].params if "--lock" in getattr(p, "opts", ()))
    lock.opts = ["--lease"]
    broken = [
        (path.name, problem)
        for path, _, argv in all_invocations()
        for problem in problems(argv, group)
    ]
    assert broken and {problem for _, problem in broken} == {"apply: no option --lock"}
    assert {name for name, _ in broken} == {"mlflow-gitops-apply.yml", ".gitlab-ci.yml"}


def test_the_token_reader_handles_multiline_scripts_continuations_and_redirections():
    script = (
        "rc=0\n"
        "uv run mlflow-gitops plan manifests/prod --format markdown \\\n"
        "  --detailed-exitcode > plan.md 2> errors.txt || rc=$?\n"
        "python3 - <<'PY'\nprint('mlflow-gitops apply nowhere --bogus')\nPY\n"
        "echo 'mlflow-gitops is great' | tee x; python -m reconciler validate manifests/prod 2>&1\n"
    )
    found = [argv for tokens in command_lines(script) for argv in invocations(tokens)]
    assert found == [
        ["plan", "manifests/prod", "--format", "markdown", "--detailed-exitcode"],
        ["validate", "manifests/prod"],
    ]


def test_scripts_never_expand_expressions_or_print_credentials():
    """`${{ }}` inside a script is pasted into the shell before it runs (script injection, and a
    secret would be on the command line); credentials reach the tool as environment variables."""
    for path in ci_yaml_files():
        for where, script in script_blocks(load(path)):
            shell, _ = split_heredocs(script)
            assert "${{" not in shell, f"{path.name} {where}: pass expressions through env:"
            assert not re.search(r"\bset\s+-\w*x", shell), f"{path.name} {where}: set -x prints secrets"
            for var in CREDENTIAL_VARS:
                assert var not in shell, f"{path.name} {where}: {var} used in a script"


# ---- GitHub Actions --------------------------------------------------------------------------------


def workflow_invocations(workflow: dict) -> list[list[str]]:
    in_scripts = [
        argv
        for _, script in script_blocks(workflow)
        for tokens in command_lines(script)
        for argv in invocations(tokens)
    ]
    from_action = [action_argv(s.get("with", {})) for s in steps_of(workflow) if is_tool_action(s)]
    return in_scripts + [argv for argv in from_action if argv]  # no command: install only


def steps_of(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def step_env(step: dict, **values: str) -> dict[str, str]:
    """The step's env: with each `${{ }}` value replaced by a stand-in, and `values` on top."""
    env = {k: ("stand-in" if "${{" in str(v) else str(v)) for k, v in step.get("env", {}).items()}
    return {**env, **values}


def github_outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def find_step(workflow: dict, predicate) -> dict:
    matches = [s for s in steps_of(workflow) if predicate(s)]
    assert len(matches) == 1, matches
    return matches[0]


def option_value(argv: list[str], *flags: str) -> str | None:
    for i, arg in enumerate(argv):
        name, has_value, value = arg.partition("=")
        if name in flags:
            return value if has_value else argv[i + 1]
    return None


def test_every_github_workflow_pins_its_actions_and_passes_credentials_as_mlflow_variables():
    for path in github_workflows():
        workflow = load(path)
        for step in steps_of(workflow):
            if "uses" in step:
                # by commit SHA: a tag can be moved to other code, a SHA cannot
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", step["uses"]), f"{path.name}: {step['uses']}"
        text = path.read_text(encoding="utf-8")
        for uses, comment in re.findall(r"uses: (\S+)(.*)", text):
            assert re.fullmatch(r" # v\d[^ ]*.*", comment), f"{path.name}: {uses}: name the version in a comment"
        for job in workflow["jobs"].values():
            for name, value in job.get("env", {}).items():
                if "secrets." in str(value):
                    assert name.startswith("MLFLOW_TRACKING_"), f"{path.name}: secret in {name}"
            assert job.get("timeout-minutes"), f"{path.name}: a hung registry call must not hold a runner for 6 h"


def test_github_plan_workflow_runs_on_pull_requests_and_keeps_one_sticky_comment():
    workflow = load(GITHUB_DIR / "mlflow-gitops-plan.yml")
    assert "pull_request" in triggers(workflow)
    assert "pull_request_target" not in triggers(workflow)  # never a fork's code with secrets
    plans = [a for a in workflow_invocations(workflow) if a[0] == "plan"]
    assert plans and all(option_value(a, "--format", "-f") == "markdown" for a in plans)
    assert all("--detailed-exitcode" in a and "manifests/prod" in a for a in plans)
    sticky = [s for s in steps_of(workflow) if s.get("uses", "").startswith(STICKY_COMMENTERS)]
    assert sticky and sticky[0]["with"].get("header")
    assert workflow["permissions"]["pull-requests"] == "write"


def test_github_apply_workflow_runs_on_push_to_main_one_at_a_time_with_the_lock():
    workflow = load(GITHUB_DIR / "mlflow-gitops-apply.yml")
    push = triggers(workflow)["push"]
    assert push["branches"] == ["main"]
    assert "pull_request" not in triggers(workflow)
    concurrency = workflow.get("concurrency") or next(iter(workflow["jobs"].values())).get("concurrency")
    assert concurrency["group"] and concurrency["cancel-in-progress"] is False
    applies = [a for a in workflow_invocations(workflow) if a[0] == "apply"]
    assert applies and all({"--auto-approve", "--lock", "manifests/prod"} <= set(a) for a in applies)
    # a dispatched run could pick any branch: the job only applies main
    assert all(job.get("if") == "github.ref == 'refs/heads/main'" for job in workflow["jobs"].values())


def test_github_drift_workflow_runs_nightly_and_reports_junit():
    workflow = load(GITHUB_DIR / "mlflow-gitops-drift.yml")
    on = triggers(workflow)
    assert "workflow_dispatch" in on
    crons = [entry["cron"] for entry in on["schedule"]]
    assert crons and all(len(cron.split()) == 5 for cron in crons)
    drifts = [a for a in workflow_invocations(workflow) if a[0] == "drift"]
    assert drifts and all(option_value(a, "--format", "-f") == "junit" for a in drifts)
    report = option_value(drifts[0], "--out", "-o")
    steps = steps_of(workflow)
    uploads = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert uploads and uploads[0]["with"]["path"] == report and uploads[0]["if"] == "always()"
    reporters = [s for s in steps if s.get("uses", "").startswith(JUNIT_REPORTERS)]
    assert reporters and report in str(reporters[0]["with"]) and reporters[0]["if"] == "always()"
    assert workflow["permissions"]["checks"] == "write"


# ---- running the shell glue with a stand-in CLI ----------------------------------------------------


FAKE_CLI = """#!/bin/sh
printf '%s\\n' "$*" >> "$FAKE_CALLS"
printf '%s' "$FAKE_STDOUT"
printf '%s' "$FAKE_STDERR" >&2
exit "$FAKE_EXIT"
"""


@pytest.fixture
def fake_cli(tmp_path):
    """A stand-in `mlflow-gitops` on PATH whose output and exit code each test chooses: this tests
    what the CI glue does with each exit code, not the tool."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "mlflow-gitops").write_text(FAKE_CLI)
    (bin_dir / "mlflow-gitops").chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()

    def run(script: str, exit_code: int, *, stdout: str = "", stderr: str = "", env: dict | None = None):
        full_env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        full_env.update(
            PATH=f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            FAKE_CALLS=str(tmp_path / "calls"), FAKE_EXIT=str(exit_code), FAKE_STDOUT=stdout, FAKE_STDERR=stderr,
            GITHUB_OUTPUT=str(work / "github_output"), GITHUB_STEP_SUMMARY=str(work / "summary.md"),
        )
        full_env.update(env or {})
        # GitHub runs `shell: bash` steps as `bash --noprofile --norc -eo pipefail`; the GitLab
        # runner's bash scripts set errexit and pipefail too.
        return subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            cwd=work, env=full_env, capture_output=True, text=True, timeout=60, check=False,
        )

    run.work = work
    run.bin = bin_dir
    run.calls = tmp_path / "calls"
    return run








def run_workflow(fake_cli, name: str, exit_code: int, *, stdout: str = "", stderr: str = "") -> Runner:
    """The workflow's job, the action included (its install step aside), with the stand-in CLI."""
    workflow = load(GITHUB_DIR / name)
    (job,) = workflow["jobs"].values()
    temp = fake_cli.work.parent / "runner-temp"
    temp.mkdir()
    runner = Runner(work=fake_cli.work, temp=temp, skip_install=True, env={
        "PATH": f"{fake_cli.bin}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "FAKE_CALLS": str(fake_cli.calls), "FAKE_EXIT": str(exit_code), "FAKE_STDOUT": stdout, "FAKE_STDERR": stderr,
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:9",
    })
    runner.run_job(job)
    return runner


@pytest.mark.parametrize(
    ("exit_code", "check_fails"), [(0, False), (2, False), (1, True)], ids=["no-changes", "changes", "error"]
)
def test_github_plan_comment_shows_the_plan_or_the_error_and_only_errors_fail(fake_cli, exit_code, check_fails):
    stdout = "### mlflow-gitops plan\n| change |\n"
    stderr = "manifests/prod/x.yaml:3:7: model 'x' is already declared at manifests/prod/y.yaml:3\n"
    runner = run_workflow(fake_cli, "mlflow-gitops-plan.yml", exit_code, stdout=stdout, stderr=stderr)
    assert runner.failed == check_fails
    assert fake_cli.calls.read_text().splitlines() == ["plan manifests/prod --format markdown --detailed-exitcode"]
    assert runner.outputs["plan"]["exit-code"] == str(exit_code)
    comment = (fake_cli.work / "comment.md").read_text()
    if check_fails:
        assert f"plan failed (exit {exit_code})" in comment and stderr in comment
    else:
        assert comment.startswith(stdout)
    posted = [r for r in runner.results if "Post the plan" in r.name]
    assert posted and not posted[0].skipped  # the comment is posted whatever the outcome
    assert comment in runner.summary.read_text()


@pytest.mark.parametrize(("exit_code", "job_fails"), [(0, False), (2, True), (1, True)], ids=["in-sync", "drift", "error"])
def test_github_drift_fails_the_job_on_drift_and_on_errors_and_still_reports(fake_cli, exit_code, job_fails):
    text_report = "demand_forecaster v2: stage Production -> Staging (by alice, 2026-11-26 09:12 UTC)\n"
    runner = run_workflow(fake_cli, "mlflow-gitops-drift.yml", exit_code, stdout=text_report)
    assert runner.failed == job_fails
    audit = next(r for r in runner.results if r.name == "Audit the prod registry")
    assert text_report in audit.stdout and text_report in runner.summary.read_text()
    reports = [r for r in runner.results if "JUnit" in r.name]
    assert len(reports) == 2 and not any(r.skipped for r in reports)


@pytest.mark.parametrize("exit_code", [1, 2])
def test_github_apply_failure_fails_the_job_and_the_summary_shows_the_error(fake_cli, exit_code):
    error = "register_version failed against https://mlflow.example.com: 403 PERMISSION_DENIED\n"
    runner = run_workflow(fake_cli, "mlflow-gitops-apply.yml", exit_code, stdout="Apply failed.\n", stderr=error)
    assert runner.failed
    summary = runner.summary.read_text()
    assert f"failed (exit {exit_code})" in summary and error in summary and "Apply failed." in summary
    assert f"::error title=mlflow-gitops apply failed (exit {exit_code})::{error.strip()}" in runner.results[1].stdout
    assert [r.skipped for r in runner.results] == [False, False, True]  # no plan check after a failed apply


def test_github_apply_success_then_the_plan_check_runs(fake_cli):
    runner = run_workflow(fake_cli, "mlflow-gitops-apply.yml", 0, stdout="Apply complete! 3 changes applied.\n")
    assert not runner.failed
    assert fake_cli.calls.read_text().splitlines() == [
        "apply manifests/prod --auto-approve --lock --timeout 900", "plan manifests/prod --detailed-exitcode"]
    assert "Apply complete!" in runner.summary.read_text()


def test_the_action_passes_inputs_through_env_and_never_evaluates_them(fake_cli):
    """`args` are shell words: quotes group, `$(...)` and `;` stay text, never run."""
    action = load(ACTION_FILE)
    for step in action["runs"]["steps"]:
        assert "${{" not in step["run"], f"{step['name']}: pass inputs through env:"
    workflow = {"steps": [{"id": "x", "uses": "me/mlflow-gitops@" + "0" * 40, "with": {
        "command": "plan", "paths": "manifests/prod 'manifests/with space'",
        "args": "--format markdown --out '$(touch pwned); echo'"}}]}
    temp = fake_cli.work.parent / "runner-temp"
    temp.mkdir()
    runner = Runner(work=fake_cli.work, temp=temp, skip_install=True, env={
        "PATH": f"{fake_cli.bin}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "FAKE_CALLS": str(fake_cli.calls), "FAKE_EXIT": "0", "FAKE_STDOUT": "", "FAKE_STDERR": ""})
    runner.run_job(workflow)
    assert not runner.failed, runner.results
    assert fake_cli.calls.read_text() == "plan manifests/prod manifests/with space --format markdown --out $(touch pwned); echo\n"
    assert not (fake_cli.work / "pwned").exists()


# ---- GitLab CI -------------------------------------------------------------------------------------


def gitlab_jobs() -> dict[str, dict]:
    doc = load(GITLAB_CI)
    return {name: job for name, job in doc.items() if isinstance(job, dict) and "script" in job}


def rule_conditions(job: dict) -> str:
    return " ".join(rule.get("if", "") for rule in job.get("rules", []))


def gitlab_script(job: dict) -> str:
    return "\n".join(job["script"])


def test_gitlab_jobs_run_on_their_events():
    jobs = gitlab_jobs()
    assert set(jobs) == {"plan", "apply", "drift", "propose"}
    assert '$CI_PIPELINE_SOURCE == "merge_request_event"' in rule_conditions(jobs["plan"])
    assert "$CI_DEFAULT_BRANCH" in rule_conditions(jobs["apply"])
    assert '$CI_PIPELINE_SOURCE == "schedule"' in rule_conditions(jobs["drift"])
    for name, job in jobs.items():
        others = {"plan": "merge_request_event", "apply": "push", "drift": "schedule"}
        for other, event in others.items():
            if other != name and {name, other} != {"drift", "propose"}:
                assert f'"{event}"' not in rule_conditions(job), f"{name} would also run on {event}"
    # the nightly drift and the nightly proposal are two schedules, told apart by a variable
    assert '$MLFLOW_GITOPS_PROPOSE != "true"' in rule_conditions(jobs["drift"])
    assert rule_conditions(jobs["propose"]) == '$CI_PIPELINE_SOURCE == "schedule" && $MLFLOW_GITOPS_PROPOSE == "true"'


def test_gitlab_apply_is_serialised_and_locked_and_drift_reports_junit():
    jobs = gitlab_jobs()
    assert jobs["apply"]["resource_group"]
    assert jobs["apply"]["environment"]["name"] == "production"
    applies = [a for t in command_lines(gitlab_script(jobs["apply"])) for a in invocations(t) if a[0] == "apply"]
    assert applies and all({"--auto-approve", "--lock", "manifests/prod"} <= set(a) for a in applies)
    drifts = [a for t in command_lines(gitlab_script(jobs["drift"])) for a in invocations(t) if a[0] == "drift"]
    assert drifts and option_value(drifts[0], "--format", "-f") == "junit"
    artifacts = jobs["drift"]["artifacts"]
    assert artifacts["reports"]["junit"] == option_value(drifts[0], "--out", "-o")
    assert artifacts["when"] == "always"  # the report of a failed (drifted) job is the point
    assert jobs["plan"]["artifacts"]["when"] == "always"


@pytest.mark.parametrize(
    ("exit_code", "job_fails"), [(0, False), (2, False), (1, True)], ids=["no-changes", "changes", "error"]
)
def test_gitlab_plan_note_without_api_token_and_job_verdict(fake_cli, exit_code, job_fails):
    job = gitlab_jobs()["plan"]
    ran = fake_cli(gitlab_script(job), exit_code, stdout="### plan\n", stderr="boom: registry unreachable\n",
                   env={"GITLAB_API_TOKEN": "", "CI_COMMIT_SHA": "abc123", "CI_JOB_URL": "https://ci/job/1"})
    assert (ran.returncode != 0) == job_fails
    assert "GITLAB_API_TOKEN is not set" in ran.stdout
    note = (fake_cli.work / "plan-note.md").read_text()
    assert ("boom: registry unreachable" in note) == job_fails
    assert ("### plan" in note) != job_fails
    assert set(job["artifacts"]["paths"]) == {"plan.md", "plan-errors.txt"}


class _FakeGitLabNotes(BaseHTTPRequestHandler):
    """GitLab's merge-request notes API, as much of it as the plan job uses."""

    notes: list[dict]
    requests: list[tuple[str, str, str]]

    def _reply(self, payload):
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> dict:
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def do_GET(self):
        self.requests.append(("GET", self.path, self.headers["PRIVATE-TOKEN"]))
        self._reply(self.notes)

    def do_POST(self):
        self.requests.append(("POST", self.path, self.headers["PRIVATE-TOKEN"]))
        note = {"id": 100 + len(self.notes), "body": self._body()["body"]}
        self.notes.append(note)
        self._reply(note)

    def do_PUT(self):
        self.requests.append(("PUT", self.path, self.headers["PRIVATE-TOKEN"]))
        note_id = int(self.path.rsplit("/", 1)[1])
        note = next(n for n in self.notes if n["id"] == note_id)
        note["body"] = self._body()["body"]
        self._reply(note)

    def log_message(self, *args):
        pass


def test_gitlab_plan_note_is_created_once_then_edited_in_place(fake_cli):
    handler = type("Notes", (_FakeGitLabNotes,), {"notes": [{"id": 7, "body": "LGTM"}], "requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {
            "GITLAB_API_TOKEN": "glpat-test-token", "CI_API_V4_URL": f"http://127.0.0.1:{server.server_port}/api/v4",
            "CI_PROJECT_ID": "42", "CI_MERGE_REQUEST_IID": "5", "CI_COMMIT_SHA": "abc", "CI_JOB_URL": "u",
        }
        script = gitlab_script(gitlab_jobs()["plan"])
        first = fake_cli(script, 2, stdout="### first plan\n", env=env)
        second = fake_cli(script, 0, stdout="### second plan\n", env=env)
    finally:
        server.shutdown()
        thread.join()
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    methods = [method for method, _, _ in handler.requests]
    assert methods == ["GET", "POST", "GET", "PUT"]
    assert all(path.startswith("/api/v4/projects/42/merge_requests/5/notes") for _, path, _ in handler.requests)
    assert {token for _, _, token in handler.requests} == {"glpat-test-token"}
    assert handler.notes[0] == {"id": 7, "body": "LGTM"}  # someone else's note is left alone
    assert len(handler.notes) == 2 and "### second plan" in handler.notes[1]["body"]
    assert "### first plan" not in handler.notes[1]["body"]
    assert "glpat-test-token" not in first.stdout + first.stderr + second.stdout + second.stderr


# ---- pre-commit ------------------------------------------------------------------------------------


def test_pre_commit_hooks_expose_validate_on_manifests_only():
    hooks = hook_definitions()
    assert set(hooks) == {"mlflow-gitops-validate", "mlflow-gitops-validate-tree"}
    per_file = hooks["mlflow-gitops-validate"]
    assert shlex.split(per_file["entry"]) == ["mlflow-gitops", "validate"]
    assert per_file["language"] == "python" and per_file["pass_filenames"] is True
    assert hooks["mlflow-gitops-validate-tree"]["pass_filenames"] is False
    for hook in hooks.values():
        selects = re.compile(hook["files"]).search
        assert selects("manifests/prod/demand_forecaster.yaml") and selects("manifests/a/b.yml")
        # YAML that is not a manifest: CI files, the hostile-input corpus, the hooks themselves
        for other in (".github/workflows/plan.yml", "examples/ci/gitlab/.gitlab-ci.yml",
                      "tests/hostile/duplicate-key.yaml", ".pre-commit-hooks.yaml", "manifests/README.md"):
            assert not selects(other), other


def test_the_documented_pre_commit_config_validates_each_tree_of_this_repo(cli, monkeypatch):
    """Run each configured hook as pre-commit would (entry + args + the files its `files:` selects)
    over this repository, and check that together they cover every file of the env trees."""
    monkeypatch.chdir(REPO_ROOT)  # pre-commit runs hooks from the repository root
    definitions = hook_definitions()
    configured = [h for repo in load(PRE_COMMIT_CONFIG)["repos"] for h in repo["hooks"]]
    covered = set()
    for override in configured:
        hook = {**definitions[override["id"]], **override}
        files = repo_files_matching(hook["files"])
        assert files, f"{hook['name']}: its files: selects nothing"
        covered |= set(files)
        argv = [*shlex.split(hook["entry"])[1:], *hook.get("args", [])]
        if hook["pass_filenames"]:
            argv += files
        result = cli(*argv)
        assert result.returncode == 0, f"{hook['name']}: {result.stdout}{result.stderr}"
    in_trees = {f for f in repo_files_matching(r"^manifests/") if f.split("/")[1] in ENV_TREES}
    assert in_trees and in_trees <= covered
    readme = (CI_DIR / "README.md").read_text(encoding="utf-8")
    assert "pre-commit-config.yaml" in readme


# ---- the environment trees -------------------------------------------------------------------------


def manifest_trees() -> list[Path]:
    return sorted(p for p in (REPO_ROOT / "manifests").iterdir() if p.is_dir())


def test_every_manifest_names_the_schema_for_editors():
    files = sorted((REPO_ROOT / "manifests").rglob("*.y*ml"))
    assert files
    for path in files:
        match = SCHEMA_COMMENT.match(path.read_text(encoding="utf-8"))
        assert match, f"{path}: first line must be the yaml-language-server schema comment"
        assert (path.parent / match.group(1)).resolve() == REPO_ROOT / "schemas" / "manifest.v1.json", path


def test_each_manifest_tree_is_valid_on_its_own(cli):
    trees = manifest_trees()
    assert {"staging", "prod", "examples"} <= {t.name for t in trees}
    for tree in trees:
        result = cli("validate", tree)
        assert result.returncode == 0, f"{tree}: {result.stdout}{result.stderr}"


def test_staging_and_prod_declare_the_same_models_by_source_never_by_version_number():
    """Version numbers are per registry: a `version:` selector copied from staging to prod would
    name another model version, or none."""
    models = {}
    for env in ENV_TREES:
        docs = [d for p in sorted((REPO_ROOT / "manifests" / env).rglob("*.y*ml"))
                for d in yaml.safe_load_all(p.read_text(encoding="utf-8"))]
        models[env] = {d["name"]: d for d in docs}
        for doc in docs:
            for version in doc.get("versions", []):
                assert "version" not in version, f"{env}/{doc['name']}: select by source: or run_id:"
    assert set(models["staging"]) == set(models["prod"])
    for name in models["prod"]:
        prod_sources = {v.get("source") for v in models["prod"][name]["versions"]}
        staging_sources = {v.get("source") for v in models["staging"][name]["versions"]}
        assert prod_sources & staging_sources, f"{name}: no version shared by staging and prod"


# ---- the nightly proposal (propose -> plan -> pull/merge request) ----------------------------------

PROPOSE_WORKFLOW = GITHUB_DIR / "mlflow-gitops-propose.yml"
PROPOSED_RUN = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
PROPOSE_OUT = (
    f"Best run in experiment 'demand_forecaster': {PROPOSED_RUN} (mape 0.081).\n"
    "--- a/manifests/prod/demand_forecaster.yaml\n+++ b/manifests/prod/demand_forecaster.yaml\n"
    f"@@ -1,2 +1,3 @@\n versions:\n+  - run_id: {PROPOSED_RUN}\n"
    f"Updated manifests/prod/demand_forecaster.yaml: model 'demand_forecaster' declares run {PROPOSED_RUN}.\n"
)
# A stand-in CLI that answers each command on its own, and stand-ins for git and gh that log.
DISPATCHING_CLI = """#!/bin/sh
printf '%s\\n' "$*" >> "$FAKE_CALLS"
case "$1" in
  propose) printf '%s' "$FAKE_PROPOSE_OUT"; exit "$FAKE_PROPOSE_EXIT" ;;
  plan) printf '%s' "$FAKE_PLAN_OUT"; printf '%s' "$FAKE_PLAN_ERR" >&2; exit "$FAKE_PLAN_EXIT" ;;
esac
exit 99
"""
LOGGING_TOOL = """#!/bin/sh
printf '%s %s\\n' "$(basename "$0")" "$*" >> "$FAKE_CALLS"
if [ "$(basename "$0") $1 $2" = "gh pr list" ]; then printf '%s' "$FAKE_OPEN_PR"; fi
exit 0
"""


@pytest.fixture
def propose_tools(fake_cli):
    bin_dir = fake_cli.work.parent / "bin"
    for name, text in {"mlflow-gitops": DISPATCHING_CLI, "git": LOGGING_TOOL, "gh": LOGGING_TOOL}.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)

    def run(script: str, *, propose_exit: int = 2, plan_exit: int = 0, open_pr: str = "", env: dict | None = None):
        calls = fake_cli.work.parent / "calls"
        calls.unlink(missing_ok=True)
        ran = fake_cli(script, 0, env={
            "FAKE_PROPOSE_OUT": PROPOSE_OUT, "FAKE_PROPOSE_EXIT": str(propose_exit), "FAKE_PLAN_EXIT": str(plan_exit),
            "FAKE_PLAN_OUT": "### mlflow-gitops plan\n| Promotions | mape |\n",
            "FAKE_PLAN_ERR": "Plan blocked by 1 gate\n" if plan_exit == 1 else "", "FAKE_OPEN_PR": open_pr,
            **(env or {})})
        ran.calls = calls.read_text().splitlines() if calls.exists() else []
        return ran

    run.work = fake_cli.work
    return run


def test_github_propose_workflow_is_nightly_pinned_and_proposes_into_one_manifest():
    workflow = load(PROPOSE_WORKFLOW)
    on = triggers(workflow)
    assert "workflow_dispatch" in on and all(len(e["cron"].split()) == 5 for e in on["schedule"])
    assert workflow["permissions"] == {"contents": "write", "pull-requests": "write"}
    for step in steps_of(workflow):
        if "uses" in step:  # third-party code with write access: pinned by commit, not by a movable tag
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
    install = find_step(workflow, lambda s: s.get("name") == "Install mlflow-gitops")
    assert is_tool_action(install) and action_argv(install.get("with", {})) == []  # install only: on PATH
    proposes = [a for a in workflow_invocations(workflow) if a[0] == "propose"]
    assert len(proposes) == 1
    argv = proposes[0]
    assert {"--detailed-exitcode", "--archive-previous"} <= set(argv)
    assert option_value(argv, "--stage") == "Production" and option_value(argv, "--alias") == "champion"
    plans = [a for a in workflow_invocations(workflow) if a[0] == "plan"]
    assert plans and all(option_value(a, "--format", "-f") == "markdown" for a in plans)
    # the branch holds exactly the file propose edits
    pr = find_step(workflow, lambda s: s.get("name") == "Open or update the pull request")
    assert f"-- {argv[1]}" in pr["run"]


def github_propose_steps():
    workflow = load(PROPOSE_WORKFLOW)
    return (find_step(workflow, lambda s: s.get("id") == "propose"), find_step(workflow, lambda s: s.get("id") == "plan"),
            find_step(workflow, lambda s: s.get("name") == "Open or update the pull request"),
            find_step(workflow, lambda s: "PLAN_EXIT" in s.get("env", {})))


def test_github_propose_with_nothing_to_propose_stops_before_the_pull_request(propose_tools):
    propose, plan, pr, _ = github_propose_steps()
    ran = propose_tools(propose["run"], propose_exit=0, env=step_env(propose))
    assert ran.returncode == 0 and "Nothing to propose" in ran.stdout
    assert github_outputs(propose_tools.work / "github_output")["exitcode"] == "0"
    assert plan["if"] == pr["if"] == "steps.propose.outputs.exitcode == '2'"
    failed = propose_tools(propose["run"], propose_exit=1, env=step_env(propose))
    assert failed.returncode == 1


@pytest.mark.parametrize("open_pr", ["", "12"], ids=["opens", "updates"])
def test_github_propose_opens_or_updates_one_pull_request_with_the_plan_as_body(propose_tools, open_pr):
    propose, plan, pr, gate = github_propose_steps()
    assert propose_tools(propose["run"], env=step_env(propose)).returncode == 0
    planned = propose_tools(plan["run"], env=step_env(plan))
    assert planned.returncode == 0, planned.stderr
    body = (propose_tools.work / "body.md").read_text()
    assert "| Promotions | mape |" in body and f"Best run in experiment 'demand_forecaster': {PROPOSED_RUN}" in body
    assert "+  - run_id" not in body  # the diff is the pull request's own
    opened = propose_tools(pr["run"], open_pr=open_pr, env=step_env(pr))
    assert opened.returncode == 0, opened.stderr
    branch = "mlflow-gitops/propose/demand_forecaster"
    assert f"git push --quiet --force origin {branch}" in opened.calls
    title = f"Promote run {PROPOSED_RUN} of demand_forecaster to Production"
    assert f"git commit --quiet -m {title} -- manifests/prod/demand_forecaster.yaml" in opened.calls
    gh = [c for c in opened.calls if c.startswith("gh pr ") and not c.startswith("gh pr list")]
    if open_pr:
        assert gh == [f"gh pr edit 12 --title {title} --body-file body.md"]
    else:
        assert gh == [f"gh pr create --head {branch} --base stand-in --title {title} --body-file body.md"]
    assert gate["if"].startswith("steps.plan.outputs.exitcode != ''")


def test_github_propose_blocked_plan_still_opens_the_pull_request_then_fails(propose_tools):
    propose, plan, pr, gate = github_propose_steps()
    propose_tools(propose["run"], env=step_env(propose))
    planned = propose_tools(plan["run"], plan_exit=1, env=step_env(plan))
    assert planned.returncode == 0  # the pull request step still runs
    assert github_outputs(propose_tools.work / "github_output")["exitcode"] == "1"
    body = (propose_tools.work / "body.md").read_text()
    assert "The plan fails (exit 1)" in body and "Plan blocked by 1 gate" in body and "| Promotions |" in body
    verdict = propose_tools(gate["run"], env=step_env(gate, PLAN_EXIT="1"))
    assert verdict.returncode == 1


class _FakeGitLabMergeRequests(BaseHTTPRequestHandler):
    """GitLab's merge-request API, as much of it as the propose job uses."""

    mrs: list[dict]
    requests: list[tuple[str, str]]

    def _reply(self, payload):
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> dict:
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def do_GET(self):
        self.requests.append(("GET", self.path))
        self._reply([m for m in self.mrs if f"source_branch={m['source_branch'].replace('/', '%2F')}" in self.path])

    def do_POST(self):
        self.requests.append(("POST", self.path))
        mr = {"iid": len(self.mrs) + 1, **self._body()}
        self.mrs.append(mr)
        self._reply(mr)

    def do_PUT(self):
        self.requests.append(("PUT", self.path))
        mr = next(m for m in self.mrs if m["iid"] == int(self.path.rsplit("/", 1)[1]))
        mr.update(self._body())
        self._reply(mr)

    def log_message(self, *args):
        pass


def test_gitlab_propose_opens_one_merge_request_then_updates_it(propose_tools):
    job = gitlab_jobs()["propose"]
    handler = type("MRs", (_FakeGitLabMergeRequests,), {"mrs": [], "requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {"GITLAB_API_TOKEN": "glpat-test-token", "CI_API_V4_URL": f"http://127.0.0.1:{server.server_port}/api/v4",
               "CI_PROJECT_ID": "42", "CI_DEFAULT_BRANCH": "main", "CI_JOB_URL": "u", "CI_SERVER_URL": "https://gl",
               "CI_PROJECT_PATH": "acme/models"}
        script = gitlab_script(job)
        first = propose_tools(script, env=env)
        second = propose_tools(script, plan_exit=1, env=env)
        nothing = propose_tools(script, propose_exit=0, env=env)
    finally:
        server.shutdown()
        thread.join()
    assert first.returncode == 0, first.stderr
    assert second.returncode != 0  # blocked: the merge request is updated, then the job fails
    assert nothing.returncode == 0 and "Nothing to propose" in nothing.stdout
    assert not [c for c in nothing.calls if c.startswith(("git ", "plan"))]
    assert [m for m, _ in handler.requests] == ["GET", "POST", "GET", "PUT"]
    (mr,) = handler.mrs
    assert mr["source_branch"] == "mlflow-gitops/propose/demand_forecaster" and mr["target_branch"] == "main"
    assert mr["title"] == f"Promote run {PROPOSED_RUN} of demand_forecaster to Production"
    assert "The plan fails (exit 1)" in mr["description"] and "| Promotions |" in mr["description"]
    pushes = [c for c in first.calls if c.startswith("git ") and " push " in c]
    assert pushes and "glpat-test-token" not in " ".join(first.calls)  # the token is not on a command line
    assert pushes[0].endswith("https://gl/acme/models.git HEAD:refs/heads/mlflow-gitops/propose/demand_forecaster")
