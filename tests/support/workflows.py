"""Just enough of a GitHub Actions runner to run the example workflows' steps here.

It runs a job's `run:` steps with bash as GitHub does (`bash --noprofile --norc -eo pipefail`),
and this repository's own action (`uses: <owner>/mlflow-gitops@<ref>`, action.yml) step by step
as a composite action, with `${{ inputs.* }}`, `${{ steps.<id>.outputs.* }}` and
`${{ github.action_path }}` resolved, $GITHUB_OUTPUT / $GITHUB_PATH / $GITHUB_ENV /
$GITHUB_STEP_SUMMARY honoured, and `if:` conditions of the forms the examples use. Other actions
(checkout, artifact upload, comments) are recorded, not run. Secrets come from the caller.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
ACTION_FILE = REPO_ROOT / "action.yml"
TOOL_ACTION = re.compile(r"^[\w.-]+/mlflow-gitops@[\w.-]+$")
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
PATH_COMMANDS = ("validate", "plan", "apply", "drift")
_JOB_NUMBERS = itertools.count()


def is_tool_action(step: dict) -> bool:
    return bool(TOOL_ACTION.match(str(step.get("uses", ""))))


def action_argv(with_: dict) -> list[str]:
    """The mlflow-gitops command line that the action runs for these `with:` inputs."""
    inputs = action_inputs(with_)
    command = inputs["command"]
    argv = [command] if command else []
    if command in PATH_COMMANDS:
        argv += shlex.split(inputs["paths"])
    return argv + shlex.split(inputs["args"])


def load_action() -> dict:
    return yaml.safe_load(ACTION_FILE.read_text(encoding="utf-8"))


def action_inputs(with_: dict) -> dict[str, str]:
    defaults = {name: str(spec.get("default", "")) for name, spec in load_action()["inputs"].items()}
    unknown = set(with_) - set(defaults)
    assert not unknown, f"the action has no input {sorted(unknown)}"
    return {**defaults, **{k: str(v) for k, v in with_.items()}}


@dataclass
class StepResult:
    name: str
    returncode: int
    stdout: str = ""
    stderr: str = ""
    skipped: bool = False


@dataclass
class Runner:
    """Runs steps in `work` (the checked-out repository). `action_dir` is the action's checkout;
    `env` is the job's environment on top of this process's (secrets resolved by the caller);
    `skip_install`: leave out the action's install step (tests with a stand-in CLI on PATH)."""

    work: Path
    temp: Path
    action_dir: Path = REPO_ROOT
    env: dict[str, str] = field(default_factory=dict)
    skip_install: bool = False
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    path_prefix: list[str] = field(default_factory=list)
    exported: dict[str, str] = field(default_factory=dict)
    results: list[StepResult] = field(default_factory=list)
    failed: bool = False
    timeout: float = 600

    @property
    def summary(self) -> Path:
        """This job's $GITHUB_STEP_SUMMARY (one per job, as on GitHub; jobs may share a temp)."""
        return self.temp / f"step_summary-{self.job_number}.md"

    def __post_init__(self):
        self.job_number = next(_JOB_NUMBERS)

    # ---- expressions and conditions

    def resolve(self, text, inputs: dict | None = None, local: dict | None = None) -> str:
        def value(match: re.Match) -> str:
            expr = match.group(1)
            if expr.startswith("inputs."):
                return (inputs or {})[expr.removeprefix("inputs.")]
            if expr == "github.action_path":
                return str(self.action_dir)
            if expr.startswith("steps."):
                _, step_id, _, name = expr.split(".", 3)
                return (local if local is not None else self.outputs).get(step_id, {}).get(name, "")
            if expr.startswith("secrets."):
                return self.env.get(expr.removeprefix("secrets."), "")
            return "stand-in"  # github.event..., github.run_id: values a real run has

        return EXPRESSION.sub(value, str(text))

    def should_run(self, condition, inputs: dict | None = None, local: dict | None = None) -> bool:
        if condition is None:
            return not self.failed
        text = str(condition)
        if text.startswith("${{"):
            text = EXPRESSION.sub(lambda m: m.group(1), text)
        clauses = [c.strip() for c in text.split("&&")]
        runs = not self.failed
        for clause in clauses:
            if clause == "always()":
                runs = True
                continue
            match = re.fullmatch(r"(\S+) (==|!=) '([^']*)'", clause)
            assert match, f"condition the test runner does not know: {clause!r}"
            left = self.resolve("${{ " + match.group(1) + " }}", inputs, local)
            if (left == match.group(3)) != (match.group(2) == "=="):
                return False
        return runs

    # ---- running

    def _bash(self, script: str, env: dict[str, str], cwd: Path) -> tuple[subprocess.CompletedProcess, dict]:
        files = {name: self.temp / f"{name.lower()}.{self.job_number}.{len(self.results)}" for name in ("GITHUB_OUTPUT", "GITHUB_PATH", "GITHUB_ENV")}
        for path in files.values():
            path.write_text("")
        full = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        full.update(self.env)
        full.update(self.exported)
        full.update(env)
        full.update({name: str(path) for name, path in files.items()})
        full.update(GITHUB_STEP_SUMMARY=str(self.summary), RUNNER_TEMP=str(self.temp), GITHUB_WORKSPACE=str(self.work))
        full["PATH"] = os.pathsep.join([*self.path_prefix, full.get("PATH", os.defpath)])
        ran = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=cwd, env=full,
                             capture_output=True, text=True, timeout=self.timeout, check=False)
        outputs = dict(line.split("=", 1) for line in files["GITHUB_OUTPUT"].read_text().splitlines() if "=" in line)
        self.path_prefix[:0] = reversed([p for p in files["GITHUB_PATH"].read_text().splitlines() if p])
        self.exported.update(line.split("=", 1) for line in files["GITHUB_ENV"].read_text().splitlines() if "=" in line)
        return ran, outputs

    def run_step(self, step: dict) -> StepResult:
        name = step.get("name") or step.get("uses") or step.get("run", "").splitlines()[0]
        if not self.should_run(step.get("if")):
            result = StepResult(name, 0, skipped=True)
        elif is_tool_action(step):
            result = self._run_action(step, name)
        elif "uses" in step:
            result = StepResult(name, 0)  # another action: recorded, not run
        else:
            env = {k: self.resolve(v) for k, v in step.get("env", {}).items()}
            ran, outputs = self._bash(step["run"], env, self.work)
            self.outputs[step.get("id", f"__{len(self.results)}")] = outputs
            result = StepResult(name, ran.returncode, ran.stdout, ran.stderr)
        if result.returncode != 0 and not step.get("continue-on-error"):
            self.failed = True
        self.results.append(result)
        return result

    def _run_action(self, step: dict, name: str) -> StepResult:
        action = load_action()
        assert action["runs"]["using"] == "composite"
        inputs = action_inputs({k: self.resolve(v) for k, v in step.get("with", {}).items()})
        local: dict[str, dict[str, str]] = {}
        stdout, stderr, code = "", "", 0
        for inner in action["runs"]["steps"]:
            if self.skip_install and "install.sh" in inner.get("run", ""):
                continue
            if code != 0 or not self.should_run(inner.get("if"), inputs, local):
                continue
            env = {k: self.resolve(v, inputs, local) for k, v in inner.get("env", {}).items()}
            env["GITHUB_ACTION_PATH"] = str(self.action_dir)
            cwd = self.work / self.resolve(inner.get("working-directory", "."), inputs, local)
            ran, outputs = self._bash(self.resolve(inner["run"], inputs, local), env, cwd)
            local[inner.get("id", f"__{len(local)}")] = outputs
            stdout, stderr, code = stdout + ran.stdout, stderr + ran.stderr, ran.returncode
        self.outputs[step.get("id", f"__{len(self.results)}")] = {
            out: self.resolve(spec["value"], inputs, local) for out, spec in action.get("outputs", {}).items()
        }
        return StepResult(name, code, stdout, stderr)

    def run_job(self, job: dict) -> list[StepResult]:
        for step in job["steps"]:
            self.run_step(step)
        return self.results
