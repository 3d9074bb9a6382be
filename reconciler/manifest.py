"""Reading a manifest tree into the validated desired state.

Everything here runs offline and must not import mlflow: `validate` is meant for pre-commit
hooks and CI, where start-up time and no network matter.
"""

from __future__ import annotations

import os
import stat

from reconciler import rules
from reconciler.desired import (
    DEFAULT_ARTIFACT_PATH,
    DesiredModel,
    DesiredState,
    DesiredVersion,
    Policy,
    Selector,
)
from reconciler.errors import InputError, Location, Problem
from reconciler.schema import validate
from reconciler.yamlsrc import MAX_PROBLEMS_PER_FILE, Document, Positions, read_file

MANIFEST_SUFFIXES = (".yaml", ".yml")
MAX_REPORTED_PROBLEMS = 100  # per file


def discover(paths: list[str]) -> tuple[list[tuple[str, str]], list[Problem]]:
    """Manifest files under `paths` as (path to open, name shown in messages), in a stable order.

    Directories are searched recursively in name order, skipping hidden entries (`.git`,
    `.github`, ...). Every file and directory is visited once, however many paths or symlinks
    lead to it. A symlink to a directory that contains it (`up -> ..`, `root -> /`) is an error,
    as `find -L` reports it: following it would read the tree again, or the whole disk. A file
    named explicitly is read whatever its extension.
    """
    found: list[tuple[str, str]] = []
    problems: list[Problem] = []
    seen: set[tuple[int, int]] = set()
    for given in paths:
        shown = given.rstrip("/") or given
        try:
            st = os.stat(given)
        except OSError as exc:
            problems.append(_os_problem(given, exc))
            continue
        if stat.S_ISDIR(st.st_mode):
            _walk(given, shown, found, problems, seen)
        elif (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            found.append((given, given))
    if not found and not problems:
        where = paths or ["."]
        problems += [Problem(Location(p, 1, 1), "no manifests found (no *.yaml or *.yml files)") for p in where]
    return found, problems


def _walk(top: str, shown_top: str, found: list, problems: list, seen: set) -> None:
    stack = [(top, shown_top)]
    while stack:
        directory, shown = stack.pop()
        try:
            st = os.stat(directory)
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            problems.append(_os_problem(shown, exc))
            continue
        subdirs = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = os.path.join(directory, entry.name)
            name = entry.name if shown == "." else os.path.join(shown, entry.name)
            try:
                if entry.is_dir():
                    if entry.is_symlink() and _contains(os.path.realpath(path), os.path.realpath(directory)):
                        target = os.readlink(path)
                        message = f"symbolic link loop: it points to {target!r}, a directory that contains it"
                        problems.append(Problem(Location(name, 1, 1), message))
                    else:
                        subdirs.append((path, name))
                    continue
                if not entry.name.endswith(MANIFEST_SUFFIXES):
                    continue
                st = entry.stat()  # follows symlinks: a broken or looping link raises here
            except OSError as exc:
                if entry.name.endswith(MANIFEST_SUFFIXES):
                    problems.append(_os_problem(name, exc))
                continue
            if stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                found.append((path, name))
        stack.extend(reversed(subdirs))


def _contains(outer: str, inner: str) -> bool:
    """Is the (resolved) directory `inner` the directory `outer` or somewhere below it?"""
    return inner == outer or inner.startswith(outer.rstrip(os.sep) + os.sep)


def _os_problem(shown: str, exc: OSError) -> Problem:
    if isinstance(exc, FileNotFoundError):
        return Problem(Location(shown, 1, 1), "no such file or directory")
    return Problem(Location(shown, 1, 1), (exc.strerror or str(exc)).lower())


def load_documents(paths: list[str]) -> tuple[list[Document], list[str], list[Problem]]:
    """Every document under `paths`, the files read, and every problem: syntax, schema and rules."""
    files, problems = discover(paths)
    documents: list[Document] = []
    for path, shown in files:
        docs, file_problems = read_file(path, shown)
        for doc in docs:
            if len(file_problems) <= MAX_PROBLEMS_PER_FILE:  # past that, the schema only adds noise and time
                file_problems += validate(doc)
            documents.append(doc)
        problems += file_problems
    problems += rules.check(documents)
    if files and not documents and not problems:
        message = "no manifests found (the file holds no YAML document)"
        problems += [Problem(Location(shown, 1, 1), message) for _, shown in files]
    return documents, [shown for _, shown in files], problems


def load_tree(paths: list[str]) -> DesiredState:
    """The desired state declared under `paths`; raises InputError listing every problem found."""
    documents, files, problems = load_documents(paths)
    if problems:
        raise InputError(_reported(problems))
    models = sorted((_model(doc) for doc in documents), key=lambda m: m.name)
    return DesiredState(models=tuple(models), files=tuple(files))


def _reported(problems: list[Problem]) -> list[Problem]:
    """The problems to show, in file order; a garbage file is summed up after a screenful."""
    unique = sorted(set(problems), key=lambda p: (p.location.file, p.location.line, p.location.column, p.message))
    shown: list[Problem] = []
    per_file: dict[str, int] = {}
    for problem in unique:
        count = per_file[problem.location.file] = per_file.get(problem.location.file, 0) + 1
        if count <= MAX_REPORTED_PROBLEMS:
            shown.append(problem)
        elif count == MAX_REPORTED_PROBLEMS + 1:
            # (reading stops early in a file full of problems, so how many more there are is unknown)
            message = f"... and more problems, not listed: fix the first {MAX_REPORTED_PROBLEMS} and run again"
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


_MODEL_FIELDS = frozenset({"name", "description", "tags", "policy"})
_VERSION_FIELDS = frozenset({"stage", "aliases", "description", "tags"})


def _model(doc: Document) -> DesiredModel:
    data, pos = doc.data, doc.positions
    return DesiredModel(
        name=data["name"],
        location=doc.location,
        description=data.get("description"),
        tags=dict(data.get("tags", {})),
        policy=Policy(**data.get("policy", {})),
        versions=tuple(_version(item, ("versions", i), pos) for i, item in enumerate(data.get("versions", []))),
        field_locations=_locations(data, (), pos, _MODEL_FIELDS),
    )


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
        field_locations=_locations(item, path, pos, _VERSION_FIELDS),
    )
