"""Reading a manifest tree into the validated desired state.

Everything here runs offline and must not import mlflow: `validate` is meant for pre-commit
hooks and CI, where start-up time and no network matter.
"""

from __future__ import annotations

import gc
import marshal
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from reconciler.constants import DEFAULT_ARTIFACT_PATH
from reconciler.errors import MAX_PROBLEMS_PER_FILE, InputError, Location, Problem
from reconciler.manifest import rules
from reconciler.manifest.desired import (
    DesiredModel,
    DesiredState,
    DesiredVersion,
    Gate,
    Policy,
    Selector,
)
from reconciler.manifest.discover import discover
from reconciler.manifest.schema import validate
from reconciler.manifest.yamlsrc import Document, Positions, read_file

# Objects allocated while reading, past which they are frozen out of the collector's view.
FREEZE_ABOVE = 200_000


@contextmanager
def _collector_paused():
    """Reading a tree allocates millions of small dicts, lists and tuples and makes no reference
    cycles; with the cyclic collector on, its repeated passes over that growing heap take ~20 % of
    `validate`'s time. Everything allocated here is freed by reference counting.

    What a big tree leaves behind lives on for the rest of the command; re-enabled as is, the
    collector's next young-generation pass would walk all of it at once (~0.1 s for 2,000 files),
    so it is frozen first (`gc.freeze`: never examined again, still freed when unreferenced)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            if gc.get_count()[0] > FREEZE_ABOVE:
                gc.freeze()
            gc.enable()


def _load_documents(paths: list[str], early: dict | None = None,
                    names_only: bool = False) -> tuple[list[Document], list[str], list[Problem]]:
    files, problems = discover(paths)
    documents: list[Document] = []
    for docs, file_problems in _read_all(files, early, names_only):
        documents += docs
        problems += file_problems
    problems += rules.check_across(documents)
    if files and not documents and not problems:
        message = "no manifests found (the file holds no YAML document)"
        problems += [Problem(Location(shown, 1, 1), message) for _, shown in files]
    return documents, [shown for _, shown in files], problems


def _read_checked(path: str, shown: str) -> tuple[list[Document], list[Problem]]:
    """One file's documents and its problems: syntax, schema, and the rules within a document."""
    docs, file_problems = read_file(path, shown)
    for doc in docs:
        if len(file_problems) <= MAX_PROBLEMS_PER_FILE:  # past that, the schema only adds noise and time
            file_problems += validate(doc)
    for doc in docs:
        file_problems += rules.check_document(doc)
    return docs, file_problems


# Above this many files, the second half is read and checked by a forked child on another core
# (docs/benchmarks.md); below it, the fork and the transfer back would save little or nothing.
PARALLEL_ABOVE_FILES = 400


def _read_all(files: list[tuple[str, str]], early: dict | None = None,
              names_only: bool = False) -> list[tuple[list[Document], list[Problem]]]:
    """`_read_checked` of every file, in order; half of them in a child process when that pays.
    With `early`, the models of this process's half are built (into `early`, by document id)
    while the child finishes: the process would otherwise just wait. `names_only`: the child's
    documents come back as what the rules across files need, their names (`validate`)."""
    split = _split_at(len(files))
    if split is None:
        return [_read_checked(path, shown) for path, shown in files]
    theirs = _Child(files[split:], names_only)
    try:
        mine = [_read_checked(path, shown) for path, shown in files[:split]]
        if early is not None and not any(file_problems for _, file_problems in mine):
            _build_early(mine, early)
    finally:
        done = theirs.result()  # always reaps the child
    return mine + (done if done is not None else [_read_checked(path, shown) for path, shown in files[split:]])


def _build_early(results: list, early: dict) -> None:
    try:
        for docs, _ in results:
            for doc in docs:
                early[id(doc)] = _model(doc)
    except Exception:  # noqa: BLE001 - built again later, where any error surfaces as it always did
        early.clear()


