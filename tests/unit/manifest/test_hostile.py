"""Hostile input: every bad manifest is refused by validate, plan and apply alike, with
`FILE:LINE:COLUMN: message`, exit 1, no traceback, quickly, and without a single registry write.

The corpus is data: each file of tests/hostile/ starts with one or more lines

    # expect: LINE:COLUMN message fragment

(after a BOM, if any), so adding a case is adding a file. Inputs that cannot be committed or
carry no header (an empty file, UTF-16, a huge file, symlink loops, directories) are built by
GENERATED below.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.manifest import yamlsrc
from reconciler.manifest.load import load_tree
from reconciler.manifest.yamlsrc import MAX_FILE_BYTES

CORPUS = Path(__file__).resolve().parents[2] / "hostile"
EXPECT = re.compile(rb"^# expect: (\d+):(\d+) (.+?)\r?$", re.M)
LINE = re.compile(r"^.+:\d+:\d+: .+$")
HEADER = "apiVersion: mlflow-gitops/v1\nkind: RegisteredModel\n"
VALID = HEADER + "name: hostile_model\ndescription: valid on its own; must not be written\n"
# CPU seconds, not wall-clock: other test suites share these cores, and a bound on work done is what
# catches a quadratic parser or an alias bomb.
VALIDATE_SECONDS = 1.0  # in-process; the files are small and take milliseconds


@dataclass(frozen=True)
class Expected:
    file: str
    line: int
    column: int
    fragment: str

    def found_in(self, lines: list[str]) -> bool:
        prefix = f"{self.file}:{self.line}:{self.column}: "
        return any(line.startswith(prefix) and self.fragment in line for line in lines)


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[Path], list[str]]  # writes the input under the cwd, returns the CLI paths
    expected: tuple[Expected, ...]


def corpus_expectations(path: Path) -> tuple[Expected, ...]:
    raw = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
    return tuple(
        Expected(path.name, int(line), int(column), fragment.decode("utf-8"))
        for line, column, fragment in EXPECT.findall(raw)
    )


def corpus_case(path: Path) -> Case:
    def build(cwd: Path) -> list[str]:
        shutil.copyfile(path, cwd / path.name)
        return [path.name]

    return Case(path.stem, build, corpus_expectations(path))


def _write(name: str, data: bytes | str) -> Callable[[Path], list[str]]:
    def build(cwd: Path) -> list[str]:
        (cwd / name).write_bytes(data if isinstance(data, bytes) else data.encode())
        return [name]

    return build


def _huge(cwd: Path) -> list[str]:
    # sparse: the size cap must refuse it from its size, before reading a byte
    with open(cwd / "huge.yaml", "wb") as f:
        f.write(VALID.encode())
        f.truncate(2 * 1024 * 1024 * 1024)
    return ["huge.yaml"]


def _just_over_the_cap(cwd: Path) -> list[str]:
    text = VALID + "#" * (MAX_FILE_BYTES - len(VALID)) + "\n"
    (cwd / "big.yaml").write_text(text)
    return ["big.yaml"]


def _tree_with(*links: tuple[str, str]) -> Callable[[Path], list[str]]:
    def build(cwd: Path) -> list[str]:
        (cwd / "tree").mkdir()
        (cwd / "tree" / "valid.yaml").write_text(VALID)
        for name, target in links:
            os.symlink(target, cwd / "tree" / name)
        return ["tree"]

    return build


def _directory(name: str) -> Callable[[Path], list[str]]:
    def build(cwd: Path) -> list[str]:
        (cwd / name).mkdir()
        (cwd / name / "README.md").write_text("not a manifest\n")
        return [name]

    return build


GENERATED = [
    Case("empty-file", _write("empty.yaml", b""), (Expected("empty.yaml", 1, 1, "no manifests found"),)),
    Case(
        "utf-16",
        _write("utf16.yaml", VALID.encode("utf-16")),
        (Expected("utf16.yaml", 1, 1, "not valid UTF-8 (byte 0xff); save the file as UTF-8"),),
    ),
    Case("huge-sparse-file", _huge, (Expected("huge.yaml", 1, 1, "file too large (2048.0 MiB; the limit is 1 MiB)"),)),
    Case("just-over-the-size-cap", _just_over_the_cap, (Expected("big.yaml", 1, 1, "file too large (1.0 MiB"),)),
    Case(
        "symlink-loop-to-parent",
        _tree_with(("up", "..")),
        (Expected("tree/up", 1, 1, "symbolic link loop: it points to '..', a directory that contains it"),),
    ),
    Case(
        "symlink-loop-to-itself",
        _tree_with(("self", "."), ("root", "/")),
        (
            Expected("tree/self", 1, 1, "symbolic link loop: it points to '.'"),
            Expected("tree/root", 1, 1, "symbolic link loop: it points to '/'"),
        ),
    ),
    Case(
        "symlink-file-loop",
        _tree_with(("loop.yaml", "loop.yaml"), ("dangling.yaml", "missing.yaml")),
        (
            Expected("tree/loop.yaml", 1, 1, "too many levels of symbolic links"),
            Expected("tree/dangling.yaml", 1, 1, "no such file or directory"),
        ),
    ),
    Case("directory-named-x.yaml", _directory("x.yaml"), (Expected("x.yaml", 1, 1, "no manifests found"),)),
    Case("directory-without-manifests", _directory("empty"), (Expected("empty", 1, 1, "no manifests found"),)),
    Case("missing-path", lambda cwd: ["nowhere/"], (Expected("nowhere/", 1, 1, "no such file or directory"),)),
]
CASES = [corpus_case(p) for p in sorted(CORPUS.glob("*.yaml"))] + GENERATED


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """An empty cwd for the input, so that locations are short relative names."""
    cwd = tmp_path / "in"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def assert_refused(result, case: Case) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert lines, "no message"
    bad = [line for line in lines if not LINE.match(line)]
    assert not bad, f"not FILE:LINE:COLUMN: message: {bad}"
    missing = [e for e in case.expected if not e.found_in(lines)]
    assert not missing, f"expected {missing}\n got {lines}"


def registry_rows(uri: str) -> dict[str, int]:
    """Rows of every registry table of an embedded store (none if it was never created)."""
    path = uri.removeprefix("sqlite:///")
    if not os.path.exists(path):
        return {}
    tables = ("registered_models", "model_versions", "registered_model_tags", "model_version_tags",
              "registered_model_aliases")  # fmt: skip
    with sqlite3.connect(path) as db:
        present = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return {t: n for t in tables if t in present for (n,) in db.execute(f"SELECT COUNT(*) FROM {t}") if n}


def children_cpu() -> float:
    """CPU seconds used by finished child processes of this one."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def test_every_corpus_file_says_what_it_expects():
    files = sorted(CORPUS.glob("*.yaml"))
    assert len(files) >= 50
    assert [f.name for f in files if not corpus_expectations(f)] == []


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_validate_refuses(case, workdir, cli):
    paths = case.build(workdir)
    start = time.process_time()
    result = cli("validate", *paths)
    elapsed = time.process_time() - start
    assert_refused(result, case)
    assert result.stdout == ""
    assert elapsed < VALIDATE_SECONDS, f"validate took {elapsed:.2f}s"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_plan_and_apply_refuse_and_write_nothing(case, workdir, cli, embedded_uri):
    paths = case.build(workdir)
    assert_refused(cli("plan", *paths, "--tracking-uri", embedded_uri), case)
    assert_refused(cli("apply", *paths, "--auto-approve", "--tracking-uri", embedded_uri), case)
    assert registry_rows(embedded_uri) == {}


