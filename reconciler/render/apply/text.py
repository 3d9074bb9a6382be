"""Apply as people read it: the plan, one block of lines per model as it is done, then a summary
(stdout); what failed and what was not applied (stderr, in every format)."""

from __future__ import annotations

from reconciler.apply import audit
from reconciler.apply.executor import ModelOutcome
from reconciler.apply.report import ApplyReport, Status
from reconciler.console import count
from reconciler.plan.model import Plan
from reconciler.render import render
from reconciler.render.describe import describe, new_version_labels, subject


class TextApplyRenderer:
    """Streams: `plan`, `started` and `progress` are shown while apply runs, `render` at the end.
    `plan_format` is the format the plan itself is shown in (text or markdown)."""

    name = "text"

    def __init__(self, plan_format: str = "text"):
        self.plan_format = plan_format
        self.total, self.labels, self.printed = 0, {}, 0

    def plan(self, plan: Plan) -> str:
        self.total, self.labels = len(plan.changes), new_version_labels(plan.changes)
        return render(self.plan_format, plan)

    def started(self) -> str:
        return "\n"

    def progress(self, outcome: ModelOutcome) -> str:
        # One block per model, shown when the model is done: models run concurrently, but a
        # model's lines are never split up or out of order.
        lines = []
        for change in outcome.applied:
            self.printed += 1
            number = outcome.registered.get(change.ref) if change.action == "register_version" else None
            got = f" -> version {number}" if number else ""
            lines.append(f"  [{self.printed}/{self.total}] {change.mark} {subject(change, self.labels)}: "
                         f"{describe(change)}{got}\n")
        return "".join(lines)

    def render(self, report: ApplyReport) -> str:
        if report.status is not Status.APPLIED:
            return ""
        meanwhile = report.made_meanwhile
        said = f" ({meanwhile} planned changes had been made meanwhile)" if meanwhile else ""
        text = f"\nApply complete! {count(len(report.applied), 'change')} applied{said}.\n"
        if report.audit_tags:
            text += (f"Recorded the audit trail on {count(report.audit_models, 'model')} "
                     f"({count(report.audit_tags, audit.PREFIX + '* tag')}).\n")
        return text


def failure_lines(report: ApplyReport) -> list[str]:
    """What failed, what was applied and what was not, for stderr; none unless apply stopped part-way."""
    if report.status not in (Status.FAILED, Status.INTERRUPTED):
        return []
    interrupted = report.status is Status.INTERRUPTED
    labels = new_version_labels(report.plan.changes)
    failed = report.failures
    lines = [f"Error: {message}" for _, message in failed]
    models = f"; {len(failed)} models failed" if len(failed) > 1 else ""
    if interrupted:
        models = " before the interrupt" + models
    lines.append(f"Applied {len(report.applied)} of {count(len(report.plan.changes), 'change')}{models}.")
    lines += [f"  failed:      {c.mark} {subject(c, labels)}: {describe(c)}" for c, _ in failed]
    lines += [f"  not applied: {c.mark} {subject(c, labels)}: {describe(c)}" for c in report.not_applied]
    if report.result.stopped_early:
        lines.append("Stopped starting further models after repeated failures in a row; their changes were not applied.")
    if interrupted:
        lines.append("Interrupted: the registry is partly converged; run apply again to finish.")
    else:
        lines.append("The registry is partly converged; fix the cause and run apply again.")
    return lines


def interrupt_line(in_progress: int) -> str:
    return (f"Interrupt received: {count(in_progress, 'model')} in progress stop after their current change; no other "
            "model starts. Press Ctrl-C again to stop waiting.")
