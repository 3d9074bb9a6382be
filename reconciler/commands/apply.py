"""`apply`: flags in, converge (reconciler.apply.converge), the chosen renderer out, an exit code."""

from __future__ import annotations

from reconciler.apply.converge import Hooks, converge
from reconciler.apply.lock import ttl_from_env
from reconciler.apply.report import Status
from reconciler.commands.filekinds import refuse_non_plans, refuse_other_kinds
from reconciler.console import count, err, interactive, out
from reconciler.constants import DEFAULT_PARALLELISM, DEFAULT_TIMEOUT
from reconciler.errors import Aborted, GatesBlockedError, ReconcilerError
from reconciler.plan import savedfile
from reconciler.registry import retry
from reconciler.registry.client import connect
from reconciler.render.apply import failure_lines, interrupt_line, renderer
from reconciler.render.plan.evidence import blocked_lines
from reconciler.target import Target
from reconciler.workspace import load_with_registry


def confirm() -> None:
    out()
    out("Do you want to perform these actions? Only 'yes' will be accepted to approve.")
    try:
        answer = input("  Enter a value: ")
    except EOFError:
        answer = ""
    if answer.strip() != "yes":
        raise Aborted("Apply cancelled; nothing was changed.")


def run(paths: list[str], target: Target, fmt: str, auto_approve: bool, verbose: bool,
        parallelism: int = DEFAULT_PARALLELISM, timeout: float | None = DEFAULT_TIMEOUT,
        lock: bool = False, audit_trail: bool = True) -> int:
    retry.configure(timeout)
    notes = err if verbose else None
    saved = desired = None
    if savedfile.is_plan_file(paths):
        refuse_non_plans(paths[0])
        saved = savedfile.read(paths[0])  # before any registry is touched
        registry = connect(target, parallelism=parallelism, on_retry=notes)
    else:
        refuse_other_kinds(paths, "apply")
        desired, registry = load_with_registry(paths, target, parallelism=parallelism, on_retry=notes)
    view = renderer(fmt)
    hooks = Hooks(
        show_plan=lambda plan: out(view.plan(plan), end=""),
        confirm=confirm if not auto_approve and interactive() else None,
        started=lambda: out(view.started(), end=""),
        model_done=lambda outcome: out(view.progress(outcome), end=""),
        interrupted=lambda n: err(interrupt_line(n)),
        say=err,
    )

    def summary() -> str:
        return (f"{count(registry.writes, 'registry write')}; {count(registry.round_trips, 'registry round trip')}; "
                f"{count(registry.parallelism, 'model')} at a time.")

    try:
        report = converge(registry, paths, hooks, desired=desired, saved=saved,
                          lock_ttl=ttl_from_env() if lock else None, audit_trail=audit_trail)
        for line in failure_lines(report):
            err(line)
        out(view.render(report), end="")
        if report.status is Status.BLOCKED:
            lines = blocked_lines(report.plan)
            first = lines[0].rstrip(":") + "; nothing was applied."
            raise GatesBlockedError([first, *lines[1:]] if fmt != "text" else [first])
    except ReconcilerError as e:
        if verbose:
            e.add_note(summary())  # printed after the error's own message (cli.handle)
        raise
    if verbose:
        err(summary())
    return report.exit_code
