"""On a terminal, apply shows the plan and asks; only `yes` applies."""

from __future__ import annotations

import os
import select
import subprocess
import sys

import pytest
from support.integration import state, write

pytestmark = pytest.mark.integration


def run_on_tty(args: list[str], answer: str, timeout: float = 120) -> tuple[int, str]:
    master, slave = os.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
    proc = subprocess.Popen([sys.executable, "-m", "reconciler", *args], stdin=slave, stdout=slave,
                            stderr=slave, env=env, close_fds=True)
    os.close(slave)
    os.write(master, answer.encode() + b"\n")  # the terminal buffers the line until input() reads it
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([master], [], [], timeout)
            if not ready:
                proc.kill()
                raise AssertionError("no output from apply on the terminal: " + b"".join(chunks).decode())
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        return proc.wait(timeout=timeout), b"".join(chunks).decode(errors="replace")
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("answer, applied", [("no", False), ("yes", True)])
def test_apply_asks_on_a_terminal(embedded_uri, unique_name, tmp_path, answer, applied):
    tree = write(tmp_path / "m.yaml", f"""\
        apiVersion: mlflow-gitops/v1
        kind: RegisteredModel
        name: {unique_name}
        tags: {{team: mlops}}
        """)
    code, output = run_on_tty(["apply", str(tree), "--tracking-uri", embedded_uri], answer)
    assert "Do you want to perform these actions?" in output
    assert f"+ {unique_name}: create registered model" in output
    if applied:
        assert code == 0, output
        assert state(embedded_uri, unique_name)["tags"] == {"team": "mlops"}
    else:
        assert code == 1, output
        assert "Apply cancelled; nothing was changed." in output
        assert state(embedded_uri, unique_name) == {}
