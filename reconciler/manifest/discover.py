"""Finding the manifest files of a tree: what the command line names, walked recursively.

Only regular files are read: a FIFO, socket or device named on the command line is refused here,
before anything opens it (opening a FIFO blocks until someone writes to it). Symbolic links are
followed, except those that loop back into a directory that contains them.
"""

from __future__ import annotations

import os
import stat

from reconciler.errors import Location, Problem

MANIFEST_SUFFIXES = (".yaml", ".yml")


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
        elif not stat.S_ISREG(st.st_mode):
            # a FIFO would block the read forever (pre-commit, CI), a device never ends: never opened
            problems.append(Problem(Location(given, 1, 1), f"{not_regular(st.st_mode)}; only regular files are read"))
        elif (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            found.append((given, given))
    if not found and not problems:
        where = paths or ["."]
        problems += [Problem(Location(p, 1, 1), "no manifests found (no *.yaml or *.yml files)") for p in where]
    return found, problems


def not_regular(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO), not a regular file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a regular file"
    return "not a regular file"


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
