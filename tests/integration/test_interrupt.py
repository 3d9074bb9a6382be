"""Ctrl-C during apply: models in progress stop after their current change, none other starts,
and the report says what was and was not applied; a rerun converges."""

from __future__ import annotations

import signal
import subprocess
import sys

from conftest import _clean_env
from support.faultproxy import FaultProxy, Rule
from support.integration import promotion_manifest, seed_versions, state, write


def test_ctrl_c_stops_after_the_change_in_flight_and_reports_what_is_left(sqlite_server, unique_name, cli, tmp_path):
    names = [f"{unique_name}_{i}" for i in range(4)]
    for name in names:
        seed_versions(sqlite_server.uri, name, ["Production", "Staging"])
        write(tmp_path / "m" / f"{name}.yaml", promotion_manifest(name))
    proc: list[subprocess.Popen] = []
    with FaultProxy(sqlite_server.uri) as proxy:
        # The third model's first stage move is held until the apply has taken its Ctrl-C.
        held = proxy.add(Rule(action="hang", method="POST", path="transition-stage", skip=4, times=1,
                              before=lambda _: proc[0].send_signal(signal.SIGINT)))
        proc.append(subprocess.Popen(
            [sys.executable, "-m", "reconciler", "apply", str(tmp_path / "m"), "--auto-approve", "--parallelism", "1",
             "--tracking-uri", proxy.uri],
            env=_clean_env(None), stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        ))
        stderr = []
        for line in proc[0].stderr:
            stderr.append(line)
            if line.startswith("Interrupt received"):
                proxy.release()  # the held call now fails as a lost connection, and is retried
                break
        stderr += proc[0].stderr.readlines()
        code = proc[0].wait(timeout=120)
    report = "".join(stderr)
    assert held.fired == 1
    assert code == 130, report
    assert "Interrupt received: 1 model in progress stop after their current change" in report
    assert "Applied 9 of 16 changes before the interrupt." in report  # 2 models, and model 3's stage move
    not_applied = [line for line in stderr if line.startswith("  not applied:")]
    assert len(not_applied) == 16 - 9
    assert all(names[2] in line or names[3] in line for line in not_applied)
    assert state(sqlite_server.uri, names[3])["versions"]["1"]["stage"] == "Production"  # never started
    assert "Traceback" not in report

    again = cli("apply", tmp_path / "m", "--auto-approve", "--tracking-uri", sqlite_server.uri)
    assert again.returncode == 0, again.stderr
    assert cli("plan", tmp_path / "m", "--detailed-exitcode", "--tracking-uri", sqlite_server.uri).returncode == 0