def _split_at(count: int) -> int | None:
    if count <= PARALLEL_ABOVE_FILES or not hasattr(os, "fork"):
        return None
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    # Forking a process that runs other threads (plan's background read of the registry) could
    # leave the child with a lock that some other thread held: only fork a single-threaded one.
    if cores < 2 or threading.active_count() > 1:
        return None
    return count // 2


class _Child:
    """Reads and checks files in a forked child, which sends back plain data through a pipe
    (marshal: plain data only, packed ~2x faster than by pickle; Document and Problem objects are
    rebuilt here). Any failure of the child, a bug included, only means that the parent reads those
    files itself (and meets the same error there)."""

    def __init__(self, files: list[tuple[str, str]], names_only: bool = False):
        self.pid = -1
        try:
            read_end, write_end = os.pipe()
        except OSError:
            return
        try:
            self.pid = os.fork()
        except OSError:
            os.close(read_end)
            os.close(write_end)
            return
        if self.pid == 0:  # the child: never returns
            code = 1
            try:
                os.close(read_end)
                with os.fdopen(write_end, "wb") as out:
                    plain = _named if names_only else _plain
                    out.write(marshal.dumps([plain(*_read_checked(path, shown)) for path, shown in files]))
                code = 0
            finally:
                os._exit(code)  # no atexit handlers, no flushing of the parent's buffered output
        os.close(write_end)
        self.read_end = read_end

    def result(self) -> list[tuple[list[Document], list[Problem]]] | None:
        if self.pid <= 0:
            return None
        with os.fdopen(self.read_end, "rb") as pipe:
            raw = pipe.read()
        _, status = os.waitpid(self.pid, 0)
        if status != 0:
            return None
        try:
            return [_unplain(doc_items, problem_items) for doc_items, problem_items in marshal.loads(raw)]
        except (ValueError, EOFError, TypeError):
            return None


def _plain(docs: list[Document], problems: list[Problem]) -> tuple:
    return (
        [(d.data, d.positions.file, d.positions.keys, d.positions.values, d.index) for d in docs],
        [(p.location.file, p.location.line, p.location.column, p.message) for p in problems],
    )


def _named(docs: list[Document], problems: list[Problem]) -> tuple:
    """Like `_plain`, but of each document only its name and where it is written: all that the
    rules across files (rules.check_across) read. A fifth of the data to send and rebuild."""
    named = []
    for d in docs:
        name = d.data.get("name")
        where = d.positions.values.get(("name",))
        data = {"name": name} if isinstance(name, str) else {}
        named.append((data, d.positions.file, {}, {("name",): where} if where else {}, d.index))
    return named, _plain([], problems)[1]


def _unplain(doc_items: list, problem_items: list) -> tuple[list[Document], list[Problem]]:
    docs = []
    for data, file, keys, values, index in doc_items:
        pos = Positions(file)
        pos.keys, pos.values = keys, values
        docs.append(Document(data, pos, index))
    return docs, [Problem(Location(file, line, column), message) for file, line, column, message in problem_items]


def check_tree(paths: list[str]) -> tuple[int, int]:
    """What `validate` needs: (files, models) under `paths`, or an InputError listing every problem
    found, exactly as `load_tree` would raise it. Builds no desired state (plan does that)."""
    with _collector_paused():
        documents, files, problems = _load_documents(paths, names_only=True)
    if problems:
        raise InputError(_reported(problems))
    return len(files), len(documents)


def load_tree(paths: list[str]) -> DesiredState:
    """The desired state declared under `paths`; raises InputError listing every problem found."""
    early: dict[int, DesiredModel] = {}
    with _collector_paused():
        documents, files, problems = _load_documents(paths, early)
        if problems:
            raise InputError(_reported(problems))
        models = sorted((early.get(id(doc)) or _model(doc) for doc in documents), key=lambda m: m.name)
    return DesiredState(models=tuple(models), files=tuple(files))