def test_the_whole_corpus_in_one_real_process(tmp_path, run_cli):
    """A real interpreter (no in-process capture to hide a stray traceback), every file at once."""
    for path in CORPUS.glob("*.yaml"):
        shutil.copyfile(path, tmp_path / path.name)
    start = children_cpu()
    result = run_cli("validate", *sorted(p.name for p in CORPUS.glob("*.yaml")), cwd=tmp_path, timeout=60)
    elapsed = children_cpu() - start
    assert_refused(result, Case("corpus", lambda cwd: [], ()))
    # together, files also clash on the model they declare, and a comment-only file is just empty
    named = {line.split(":", 1)[0] for line in result.stderr.splitlines()}
    assert named == {p.name for p in CORPUS.glob("*.yaml")} - {"comment-only.yaml"}
    assert elapsed < 10, f"{elapsed:.1f}s"


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_alias_bomb_fails_fast_in_a_real_process(command, tmp_path, run_cli):
    shutil.copyfile(CORPUS / "billion-laughs-inside-a-manifest.yaml", tmp_path / "bomb.yaml")
    start = children_cpu()
    result = run_cli(command, "bomb.yaml", cwd=tmp_path, env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"})
    elapsed = children_cpu() - start
    assert result.returncode == 1
    assert result.stderr == "bomb.yaml:15:14: YAML aliases (*a9) are not supported; write the value out\n"
    assert elapsed < 5, f"{elapsed:.1f}s, interpreter start-up included"  # (validate alone: ~0.7 s)


def test_python_tags_construct_nothing(tmp_path, cli, monkeypatch):
    """`!!python/object/apply:os.system` is refused, and certainly never run."""
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "pwned"
    (tmp_path / "m.yaml").write_text(
        HEADER + f"name: hostile_model\ndescription: !!python/object/apply:os.system ['touch {marker}']\n"
    )
    result = cli("validate", "m.yaml")
    assert result.returncode == 1 and "unsupported YAML tag !!python/object/apply:os.system" in result.stderr
    assert not marker.exists()


# ---- unreadable input --------------------------------------------------------------------------------


def _as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def test_unreadable_file_and_directory(workdir, cli, monkeypatch):
    """chmod 000 does not stop root (CI containers often run as root): there the operating
    system's refusal is simulated, at the same calls, so the message path is tested either way."""
    (workdir / "locked.yaml").write_text(VALID)
    (workdir / "locked").mkdir()
    (workdir / "locked" / "m.yaml").write_text(VALID.replace("hostile_model", "other"))
    os.chmod(workdir / "locked.yaml", 0)
    os.chmod(workdir / "locked", 0)
    try:
        if _as_root():
            import builtins

            from reconciler.manifest import load as manifest

            real_open, real_scandir = builtins.open, os.scandir

            def denied(path):
                return PermissionError(13, "Permission denied", str(path))

            def fake_open(path, *args, **kwargs):
                if str(path).endswith("locked.yaml"):
                    raise denied(path)
                return real_open(path, *args, **kwargs)

            def fake_scandir(path="."):
                if str(path).endswith("locked"):
                    raise denied(path)
                return real_scandir(path)

            monkeypatch.setattr(yamlsrc, "open", fake_open, raising=False)
            monkeypatch.setattr(manifest.os, "scandir", fake_scandir)
        result = cli("validate", "locked.yaml", "locked")
    finally:
        os.chmod(workdir / "locked.yaml", 0o644)
        os.chmod(workdir / "locked", 0o755)
    case = Case("unreadable", lambda cwd: [], (
        Expected("locked.yaml", 1, 1, "cannot read file: Permission denied"),
        Expected("locked", 1, 1, "permission denied"),
    ))  # fmt: skip
    assert_refused(result, case)


# ---- what must still be accepted -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "description"),
    [
        (b"\xef\xbb\xbf" + VALID.encode(), "valid on its own; must not be written"),
        (VALID.replace("\n", "\r\n").encode(), "valid on its own; must not be written"),
        (VALID.replace("\n", "\r").encode(), "valid on its own; must not be written"),
        (
            (HEADER + 'name: hostile_model\ndescription: "line 1\\r\\n\\tline 2 \\ufeff"\n').encode(),
            "line 1\r\n\tline 2 \ufeff",
        ),
        ((HEADER + "name: hostile_model\ndescription: |\n  tabs\tand\n  lines\n").encode(), "tabs\tand\nlines\n"),
    ],
    ids=["bom", "crlf", "cr", "escaped-crlf-tab", "block-scalar"],
)
def test_harmless_encodings_and_whitespace_are_accepted(data, description, workdir):
    (workdir / "m.yaml").write_bytes(data)
    model = load_tree(["m.yaml"]).models[0]
    assert (model.name, model.description) == ("hostile_model", description)


