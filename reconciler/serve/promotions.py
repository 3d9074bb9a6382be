"""The promotion history the status page shows below the models: for each declared model, the last
few periods during which the manifests declared a version in Production, Staging or an alias
(reconciler.history), joined with apply's audit stamps from the cycle's own snapshot.

Reading git costs two processes and a YAML parse of every past manifest version, so the timelines
are cached by the manifests' HEAD commit: a cycle asks git only for HEAD (`git rev-parse`) and
rebuilds them when it moved. The join with the stamps (pure, in memory) is redone only when HEAD or
the models' audit stamps changed. Git trouble never fails a cycle: the page says why there is no
history instead."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from reconciler.history import gitlog, stamps, timeline
from reconciler.history.documents import Loader, _targets
from reconciler.redact import redact

PERIODS = 5  # newest periods shown per model and target


@dataclass(frozen=True)
class Promotions:
    """JSON-ready: /api/status's `history` field, and what the page renders."""

    head: str | None = None  # the manifests' HEAD commit the timelines were read at
    note: str | None = None  # why there is no history (not a git work tree, git failed)
    commits: int = 0  # commits that touched the manifests
    models: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)  # model -> target -> periods

    def to_json(self) -> dict[str, Any]:
        return {"head": self.head, "note": self.note, "commits": self.commits, "periods_per_target": PERIODS,
                "models": self.models}


def _declared(blob: bytes, wanted: frozenset[str]) -> dict[str, frozenset]:
    """{model: holdings} for each wanted model this blob declares: one YAML parse per blob, however
    many models (documents.holdings parses the blob again for each model)."""
    try:
        documents = list(yaml.load_all(blob, Loader=Loader))
    except yaml.YAMLError:
        return {}
    found: dict[str, frozenset] = {}
    for doc in documents:
        if isinstance(doc, dict) and isinstance(doc.get("name"), str) and doc["name"] in wanted:
            found.setdefault(doc["name"], frozenset(_targets(doc.get("versions"))))
    return found


def _period(e: timeline.Entry) -> dict[str, Any]:
    return {"version": e.version, "ref": None if e.ref.kind == "version" else str(e.ref), "from": e.since,
            "to": e.until, "commit": e.start.sha[:12], "author": e.start.author, "subject": e.start.subject,
            "applied_at": e.applied_at, "applied_by": e.applied_by}


class PromotionHistory:
    """Per controller: the cache of timelines by HEAD, and of the joined result by (HEAD, stamps)."""

    def __init__(self, paths: list[str], periods: int = PERIODS):
        self.paths = paths
        self.periods = periods
        self.reads = 0  # times git's history was read (tests: once per HEAD)
        self._repo: gitlog.Repository | None = None
        self._head: str | None = None
        self._names: frozenset[str] = frozenset()
        self._timelines: dict[str, list[timeline.Entry]] = {}
        self._order: dict[str, int] = {}
        self._commits = 0
        self._key: tuple | None = None
        self.current = Promotions()

    def refresh(self, names: list[str], snapshot) -> Promotions:
        """The history for this cycle: `names` the declared models, `snapshot` the registry's."""
        try:
            if self._repo is None:
                self._repo = gitlog.locate(self.paths)
            head = gitlog.git(self._repo.root, "rev-parse", "--verify", "--quiet", "HEAD").decode().strip()
        except gitlog.GitError as e:
            self._repo, self._key = None, None
            reason = " ".join(str(e).split())
            if "not in a git repository" in reason:
                reason = "the manifests are not in a git work tree"
            elif "rev-parse failed" in reason:
                reason = "the manifests' repository has no commit yet"
            self.current = Promotions(note=redact(reason))
            return self.current
        wanted = frozenset(names)
        try:
            if head != self._head or wanted != self._names:
                self._read(head, wanted)
        except gitlog.GitError as e:
            self._head, self._key = None, None
            self.current = Promotions(head=head, note=redact(" ".join(str(e).split())))
            return self.current
        audits = tuple((n, _audit_key(snapshot.models.get(n))) for n in sorted(wanted))
        key = (head, audits)
        if key != self._key:
            self.current = self._join(head, sorted(wanted), snapshot)
            self._key = key
        return self.current

    def _read(self, head: str, wanted: frozenset[str]) -> None:
        repo = self._repo
        commits = gitlog.read_log(repo)
        needles = [n.encode() for n in wanted]
        blobs = gitlog.read_blobs(repo.root, (b for c in commits for b in c.files.values() if b),
                                  keep=lambda content: any(n in content for n in needles))
        declared = {sha: _declared(content, wanted) for sha, content in blobs.items()}  # one parse per blob
        by_id = {id(content): declared[sha] for sha, content in blobs.items()}
        paths: dict[str, set[str]] = {}  # model -> files that declared it in some commit
        for c in commits:
            for path, sha in c.files.items():
                for name in declared.get(sha or "", ()):
                    paths.setdefault(name, set()).add(path)

        def holdings(blob: bytes, model: str):
            return by_id[id(blob)].get(model)

        def by_number(ref):
            return ref.value if ref.kind == "version" else None

        self._timelines = {}
        for name in wanted:
            # only the commits that touched a file declaring the model can change its timeline
            # (building each model over every commit is models x commits: seconds at 200 x 2,000)
            mine = paths.get(name, set())
            touching = [c for c in commits if not mine.isdisjoint(c.files)]
            # refs by run or source resolve at join time; here a version number or nothing
            self._timelines[name], _ = timeline.build(name, touching, blobs, by_number, holdings=holdings)
        self._order = gitlog.first_parent_order(repo)
        self._commits = len(commits)
        self._head, self._names = head, wanted
        self.reads += 1

    def _join(self, head: str, names: list[str], snapshot) -> Promotions:
        from reconciler.commands.history import position

        where = position(self._order)
        models: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for name in names:
            entries = self._timelines.get(name) or []
            live = snapshot.models.get(name)
            if live is not None:
                entries = [_resolved(e, live) for e in entries]
                entries = stamps.join(entries, live.audit, {v: lv.audit for v, lv in live.versions.items()}, where)
            targets: dict[str, list[dict[str, Any]]] = {}
            for e in entries:
                targets.setdefault(e.target, []).append(e)
            order = sorted(targets, key=lambda t: (t.startswith("@"), t != "Production", t))
            models[name] = {t: [_period(e) for e in reversed(targets[t][-self.periods:])] for t in order}
        return Promotions(head=head, commits=self._commits, models=models)


def _resolved(e: timeline.Entry, live) -> timeline.Entry:
    """An entry declared by run or source, with the version number the registry gives it."""
    if e.version is not None or e.ref.kind == "version":
        return e
    found = [v.version for v in live.versions.values() if getattr(v, e.ref.kind, None) == e.ref.value]
    return replace(e, version=found[0]) if len(found) == 1 else e


def _audit_key(live) -> tuple:
    if live is None:
        return ()
    return (tuple(sorted(live.audit.items())),
            tuple(sorted((v, tuple(sorted(lv.audit.items()))) for v, lv in live.versions.items() if lv.audit)))

