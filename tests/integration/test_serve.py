"""`serve` with real parts: a real `mlflow server` delivering real, signed webhooks to a real `serve`
process; metrics scraped and parsed with Prometheus's parser; hand changes healed; a registry
outage and recovery through a fault proxy; notifications received over HTTP; the status page
rendered by Debian's headless chromium; SIGTERM."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
import uuid
import warnings

import pytest
from support.faultproxy import FaultProxy, Rule
from support.integration import client, promotion_manifest, seed_versions, state, write
from support.serveproc import Receiver, Serve

from reconciler.serve.webhook import signature

pytestmark = pytest.mark.integration

SECRET = "webhook-s3cret-for-tests"
PASSWORD = "pa55-w0rd-never-shown"
FAST = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_GITOPS_WEBHOOK_SECRET": SECRET}


def in_sync(serve: Serve, model: str) -> float | None:
    return serve.metric("mlflow_gitops_model_in_sync", model=model)


def model_status(serve: Serve, model: str) -> dict:
    return next(m for m in serve.status()["models"] if m["model"] == model)


def chromium_dom(url: str) -> str:
    browser = shutil.which("chromium")
    if browser is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", url],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_webhook_from_mlflow_triggers_a_cycle_nothing_written_forgery_refused(webhook_server, run_cli, tmp_path,
                                                                            unique_name):
    uri = webhook_server.uri
    seed_versions(uri, unique_name, ["Production", "Staging"])
    manifests = tmp_path / "manifests"
    write(manifests / "model.yaml", promotion_manifest(unique_name))
    assert run_cli("apply", manifests, "--auto-approve", "--tracking-uri", uri).returncode == 0
    # credentials in the URI (a server without auth ignores them): never served, logged or recorded
    with_password = uri.replace("http://", f"http://gitops:{PASSWORD}@")
    events = tmp_path / "events.jsonl"
    with Receiver() as notified:
        serve = Serve(tmp_path, manifests, "--interval", "3600", "--events", events, "--notify-url", notified.url,
                      "--tracking-uri", with_password, env=FAST)
        try:
            serve.wait_for("the first cycle", lambda: serve.request("/healthz")[0] == 200)
            assert in_sync(serve, unique_name) == 1
            assert serve.metric("mlflow_gitops_heals_total", model=unique_name) == 0
            assert serve.metric("mlflow_gitops_cycles_total") == 1

            # a forged delivery (wrong secret), then an unsigned one: 401, no cycle
            body = json.dumps({"entity": "model_version_alias", "action": "created", "data": {}}).encode()
            stamp = str(int(time.time()))
            forged = {"X-MLflow-Delivery-Id": str(uuid.uuid4()), "X-MLflow-Timestamp": stamp,
                      "X-MLflow-Signature": signature("not-the-secret", "x", stamp, body)}
            assert serve.request("/webhook", body, forged)[0] == 401
            assert serve.request("/webhook", body, {"Content-Type": "application/json"})[0] == 401
            old = str(int(time.time()) - 301)
            delivery = str(uuid.uuid4())
            stale = {"X-MLflow-Delivery-Id": delivery, "X-MLflow-Timestamp": old,
                     "X-MLflow-Signature": signature(SECRET, delivery, old, body)}
            assert serve.request("/webhook", body, stale)[0] == 401
            assert serve.metric("mlflow_gitops_webhooks_total", result="refused") == 3
            assert serve.metric("mlflow_gitops_cycles_total") == 1

            # MLflow itself delivers the alias change, signed with the webhook's secret
            c = client(uri)
            c.create_webhook(name=f"gitops-{unique_name}", url=f"{serve.base}/webhook", secret=SECRET,
                             events=["model_version_alias.created", "model_version_alias.deleted",
                                     "model_version_tag.set"])
            before = state(uri, unique_name)
            c.set_registered_model_alias(unique_name, "champion", "1")  # by hand: champion back to v1
            serve.wait_for("the webhook's cycle", lambda: in_sync(serve, unique_name) == 0, timeout=30)
            status = serve.status()
            assert status["last_cycle"]["trigger"] == "webhook"  # the interval is an hour
            assert serve.metric("mlflow_gitops_webhooks_total", result="accepted") >= 1
            m = model_status(serve, unique_name)
            assert m["status"] == "out_of_sync"
            assert [(d["field"], d["git"], d["live"]) for d in m["drift"]] == [("aliases.champion", "2", "1")]
            assert serve.metric("mlflow_gitops_drifted_fields", model=unique_name) == 1
            # without self-heal, nothing is written
            assert state(uri, unique_name)["aliases"] == {**before["aliases"], "champion": "1"}
            assert serve.metric("mlflow_gitops_heals_total", model=unique_name) == 0

            # the page, rendered by a real browser
            dom = chromium_dom(serve.base + "/")
            assert f'id="model-{unique_name}" data-status="out_of_sync"' in dom
            assert "aliases.champion" in dom and "out of sync" in dom
            # manifests outside any git work tree: a note where the promotion history would be
            assert "No promotion history: the manifests are not in a git work tree" in dom

            served = "".join(serve.request(p)[1] for p in ("/", "/api/status", "/metrics", "/healthz"))
            assert serve.status()["tracking_uri"].startswith("http://***@127.0.0.1")
            notified_once = serve.wait_for("the notification", lambda: notified.events())
        finally:
            code = serve.stop(signal.SIGTERM)
    assert code == 0, serve.log()
    assert "Stopped." in serve.log()
    assert notified_once == ["out_of_sync"] and unique_name in notified.messages[0]["text"]
    records = [json.loads(line) for line in events.read_text().splitlines()]
    assert [(r["event"], r["model"]) for r in records] == [("drift", unique_name)]
    for text in (served, serve.log(), events.read_text(), json.dumps(notified.messages)):
        assert PASSWORD not in text


def test_self_heal_reverts_hand_changes_within_two_intervals(sqlite_server, run_cli, tmp_path, unique_name):
    uri = sqlite_server.uri
    seed_versions(uri, unique_name, ["Production", "Staging"])
    manifests = tmp_path / "manifests"
    write(manifests / "model.yaml", promotion_manifest(unique_name))
    assert run_cli("apply", manifests, "--auto-approve", "--tracking-uri", uri).returncode == 0
    wanted = state(uri, unique_name)
    events = tmp_path / "events.jsonl"
    serve = Serve(tmp_path, manifests, "--interval", "2", "--self-heal", "--events", events,
                  "--tracking-uri", uri, env=FAST)
    try:
        serve.wait_for("the first cycle", lambda: serve.request("/healthz")[0] == 200)
        c = client(uri)
        changed_at = serve.status()["cycles"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            c.transition_model_version_stage(unique_name, "1", "Production")  # no webhook for stages
        c.set_registered_model_tag(unique_name, "team", "someone-else")
        serve.wait_for("the heal", lambda: serve.metric("mlflow_gitops_heals_total", model=unique_name) == 1)
        assert in_sync(serve, unique_name) == 1
        assert model_status(serve, unique_name)["status"] == "synced"
    finally:
        assert serve.stop() == 0, serve.log()
    now = state(uri, unique_name)
    assert {v: x["stage"] for v, x in now["versions"].items()} == {v: x["stage"] for v, x in wanted["versions"].items()}
    assert now["tags"] == wanted["tags"]
    records = [json.loads(line) for line in events.read_text().splitlines()]
    heal = next(r for r in records if r["event"] == "heal")
    assert heal["cycle"] <= changed_at + 2  # noticed and healed within two intervals
    assert {(ch["action"], ch.get("version")) for ch in heal["changes"]} >= {("transition_stage", "1"),
                                                                         ("set_model_tag", None)}
    assert "by " in heal["applied"]
    drift = next(r for r in records if r["event"] == "drift")
    assert drift["cycle"] <= heal["cycle"]
    # the lease was released: no lock model is left behind
    leases = client(uri).search_registered_models(filter_string="name LIKE 'mlflow-gitops.lock.%'")
    assert not [m for m in leases if m.tags.get("mlflow-gitops.lock.holder", "").endswith(f" pid {serve.proc.pid}")]


def test_registry_outage_is_counted_and_recovered(sqlite_server, run_cli, tmp_path, unique_name):
    uri = sqlite_server.uri
    seed_versions(uri, unique_name, ["Production", "Staging"])
    manifests = tmp_path / "manifests"
    write(manifests / "model.yaml", promotion_manifest(unique_name))
    assert run_cli("apply", manifests, "--auto-approve", "--tracking-uri", uri).returncode == 0
    with FaultProxy(uri) as proxy, Receiver() as notified:
        serve = Serve(tmp_path, manifests, "--interval", "1", "--notify-url", notified.url,
                      "--tracking-uri", proxy.uri, env=FAST)
        try:
            serve.wait_for("the first cycle", lambda: serve.request("/healthz")[0] == 200)
            proxy.add(Rule(action="status", status=503, times=None))
            serve.wait_for("failing cycles", lambda: (serve.metric("mlflow_gitops_cycle_errors_total") or 0) >= 3)
            code, text = serve.request("/healthz")
            assert code == 503 and "failing" in text
            assert model_status(serve, unique_name)["status"] == "error"
            last_success = serve.metric("mlflow_gitops_last_success_timestamp_seconds")
            proxy.clear()
            serve.wait_for("recovery", lambda: serve.request("/healthz")[0] == 200)
            assert serve.metric("mlflow_gitops_last_success_timestamp_seconds") > last_success
            assert model_status(serve, unique_name)["status"] == "synced"
            serve.wait_for("the recovery notification", lambda: "recovered" in notified.events())
        finally:
            assert serve.stop() == 0, serve.log()
    # once per transition, however many cycles failed
    assert notified.events() == ["cycle_failed", "recovered"]
    assert "503" in notified.messages[0]["text"]


@pytest.mark.parametrize("self_heal,code", [(False, 2), (True, 0)])
def test_once_exit_codes(sqlite_server, run_cli, tmp_path, unique_name, self_heal, code):
    uri = sqlite_server.uri
    seed_versions(uri, unique_name, ["Production", "Staging"])
    manifests = tmp_path / "manifests"
    write(manifests / "model.yaml", promotion_manifest(unique_name))
    before = state(uri, unique_name)
    done = run_cli("serve", manifests, "--once", "--tracking-uri", uri, *(["--self-heal"] if self_heal else []))
    assert done.returncode == code, done.stderr
    after = state(uri, unique_name)
    if self_heal:
        assert after["aliases"] == {"champion": "2"}
        assert run_cli("serve", manifests, "--once", "--tracking-uri", uri).returncode == 0
    else:
        assert after == before  # nothing written
        assert unique_name in done.stdout and "out of sync" in done.stdout


def test_once_registry_unreachable_and_bad_flags(run_cli, tmp_path):
    manifests = write(tmp_path / "m.yaml", promotion_manifest("m"))
    done = run_cli("serve", manifests, "--once", "--tracking-uri", "http://127.0.0.1:9", env=FAST)
    assert done.returncode == 1 and "Error:" in done.stderr and "Traceback" not in done.stderr
    done = run_cli("serve", tmp_path / "missing", "--once")
    assert done.returncode == 1 and "no such file" in done.stderr
    done = run_cli("serve", manifests, "--listen", "nonsense")
    assert done.returncode == 1 and "--listen" in done.stderr and "Traceback" not in done.stderr


def test_sigterm_during_a_heal_finishes_the_call_releases_the_lease_and_exits_0(sqlite_server, run_cli, tmp_path,
                                                                               unique_name):
    uri = sqlite_server.uri
    seed_versions(uri, unique_name, ["Production", "Staging"])
    manifests = tmp_path / "manifests"
    write(manifests / "model.yaml", promotion_manifest(unique_name))  # v2 to Production: a heal to make
    running: list[Serve] = []

    def terminate(_request) -> None:  # in the proxy, when the heal's stage move arrives
        deadline = time.monotonic() + 60
        while not running and time.monotonic() < deadline:
            time.sleep(0.05)
        running[0].proc.send_signal(signal.SIGTERM)

    with FaultProxy(uri) as proxy:
        held = proxy.add(Rule(action="hang", method="POST", path="transition-stage", times=1, before=terminate))
        serve = Serve(tmp_path, manifests, "--interval", "1", "--self-heal", "--tracking-uri", proxy.uri, env=FAST)
        running.append(serve)
        try:
            serve.wait_for("the signal", lambda: "SIGTERM received" in serve.log(), timeout=120)
            proxy.release()  # the held call now fails as a lost connection
            code = serve.proc.wait(timeout=60)
        finally:
            serve.stop()
    assert held.fired == 1
    assert code == 0, serve.log()
    assert "Stopped." in serve.log() and "Traceback" not in serve.log()
    leases = client(uri).search_registered_models(filter_string="name LIKE 'mlflow-gitops.lock.%'")
    ours = [m.name for m in leases if m.tags.get("mlflow-gitops.lock.holder", "").endswith(f" pid {serve.proc.pid}")]
    assert ours == []  # released (other tests' leases on this shared server are theirs)


def test_self_heal_respects_gates(embedded_uri, run_cli, tmp_path, unique_name):
    from test_promotion_gates import manifest, seed

    seed(embedded_uri, unique_name, [7.0, 5.0], ["None", "Production"])
    gates = "    - target: Production\n      metric: rmse\n      max: 6.5\n"
    worse = write(tmp_path / "worse" / "m.yaml", manifest(unique_name, gates, "  - version: 1\n    stage: Production\n"))
    before = state(embedded_uri, unique_name)
    events = tmp_path / "events.jsonl"
    done = run_cli("serve", worse.parent, "--once", "--self-heal", "--events", events, "--tracking-uri", embedded_uri)
    assert done.returncode == 2, done.stderr
    assert "error (blocked by gate Production" in done.stdout and "rmse" in done.stdout
    assert state(embedded_uri, unique_name) == before  # nothing written
    assert [json.loads(line)["event"] for line in events.read_text().splitlines()] == ["drift", "heal_failed"]
    # a promotion that passes its gate is healed
    better = write(tmp_path / "better" / "m.yaml",
                   manifest(unique_name, gates, "  - version: 2\n    stage: Archived\n  - version: 1\n    stage: None\n"))
    done = run_cli("serve", better.parent, "--once", "--self-heal", "--tracking-uri", embedded_uri)
    assert done.returncode == 0, done.stdout + done.stderr
    assert {v: x["stage"] for v, x in state(embedded_uri, unique_name)["versions"].items()} == {"1": "None",
                                                                                            "2": "Archived"}


def git(*args, cwd) -> str:
    return subprocess.run(["git", "-c", "user.name=alice", "-c", "user.email=alice@example.com", *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, check=True).stdout


def test_git_pull_reads_the_pushed_manifests_and_a_failing_pull_fails_the_cycle(embedded_uri, run_cli, tmp_path,
                                                                                unique_name):
    seed_versions(embedded_uri, unique_name, ["Production", "Staging"])
    origin, clone = tmp_path / "origin", tmp_path / "clone"
    write(origin / "manifests" / "model.yaml", promotion_manifest(unique_name))
    git("init", "-q", "-b", "main", cwd=origin)
    git("add", "-A", cwd=origin)
    git("commit", "-qm", "promote v2", cwd=origin)
    git("clone", "-q", origin, clone, cwd=tmp_path)
    uri = ["--tracking-uri", embedded_uri]
    assert run_cli("serve", clone / "manifests", "--once", "--self-heal", "--git-pull", *uri).returncode == 0
    # a new commit on the remote: the next cycle pulls it first (and heals to it)
    write(origin / "manifests" / "model.yaml", promotion_manifest(unique_name, description="pulled"))
    git("commit", "-qam", "describe", cwd=origin)
    done = run_cli("serve", clone / "manifests", "--once", "--self-heal", "--git-pull", *uri)
    assert done.returncode == 0, done.stderr
    assert state(embedded_uri, unique_name)["description"] == "pulled"
    # a pull that cannot fast-forward fails the cycle with git's reason, and writes nothing
    write(clone / "manifests" / "model.yaml", promotion_manifest(unique_name, description="local"))
    git("commit", "-qam", "local edit", cwd=clone)
    write(origin / "manifests" / "model.yaml", promotion_manifest(unique_name, description="remote"))
    git("commit", "-qam", "remote edit", cwd=origin)
    done = run_cli("serve", clone / "manifests", "--once", "--self-heal", "--git-pull", *uri)
    assert done.returncode == 1 and "git pull --ff-only" in done.stderr
    assert state(embedded_uri, unique_name)["description"] == "pulled"


def test_status_page_shows_the_promotion_history_from_git(embedded_uri, run_cli, tmp_path, unique_name):
    """Two promotion commits, each applied: the page (in a real browser) and /api/status show the
    periods newest first, with commit, author and the apply's stamp."""
    seed_versions(embedded_uri, unique_name, ["Production", "Staging"])
    repo = tmp_path / "repo"
    staged = promotion_manifest(unique_name).replace(
        "  - version: 2\n    stage: Production\n    aliases: [champion]\n  - version: 1\n    stage: Archived\n",
        "  - version: 1\n    stage: Production\n    aliases: [champion]\n  - version: 2\n    stage: Staging\n")
    shas = []
    for author, subject, text in (("alice", "declare v1 <prod>", staged), ("bob", "promote v2", None)):
        write(repo / "manifests" / "model.yaml", text or promotion_manifest(unique_name))
        if not shas:
            git("init", "-q", "-b", "main", cwd=repo)
        git("add", "-A", cwd=repo)
        git("-c", f"user.name={author}", "commit", "-qm", subject, cwd=repo)
        shas.append(git("rev-parse", "HEAD", cwd=repo).strip())
        done = run_cli("apply", repo / "manifests", "--auto-approve", "--tracking-uri", embedded_uri)
        assert done.returncode == 0, done.stderr
    serve = Serve(tmp_path, repo / "manifests", "--interval", "3600", "--tracking-uri", embedded_uri, env=FAST)
    try:
        serve.wait_for("the first cycle", lambda: serve.request("/healthz")[0] == 200)
        history = serve.status()["history"]
        assert history["head"] == shas[1] and history["note"] is None and history["commits"] == 2
        production = history["models"][unique_name]["Production"]
        assert [(p["version"], p["commit"], p["author"]) for p in production] == [
            ("2", shas[1][:12], "bob"), ("1", shas[0][:12], "alice")]
        assert production[0]["to"] is None and production[1]["to"] == production[0]["from"]
        assert production[0]["applied_at"] is not None
        assert [p["version"] for p in history["models"][unique_name]["@champion"]] == ["2", "1"]
        dom = chromium_dom(serve.base + "/")
    finally:
        assert serve.stop(signal.SIGTERM) == 0, serve.log()
    table = dom.split(f'<table class="history" data-model="{unique_name}">')[1].split("</table>")[0]
    rows = table.split('<tr class="period">')[1:]
    assert len(rows) == 5  # Production v2, v1; Staging v2; @champion v2, v1
    assert "v2" in rows[0] and shas[1][:12] in rows[0] and "bob" in rows[0] and "now" in rows[0]
    assert "v1" in rows[1] and shas[0][:12] in rows[1] and "alice" in rows[1] and "declare v1 &lt;prod&gt;" in rows[1]


def test_once_without_self_heal_creates_no_registry(run_cli, tmp_path):
    """Like `plan` and `drift`: a sqlite registry that does not exist is read as empty, not created."""
    manifests = write(tmp_path / "m.yaml", promotion_manifest("m"))
    store = tmp_path / "nowhere.db"
    done = run_cli("serve", manifests, "--once", "--tracking-uri", f"sqlite:///{store}", cwd=tmp_path)
    assert done.returncode == 2, done.stderr  # everything declared is missing: drift
    assert not store.exists() and not (tmp_path / "mlflow.db").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.yaml"]
