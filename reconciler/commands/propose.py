"""`propose`: the seed's `search_runs` step, made GitOps. Picks the best active run of an experiment
and edits one manifest file so that the model declares it; `plan`/`apply` of that file (in a pull
request, say) then register and promote it.

Order of work: the file is read and validated before the registry is touched; the edit is
validated as a manifest before anything is written; the file is written only when it changes.
"""

from __future__ import annotations

import difflib
import os
import re
import tempfile

from reconciler.console import err, out
from reconciler.constants import DEFAULT_TIMEOUT
from reconciler.errors import InputError, Location, Problem, ReconcilerError
from reconciler.manifest.desired import DesiredModel, DesiredState
from reconciler.plan.model import Plan
from reconciler.propose.edit import EditError, Proposal, propose
from reconciler.registry import retry
from reconciler.registry.protocol import PlanReader
from reconciler.registry.snapshot import Snapshot

METRIC = re.compile(r"\bmetrics?\.(?:`([^`]+)`|\"([^\"]+)\"|([A-Za-z0-9_.\-/]+))")
DEFAULT_METRICS_SHOWN = 3


def run(file: str, model: str, experiment: str, filter_string: str | None, order_by: list[str],
        stage: str | None, aliases: list[str], artifact_path: str, archive_previous: bool,
        detailed_exitcode: bool, target, verbose: bool, timeout: float | None = DEFAULT_TIMEOUT) -> int:
    retry.configure(timeout)
    if archive_previous and stage is None:
        raise ReconcilerError("--archive-previous needs --stage: it archives the entries declaring that stage")
    text = _read(file)
    current = _declared(text, file, model)  # a bad file or an unknown model: nothing else happens
    for stage_name, alias in current.policy.stage_aliases.items():
        if alias in aliases:
            raise ReconcilerError(f"--alias {alias}: the model's policy.stage_aliases keeps it on the {stage_name} "
                                  f"version; propose --stage {stage_name} instead")

    from reconciler.registry.bestrun import best_run
    from reconciler.registry.client import Registry

    # propose writes FILE only: the registry is read, and a missing sqlite store is not created
    registry = Registry(target, on_retry=err if verbose else None, read_only=True)
    best = best_run(registry, experiment, filter_string, order_by)
    if best is None:
        where = f" matching --filter '{filter_string}'" if filter_string else ""
        out(f"No active run in experiment '{experiment}'{where}; {file} is unchanged.")
        return 0
    snapshot = registry.snapshot([model])
    live = snapshot.models.get(model)
    mine = [v for v in (live.versions.values() if live else ()) if v.run_id == best.run_id]
    proposal = Proposal(
        model=model, run_id=best.run_id, artifact_path=artifact_path, stage=stage,
        aliases=tuple(dict.fromkeys(aliases)), archive_previous=archive_previous,
        live_versions=frozenset(v.version for v in mine), live_sources=frozenset(v.source for v in mine if v.source),
    )
    new_text = propose(text, proposal, file)
    proposed = _declared(new_text, file, model, edited=True)
    shown = _metrics_shown(best.metrics, filter_string, order_by)
    out(f"Best run in experiment '{best.experiment_name}': {best.run_id}{f' ({shown})' if shown else ''}.")
    plan = _plan(proposed, _Seen(registry, snapshot))  # before writing: a plan error leaves FILE as it was
    changed = new_text != text
    if changed:
        out("".join(_diff(text, new_text, file)), end="")
        _write(file, new_text)
        out(f"Updated {file}: model '{model}' declares run {best.run_id}{_what(proposal)}.")
    else:
        out(f"{file} already declares run {best.run_id} for model '{model}'{_what(proposal)}: nothing to change.")
    for line in gate_report(proposed, plan):
        out(line)
    if verbose:
        err(f"{registry.round_trips} registry round trips.")
    return 2 if detailed_exitcode and changed else 0


def gate_report(model: DesiredModel, plan) -> list[str]:
    """Whether the proposal passes the model's gates (`policy.gates`), from the plan of the edited
    manifest (evaluated as `plan` evaluates them: on the state after the plan)."""
    from reconciler.render.describe import printable, summary
    from reconciler.render.plan.evidence import FAIL_MARK, PASS_MARK, subject_of

    lines = [summary(plan)]
    if not model.policy.gates:
        return lines + [f"Gates: model '{model.name}' declares none."]
    if not plan.gates:
        return lines + ["Gates: none to check (the proposal moves no version into a gated target)."]
    failed = len(plan.blocked_by)
    head = (f"Gates: all {len(plan.gates)} pass." if not failed else
            f"Gates: {failed} of {len(plan.gates)} fail: apply would refuse this proposal.")
    rows = [f"  {PASS_MARK if g.passed else FAIL_MARK} {printable(f'{subject_of(g)}: {g.check}: {g.reason}')}"
            for g in plan.gates]
    return lines + [head, *rows]