def _reported(problems: list[Problem]) -> list[Problem]:
    """The problems to show, in file order; a garbage file is summed up after a screenful."""
    unique = sorted(set(problems), key=lambda p: (p.location.file, p.location.line, p.location.column, p.message))
    shown: list[Problem] = []
    per_file: dict[str, int] = {}
    for problem in unique:
        count = per_file[problem.location.file] = per_file.get(problem.location.file, 0) + 1
        if count <= MAX_PROBLEMS_PER_FILE:
            shown.append(problem)
        elif count == MAX_PROBLEMS_PER_FILE + 1:
            # (reading stops early in a file full of problems, so how many more there are is unknown)
            message = f"... and more problems, not listed: fix the first {MAX_PROBLEMS_PER_FILE} and run again"
            shown.append(Problem(problem.location, message))
    return shown


def _locations(data: dict, path: tuple, pos: Positions, fields: frozenset[str]) -> dict[str, Location]:
    """Where each managed field, tag and alias was declared, so plans can point at the exact line."""
    file, keys, values = pos.file, pos.keys, pos.values
    found = {}
    for key, value in data.items():
        if key not in fields:
            continue
        line, column = keys[path + (key,)]
        found[key] = Location(file, line, column)
        if key == "tags":
            for tag in value:
                line, column = keys[path + ("tags", tag)]
                found["tags." + tag] = Location(file, line, column)
        elif key == "aliases":
            for j, alias in enumerate(value):
                line, column = values[path + ("aliases", j)]
                found["aliases." + alias] = Location(file, line, column)
    return found


class _FieldLocations(Mapping):
    """`_locations` of one model or version, worked out when first asked for: a plan asks only for
    the fields it changes, and `validate` for none, so most are never needed."""

    __slots__ = ("_args", "_found")

    def __init__(self, data: dict, path: tuple, pos: Positions, fields: frozenset[str]):
        self._args = (data, path, pos, fields)
        self._found: dict[str, Location] | None = None

    def _all(self) -> dict[str, Location]:
        if self._found is None:
            self._found = _locations(*self._args)
        return self._found

    def __getitem__(self, key: str) -> Location:
        return self._all()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def __repr__(self) -> str:
        return repr(self._all())


_MODEL_FIELDS = frozenset({"name", "description", "tags", "policy"})
_VERSION_FIELDS = frozenset({"stage", "aliases", "description", "tags"})


def _model(doc: Document) -> DesiredModel:
    data, pos = doc.data, doc.positions
    return DesiredModel(
        name=data["name"],
        location=doc.location,
        description=data.get("description"),
        tags=dict(data.get("tags", {})),
        policy=_policy(data.get("policy", {})),
        versions=tuple(_version(item, ("versions", i), pos) for i, item in enumerate(data.get("versions", []))),
        field_locations=_FieldLocations(data, (), pos, _MODEL_FIELDS),
    )


def _policy(data: dict) -> Policy:
    gates = tuple(
        Gate(target=g["target"], metric=g.get("metric"), tag=g.get("tag"), equals=g.get("equals"),
             vs_current=g.get("vs_current"),
             min=None if g.get("min") is None else float(g["min"]),
             max=None if g.get("max") is None else float(g["max"]))
        for g in data.get("gates", ())
    )
    rest = {k: v for k, v in data.items() if k not in ("gates", "evidence")}
    return Policy(**rest, evidence=tuple(data.get("evidence", ())), gates=gates)


def _version(item: dict, path: tuple, pos: Positions) -> DesiredVersion:
    number = item.get("version")
    selector = Selector(
        # `version: 5`, `5.0` and "5" are the same; the schema only lets "5"-like strings through
        version=None if number is None else number.strip() if isinstance(number, str) else str(int(number)),
        run_id=item.get("run_id"),
        artifact_path=item.get("artifact_path", DEFAULT_ARTIFACT_PATH),
        source=item.get("source"),
    )
    return DesiredVersion(
        selector=selector,
        location=pos.value(path),
        stage=item.get("stage"),
        aliases=tuple(item.get("aliases", ())),
        description=item.get("description"),
        tags=dict(item.get("tags", {})),
        field_locations=_FieldLocations(item, path, pos, _VERSION_FIELDS),
    )
