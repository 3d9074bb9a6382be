"""Files the tool reads and writes (issue 9, defects 7 and 9): only regular files are read -- a FIFO
named on the command line is refused at once, never opened -- and every `--out` failure is one
clear line, with nothing written. No registry is needed: a sqlite URI that does not exist is an
empty registry to read-only commands."""

from __future__ import annotations

import os

import pytest

MANIFEST = "apiVersion: mlflow-gitops/v1\nkind: RegisteredModel\nname: files_m\n"


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "x.yaml"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("command", [["validate"], ["plan"], ["apply", "--auto-approve"], ["drift"]])
def test_a_fifo_on_the_command_line_is_refused_at_once(run_cli, tmp_path, fifo, command):
    extra = [] if command == ["validate"] else ["--tracking-uri", f"sqlite:///{tmp_path}/r.db"]
    result = run_cli(*command, fifo, *extra, timeout=60)  # a hang would time out here
    assert result.returncode == 1
    assert f"{fifo}:1:1: a named pipe (FIFO), not a regular file; only regular files are read" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "r.db").exists()


def test_a_fifo_inside_a_directory_is_skipped(run_cli, tmp_path, fifo):
    (tmp_path / "m.yaml").write_text(MANIFEST)
    result = run_cli("validate", tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr


def test_plan_out_to_a_directory_is_one_line_before_any_work(cli, tmp_path):
    (tmp_path / "m.yaml").write_text(MANIFEST)
    out_dir = tmp_path / "outdir"
    out_dir.mkdir()
    result = cli("plan", tmp_path / "m.yaml", "--out", out_dir, "--tracking-uri", f"sqlite:///{tmp_path}/r.db")
    assert result.returncode == 1
    assert result.stderr.strip() == f"--out {out_dir}: a directory; give a file path. Nothing was written."
    assert result.stdout == ""  # refused before planning, not after printing the plan
    assert list(out_dir.iterdir()) == []


@pytest.mark.parametrize("command", ["plan", "drift"])
def test_out_under_a_regular_file_is_one_line(cli, tmp_path, command):
    (tmp_path / "m.yaml").write_text(MANIFEST)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    result = cli(command, tmp_path / "m.yaml", "--out", blocker / "x.json", "--tracking-uri", f"sqlite:///{tmp_path}/r.db")
    assert result.returncode == 1
    assert f"--out {blocker / 'x.json'}: {blocker} is not a directory. Nothing was written." in result.stderr
    assert "internal error" not in result.stderr and blocker.read_text() == "x"


def test_out_to_a_fifo_is_refused_without_opening_it(run_cli, tmp_path, fifo):
    (tmp_path / "m.yaml").write_text(MANIFEST)
    result = run_cli("plan", tmp_path / "m.yaml", "--out", fifo, "--tracking-uri", f"sqlite:///{tmp_path}/r.db",
                     timeout=60)
    assert result.returncode == 1 and "not a regular file" in result.stderr, result.stderr


def test_plan_time_problems_are_capped_as_validate_caps_them(cli, tmp_path):
    """Issue 9: a manifest naming thousands of missing versions printed a line for each."""
    versions = "".join(f"  - version: {i}\n" for i in range(1, 1001))
    (tmp_path / "m.yaml").write_text(MANIFEST + "versions:\n" + versions)
    result = cli("plan", tmp_path / "m.yaml", "--tracking-uri", f"sqlite:///{tmp_path}/r.db")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 101, lines[:3]
    assert lines[-1].endswith("... and 900 more problems in this file, not listed: fix the first 100 and run again")


def test_nothing_printed_carries_raw_escape_codes(capsys):
    """The console is the last line of defence: whatever a message holds (a server's error text, a
    registry value), escape sequences, carriage returns and bidi overrides are printed escaped."""
    from reconciler.console import err, out

    out("model evil\x1b[2J\rApply complete!\u202e")
    err("Error: server said \x1b]0;owned\x07 no\nnext line\tok")
    captured = capsys.readouterr()
    assert captured.out == "model evil\\x1b[2J\\rApply complete!\\u202e\n"
    assert captured.err == "Error: server said \\x1b]0;owned\\x07 no\nnext line\tok\n"
