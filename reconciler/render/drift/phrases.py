"""How one drifted field reads, shared by the text, markdown and JUnit drift reports."""

from __future__ import annotations

import re

from reconciler.drift.report import Drifted, DriftReport, Undeclared
from reconciler.render.describe import printable, value

SHA = re.compile(r"\b([0-9a-f]{12})[0-9a-f]{28}(?:[0-9a-f]{24})?\b")


def short_shas(text: str) -> str:
    """Commit SHAs at 12 characters, as people read them (git's own short form is as unique); the
    JSON report keeps them whole."""
    return SHA.sub(r"\1", text)


def shown(d: Drifted, v) -> str:
    """A git or live value (not None: `difference` words those) as a reviewer reads it."""
    if d.field in ("version", "stage"):
        return printable(str(v))
    if d.field.startswith("aliases."):
        return f"v{v}"
    return value(v)


def subject(d: Drifted) -> str:
    """`v3 stage`, `alias @champion`, `tag team`, `description`, ..."""
    if d.field == "model":
        return "model"
    if d.field == "version":
        return f"version {printable(d.ref or d.version or '')}".rstrip()
    if d.field.startswith("gates."):
        return f"{d.where} in {printable(d.field[len('gates.'):])}"
    if d.field.startswith("aliases."):
        what = f"alias @{d.field[len('aliases.'):]}"
    elif d.field.startswith("tags."):
        what = f"tag {printable(d.field[len('tags.'):])}"
    else:
        what = d.field
    where = d.where if not d.field.startswith("aliases.") else ""
    return f"{where} {what}".strip()


def difference(d: Drifted) -> str:
    if d.field.startswith("gates."):
        return f"fails gate {printable(str(d.git))}: {printable(str(d.live))}"
    if d.field == "model":
        return "declared in git, absent from the registry"
    if d.field == "version" and d.action is None:
        return f"declared in git, absent from the registry [{d.reason}]"
    if d.field == "version":
        return f"declared in git ({shown(d, d.git)}), not registered"
    if d.field.startswith("aliases.") and d.git is None and d.ref:
        git = f"the version of {printable(d.ref)}, not registered"
    else:
        git = shown(d, d.git) if d.git is not None else "(none)"
    live = shown(d, d.live) if d.live is not None else "(none)"
    text = f"git {git}, live {live}"
    return f"{text} [{d.reason}]" if d.reason else text


def provenance(d: Drifted) -> str:
    """When and by whom, as far as the registry knows."""
    parts = []
    if d.changed_at:
        what = d.where if d.version is not None and not d.field.startswith("aliases.") else "model"
        parts.append(f"{what} last updated {d.changed_at}")
    elif d.field.startswith(("tags.", "aliases.")):
        parts.append("when unknown (MLflow keeps no time of tag and alias changes)")
    if d.user_id:
        parts.append(f"registered by {printable(d.user_id)}")
    if d.last_applied:
        parts.append(f"mlflow-gitops last applied: {short_shas(printable(d.last_applied))}")
    return "; ".join(parts)


def lines(d: Drifted, mark: str = "") -> list[str]:
    """The field's difference and where it is declared, then (indented) what is known of who/when."""
    where = f"  ({d.source})" if d.source else ""
    known = provenance(d)
    return [f"{mark}{subject(d)}: {difference(d)}{where}"] + ([f"{' ' * len(mark)}    {known}"] if known else [])


def undeclared_line(u: Undeclared) -> str:
    when = f"last updated {u.last_updated}" if u.last_updated else ""
    if u.orphaned:
        applied = f", last applied {short_shas(printable(u.last_applied))}" if u.last_applied else ""
        return f"{printable(u.name)}: orphaned, was managed from {printable(u.manifest)}{applied}" + (f"; {when}" if when else "")
    return f"{printable(u.name)}" + (f": {when}" if when else "")


def summary(report: DriftReport) -> str:
    managed = len(report.managed)
    models = "model" if managed == 1 else "models"
    undeclared = len(report.undeclared)
    listed = ""
    if undeclared:
        counted = "counted as drift" if report.fail_on_unmanaged else "not counted as drift"
        noun = "model" if undeclared == 1 else "models"
        listed = f"; {undeclared} registry {noun} not declared in any manifest ({counted})"
    if not report.drift:
        verb = "matches" if managed == 1 else "match"
        head = f"No drift: the {managed} managed {models} {verb} git" if managed else "No managed models"
        if report.in_sync:
            return head + listed + "."
        return head + listed + "; failing because of --fail-on-unmanaged."
    fields = "field" if len(report.drift) == 1 else "fields"
    return (
        f"Drift: {len(report.drift)} {fields} in {len(report.drifted_models)} of {managed} managed {models} "
        f"{'differs' if len(report.drift) == 1 else 'differ'} from git{listed}."
    )


def next_step(report: DriftReport) -> str:
    """What to do about the drift; never promises apply restores what it cannot (a deleted version)."""
    lost = sum(1 for d in report.drift if d.action is None)
    if lost == len(report.drift):
        return "Change the manifests: apply cannot bring back a version deleted from the registry."
    also = (f" ({lost} deleted {'version' if lost == 1 else 'versions'} cannot be brought back: "
            "declare another version)") if lost else ""
    return ("Run `mlflow-gitops apply` to restore what git declares, or change the manifests to adopt the live "
            f"values{also}.")