def test_unicode_names_are_accepted(workdir):
    (workdir / "m.yaml").write_text(HEADER + "name: modèle_車_🚕\ntags: {équipe: ml}\n", encoding="utf-8")
    assert load_tree(["m.yaml"]).names == ["modèle_車_🚕"]


def test_symlinks_that_do_not_loop_are_followed(workdir):
    (workdir / "shared").mkdir()
    (workdir / "shared" / "m.yaml").write_text(VALID)
    (workdir / "tree").mkdir()
    os.symlink("../shared", workdir / "tree" / "shared")
    assert load_tree(["tree"]).files == ("tree/shared/m.yaml",)


def test_no_traceback_even_for_an_internal_error(tmp_path):
    """The error handler's last resort, in a real process: a bug is one line, not a traceback."""
    code = (
        "import sys; from reconciler import cli; from reconciler.manifest import load as manifest\n"
        "def boom(paths): raise RuntimeError('boom')\n"
        "manifest.check_tree = boom\n"
        "import reconciler.commands.validate as v; v.check_tree = boom\n"
        "sys.argv = ['mlflow-gitops', 'validate', 'x.yaml']; cli.main()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_GITOPS_DEBUG"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env,
                            timeout=60)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == "internal error: RuntimeError: boom (set MLFLOW_GITOPS_DEBUG=1 for a traceback)\n"
