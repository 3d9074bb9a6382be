"""`history PATH... --model NAME`: the model's targets over time, from git, joined with the audit
stamps apply left in the registry and with the events `serve --events` logged. Read-only: it
creates nothing (not even the embedded default database, which it skips when absent)."""

from __future__ import annotations

from pathlib import Path

from reconciler.console import err, out
from reconciler.constants import DEFAULT_TIMEOUT
from reconciler.errors import ReconcilerError
from reconciler.history import events, gitlog, stamps, timeline
from reconciler.history.documents import Ref
from reconciler.history.times import parse_at
from reconciler.registry import retry
from reconciler.target import Target


class HistoryError(ReconcilerError):
    """The model was never declared under the PATHs."""


def run(paths: list[str], model: str, at: str | None, fmt: str, target: Target | None,
        events_file: str | None, verbose: bool = False, timeout: float | None = DEFAULT_TIMEOUT) -> int:
    from reconciler.render.history import render

    when = parse_at(at) if at is not None else None
    logged, skipped = events.read(events_file, model) if events_file else ([], 0)
    repo = gitlog.locate(paths)
    commits = gitlog.read_log(repo)
    blobs = gitlog.read_blobs(repo.root, (b for c in commits for b in c.files.values() if b),
                              keep=lambda content: model.encode() in content)
    notes: list[str] = []
    if repo.shallow:
        notes.append("shallow clone: the history starts at its oldest fetched commit (git fetch --unshallow)")
    if skipped:
        notes.append(f"{skipped} lines of {events_file} are not events and were skipped")
    live, asked = None, None
    if target is not None:
        retry.configure(timeout)
        live, note, read = read_live(target, model)
        asked = target.display if read else None
        if note:
            notes.append(note)
    entries, ever = timeline.build(model, commits, blobs, resolver(live))
    if not ever:
        missing = [p for p in paths if not Path(p).exists()]
        if not commits and missing:
            raise HistoryError(f"{missing[0]}: no such file or directory, and git has no history of it")
        if not commits:
            raise HistoryError(f"{', '.join(paths)}: no commit touches the manifests there; history reads what "
                               "was committed to git")
        raise HistoryError(f"model '{model}': no manifest under {', '.join(paths)} declares it in any commit "
                           f"({len(commits)} commits read)")
    if live is not None:
        order = gitlog.first_parent_order(repo)
        entries = stamps.join(entries, live.audit, {v: lv.audit for v, lv in live.versions.items()},
                              position(order))
    history = timeline.History(
        model=model, paths=repo.pathspecs, commits=len(commits), entries=tuple(entries),
        drift=tuple(events.windows(logged)), at=when, tracking_uri=asked,
        events_file=events_file, notes=tuple(notes),
    )
    out(render(fmt, history), end="")
    for note in notes:
        err(f"Note: {note}.")
    if verbose:
        err(f"{len(commits)} commits and {len(blobs)} manifest versions read from git in {repo.root}.")
    return 0


def read_live(target: Target, model: str):
    """The model as the registry holds it (None, and why), and whether the registry was read."""
    uri = target.registry_uri
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):].split("?")[0]).exists():
        return None, f"no registry database at {target.registry_display}: history from git only", False
    from reconciler.registry.client import Registry

    snapshot = Registry(target, read_only=True).snapshot([model])
    live = snapshot.models.get(model)
    if live is None:
        return None, f"model '{model}' is not in the registry {target.registry_display}: no audit stamps", True
    return live, None, True


def resolver(live):
    def resolve(ref: Ref) -> str | None:
        if ref.kind == "version":
            return ref.value
        if live is None:
            return None
        found = [v.version for v in live.versions.values() if getattr(v, ref.kind) == ref.value]
        return found[0] if len(found) == 1 else None

    return resolve


def position(order: dict[str, int]):
    def where(sha: str) -> int | None:
        if sha in order:
            return order[sha]
        if 7 <= len(sha) < 40:
            found = [i for s, i in order.items() if s.startswith(sha)]
            return found[0] if len(found) == 1 else None
        return None

    return where