# ---- reading and checking the file --------------------------------------------------------------


def _read(file: str) -> str:
    if os.path.isdir(file):
        raise ReconcilerError(f"{file}: is a directory; propose edits one manifest file")
    if os.path.exists(file) and not os.path.isfile(file):
        raise ReconcilerError(f"{file}: not a regular file (a FIFO or device is never opened); propose edits one manifest file")
    try:
        with open(file, "rb") as fh:
            raw = fh.read()
    except OSError as e:
        raise ReconcilerError(f"{file}: cannot read file: {e.strerror or e}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        from reconciler.manifest.load import load_tree

        load_tree([file])  # reports where the file stops being UTF-8
        raise


def _declared(text: str, file: str, model: str, edited: bool = False) -> DesiredModel:
    """The model as `text` declares it, checked like `validate` checks a file."""
    from reconciler.manifest import rules
    from reconciler.manifest.load import _model
    from reconciler.manifest.schema import validate
    from reconciler.manifest.yamlsrc import parse_text

    docs, problems = parse_text(text, file)
    for doc in docs:
        problems += validate(doc)
        problems += rules.check_document(doc)
    problems += rules.check_across(docs)
    if problems:
        if edited:  # a bug of ours, or a flag the manifest rules refuse (say, an alias policy.stage_aliases keeps)
            raise ReconcilerError(
                f"{file}: not changed: the edit would make it invalid: " + "; ".join(p.message for p in problems))
        raise InputError(problems)
    if not docs:
        raise InputError([Problem(Location(file, 1, 1), "no manifests found (the file holds no YAML document)")])
    found = [_model(doc) for doc in docs if doc.data.get("name") == model]
    if not found:
        names = ", ".join(repr(d.data.get("name")) for d in docs)
        raise EditError(f"{file}: no document declares model '{model}' (it declares {names})")
    return found[0]


def _plan(model: DesiredModel, registry: PlanReader) -> Plan:
    from reconciler.plan.build import make_plan

    return make_plan(DesiredState(models=(model,)), registry)


class _Seen:
    """The registry as already read: planning the proposal costs no further round trip."""

    def __init__(self, registry: PlanReader, snapshot: Snapshot):
        self._registry = registry
        self._snapshot = snapshot

    def snapshot(self, names):
        return self._snapshot

    def __getattr__(self, name):  # target, round_trips, the bulk run read: the registry's own
        return getattr(self._registry, name)


# ---- output ------------------------------------------------------------------------------------


def _metrics_shown(metrics: dict[str, float], filter_string: str | None, order_by: list[str]) -> str:
    named = [next(g for g in m.groups() if g) for e in [filter_string or "", *order_by] for m in METRIC.finditer(e)]
    names = [n for n in dict.fromkeys(named) if n in metrics] or sorted(metrics)[:DEFAULT_METRICS_SHOWN]
    return ", ".join(f"{n} {metrics[n]:g}" for n in names)


def _what(p: Proposal) -> str:
    parts = [f"in {p.stage}"] if p.stage else []
    parts += [f"@{a}" for a in p.aliases]
    return f" ({', '.join(parts)})" if parts else ""


def _diff(old: str, new: str, file: str) -> list[str]:
    lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                 f"a/{file}", f"b/{file}")
    # one line break per diff line, whatever the file uses; a last line without one says so
    return [line.rstrip("\r\n") + "\n" + ("" if line.endswith(("\n", "\r")) else "\\ No newline at end of file\n")
            for line in lines]


def _write(file: str, text: str) -> None:
    """Replace `file` atomically (a reader never sees half a manifest), keeping its mode."""
    directory = os.path.dirname(os.path.abspath(file))
    mode = os.stat(file).st_mode & 0o7777
    try:
        fd, tmp = tempfile.mkstemp(prefix=".propose-", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
            os.chmod(tmp, mode)
            os.replace(tmp, file)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as e:
        raise ReconcilerError(f"{file}: cannot write: {e.strerror or e}") from None
