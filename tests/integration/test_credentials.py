"""Credentials never leave the process: not on stdout or stderr, not in plan files or reports, not
in errors raised inside MLflow, requests or urllib3, not in their logs or warnings.

Real values are planted in every place MLflow takes credentials from: the tracking URI's userinfo
(percent-encoded, `p%40ss`), the registry URI's, MLFLOW_TRACKING_USERNAME/PASSWORD and
MLFLOW_TRACKING_TOKEN. Every command runs in a real process (a stray write to the real stderr, a
logging handler or a warning could not hide from the capture), and every output and every file
written under the working directory and HOME is searched for each secret in every form it travels
in: as is, percent-encoded, and base64-encoded in a Basic Authorization header.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from support.integration import client, write

# fail fast against the unreachable port and the refusing servers, yet still go through one retry
FAST_HTTP = {"MLFLOW_GITOPS_HTTP_MAX_RETRIES": "1", "MLFLOW_GITOPS_HTTP_BACKOFF_FACTOR": "0",
             "MLFLOW_GITOPS_HTTP_TIMEOUT": "10"}  # fmt: skip


@dataclass(frozen=True)
class Planted:
    uri_user: str
    uri_password: str  # has characters that must be percent-encoded in a URI
    registry_user: str
    registry_password: str
    env_user: str
    env_password: str
    token: str

    @classmethod
    def new(cls) -> Planted:
        tag = secrets.token_hex(6)
        return cls(
            uri_user="alice",
            uri_password=f"uri-p@ss:w/rd#{tag}",
            registry_user="carol",
            registry_password=f"reg-P%ss{tag}",
            env_user="bob",
            env_password=f"env-pw-{tag}",
            token=f"tok-{secrets.token_hex(12)}",
        )

    def uri(self, base: str, user: str | None = None, password: str | None = None) -> str:
        user = self.uri_user if user is None else user
        password = self.uri_password if password is None else password
        parts = urlsplit(base)
        return f"{parts.scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{parts.netloc}{parts.path}"

    def registry_uri(self, base: str) -> str:
        return self.uri(base, self.registry_user, self.registry_password)

    def env(self, **extra: str | None) -> dict[str, str | None]:
        return {
            "MLFLOW_TRACKING_USERNAME": self.env_user,
            "MLFLOW_TRACKING_PASSWORD": self.env_password,
            "MLFLOW_TRACKING_TOKEN": self.token,
            **extra,
        }

    @property
    def forbidden(self) -> list[str]:
        """Every form in which a secret could leak."""
        found = []
        for user, password in [
            (self.uri_user, self.uri_password),
            (self.registry_user, self.registry_password),
            (self.env_user, self.env_password),
        ]:
            found += [password, quote(password, safe=""), f"{user}:{password}"]
            for u, p in [(user, password), (quote(user, safe=""), quote(password, safe=""))]:
                found.append(base64.b64encode(f"{u}:{p}".encode()).decode())
        found += [self.token, base64.b64encode(self.token.encode()).decode()]
        return found


@dataclass
class Output:
    stdout: str
    stderr: str


@pytest.fixture(scope="module")
def planted() -> Planted:
    return Planted.new()


@pytest.fixture
def work(tmp_path) -> tuple[Path, dict[str, str]]:
    """A working directory and a HOME of its own, both searched for secrets afterwards."""
    (tmp_path / "home").mkdir()
    (tmp_path / "work").mkdir()
    return tmp_path / "work", {"HOME": str(tmp_path / "home")}


def assert_no_secret(planted: Planted, results, *roots: Path) -> None:
    texts = {}
    for i, r in enumerate(results):
        texts[f"run {i} stdout"] = r.stdout
        texts[f"run {i} stderr"] = r.stderr
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                texts[str(path)] = path.read_bytes().decode("utf-8", "replace")
    leaks = [(where, secret) for where, text in texts.items() for secret in planted.forbidden if secret in text]
    assert not leaks, f"credentials leaked: {leaks}"


def manifest(name: str, description: str) -> str:
    return f"""\
        apiVersion: mlflow-gitops/v1
        kind: RegisteredModel
        name: {name}
        description: {description}
        tags: {{team: mlops}}
        versions:
          - source: s3://bucket/{name}/1
            stage: Staging
            aliases: [challenger]
        """


# ---- a real mlflow server: every command, every format ---------------------------------------------


def run_all(run_cli, calls: list[tuple], **kwargs) -> list:
    """Independent commands at once: each still a process of its own, the wall time shorter."""
    with ThreadPoolExecutor(max_workers=3) as pool:
        return list(pool.map(lambda args: run_cli(*args, **kwargs), calls))


def test_every_command_against_a_real_server(
    planted, sqlite_server, unique_name, run_cli, cli, capfd, monkeypatch, work
):
    """The main paths in real processes; the other output formats and the plan-file errors
    in-process (cheaper: no MLflow import each), with the process's file descriptors captured too."""
    cwd, home = work
    tracking = planted.uri(sqlite_server.uri)
    registry = planted.registry_uri(sqlite_server.uri)
    env = planted.env(MLFLOW_TRACKING_URI=tracking, **home)  # the URI from the environment...
    flags = ("--registry-uri", registry)  # ...and from the command line
    write(cwd / "manifests" / "m.yaml", manifest(unique_name, "first"))

    first = run_all(run_cli, [
        ("validate", "manifests"),
        ("schema",),
        ("plan", "manifests", "--out", "plan.json", "--verbose", *flags),
    ], env=env, cwd=cwd)  # fmt: skip
    assert [r.returncode for r in first] == [0, 0, 0], [r.stderr for r in first]
    assert f"http://***@127.0.0.1:{sqlite_server.port}" in first[2].stdout  # masked, not dropped
    saved = json.loads((cwd / "plan.json").read_text())
    assert saved["tracking_uri"] == f"http://***@127.0.0.1:{sqlite_server.port}"
    (cwd / "stale.json").write_text((cwd / "plan.json").read_text())  # stale once plan.json is applied
    (cwd / "elsewhere.json").write_text(json.dumps(dict(saved, tracking_uri="http://***@elsewhere.example:5000")))
    (cwd / "broken.json").write_text('{"format_version": "1", "tracking_uri": ')

    applied = run_cli("apply", "plan.json", "--verbose", *flags, env=env, cwd=cwd)
    assert applied.returncode == 0, applied.stderr

    write(cwd / "manifests" / "m.yaml", manifest(unique_name, "second"))
    last = run_all(run_cli, [
        ("apply", "manifests", "--auto-approve", "--format", "json", *flags),
        ("apply", "stale.json", *flags),
    ], env=env, cwd=cwd)  # fmt: skip
    assert [r.returncode for r in last] == [0, 1], [r.stderr for r in last]
    assert "changed since" in last[1].stderr
    assert client(sqlite_server.uri).get_registered_model(unique_name).description == "second"

    monkeypatch.chdir(cwd)
    capfd.readouterr()
    in_process = [
        (cli("plan", "manifests", "--format", "json", *flags, env=env), 0),
        (cli("plan", "manifests", "--format", "markdown", *flags, env=env), 0),
        (cli("apply", "broken.json", *flags, env=env), 1),
        (cli("apply", "elsewhere.json", *flags, env=env), 1),
    ]
    assert [r.returncode for r, _ in in_process] == [code for _, code in in_process], [r.stderr for r, _ in in_process]
    assert "elsewhere.example" in in_process[3][0].stderr
    fds = capfd.readouterr()
    outputs = [*first, applied, *last, *(Output(r.stdout, r.stderr) for r, _ in in_process), Output(fds.out, fds.err)]
    assert_no_secret(planted, outputs, cwd, Path(home["HOME"]))


# ---- servers that are not there, refuse, or echo the request back ----------------------------------


class EchoingHandler(BaseHTTPRequestHandler):
    """Answers every request with the status named by the path's first segment (`/s403/...`) and a
    body that echoes everything a careless server or proxy might: the URL, the Authorization
    header, and the credentials it decodes from it."""

    def _answer(self) -> None:
        status = int(self.path.split("/")[1][1:])
        auth = self.headers.get("Authorization", "")
        decoded = ""
        if auth.startswith("Basic "):
            decoded = base64.b64decode(auth[6:]).decode("utf-8", "replace")
        echo = (
            f"refused {self.command} http://{self.headers.get('Host')}{self.path} "
            f"with Authorization: {auth} (user:password {decoded}) headers={dict(self.headers)!r}"
        )
        code = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED"}.get(status, "INTERNAL_ERROR")
        body = json.dumps({"error_code": code, "message": echo}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("WWW-Authenticate", f'Basic realm="{auth}"')
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_DELETE = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def echo_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.integration
def test_unreachable_and_refusing_servers(planted, echo_server, run_cli, work):
    """Errors raised inside MLflow/requests/urllib3 name the server, never its credentials:
    - nothing listens on the port (connection refused, after a retry);
    - 401 with the URI's credentials (requests sends them as Basic auth), 403 with a token, 501 with
      MLFLOW_TRACKING_USERNAME/PASSWORD, each echoed back in the error body and headers.
      (A 500 is retried, then reported without its body; a 501 is not retried.)"""
    cwd, home = work
    write(cwd / "m.yaml", manifest("refused_model", "x"))
    down = planted.uri(f"http://127.0.0.1:{free_port()}")
    password = {"MLFLOW_TRACKING_USERNAME": planted.env_user, "MLFLOW_TRACKING_PASSWORD": planted.env_password}
    cases = [  # (command, env, what stderr must show)
        (("plan", "m.yaml", "--tracking-uri", down), planted.env(), down.split("@")[1]),
        (("apply", "m.yaml", "--auto-approve", "--verbose"), {"MLFLOW_TRACKING_URI": down, "MLFLOW_GITOPS_DEBUG": "1"},
         down.split("@")[1]),
        (("plan", "m.yaml", "--tracking-uri", planted.uri(f"{echo_server}/s401")), {}, "Authorization: Basic ***"),
        (("apply", "m.yaml", "--auto-approve", "--tracking-uri", f"{echo_server}/s403"),
         {"MLFLOW_TRACKING_TOKEN": planted.token}, "Authorization: Bearer ***"),
        (("plan", "m.yaml", "--format", "json", "--tracking-uri", f"{echo_server}/s501"), password,
         "Authorization: Basic ***"),
    ]  # fmt: skip
    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = list(pool.map(lambda c: run_cli(*c[0], env={**c[1], **FAST_HTTP, **home}, cwd=cwd), cases))
    for (command, _, shown), r in zip(cases, runs):
        assert r.returncode == 1, (command, r.stdout, r.stderr)
        assert shown in r.stderr, (command, r.stderr)  # the error is reported, masked
        assert "Traceback" not in r.stderr
    assert_no_secret(planted, runs, cwd, Path(home["HOME"]))


# ---- what does not go through our console: logging, warnings, prints, tracebacks -------------------

HOOKS_DRIVER = """
import logging, sys, warnings
from reconciler import cli

secret_uri = sys.argv[1]
def noisy():
    from reconciler.target import resolve
    resolve(secret_uri, None)  # registers the URI's credentials, as every command does
    warnings.warn(f"could not reach {secret_uri}")  # the warnings module writes to stderr itself
    logging.getLogger("urllib3.connectionpool").warning("Retrying %s", secret_uri)  # lastResort handler
    logging.getLogger("mlflow.utils.rest_utils").error("request to %s failed", secret_uri)
    print("printed by a library:", secret_uri)
    raise RuntimeError(f"boom at {secret_uri}")
sys.argv = ["mlflow-gitops"]
try:
    cli.handle(noisy)
except BaseException as e:  # typer.Exit
    sys.exit(getattr(e, "exit_code", 1))
"""


@pytest.mark.parametrize("debug", ["", "1"])
def test_warnings_logs_prints_and_tracebacks_are_redacted(debug, planted, tmp_path):
    import subprocess
    import sys

    uri = planted.uri("http://127.0.0.1:9")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_GITOPS_DEBUG"] = debug
    result = subprocess.run([sys.executable, "-c", HOOKS_DRIVER, uri], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=60)  # fmt: skip
    assert result.returncode == 1
    masked = "http://***@127.0.0.1:9"
    assert f"could not reach {masked}" in result.stderr
    assert f"Retrying {masked}" in result.stderr and f"request to {masked} failed" in result.stderr
    assert f"printed by a library: {masked}" in result.stdout
    assert f"boom at {masked}" in result.stderr
    assert ("Traceback" in result.stderr) == bool(debug)
    assert_no_secret(planted, [result], tmp_path)


# ---- redact() itself ----------------------------------------------------------------------------------


def test_every_form_of_a_registered_secret_is_masked(planted):
    from reconciler import redact

    redact.register_uri(planted.uri("https://mlflow.example"))
    redact.register_uri(planted.registry_uri("https://registry.example"))
    redact.register_secret(planted.token)
    redact.register_basic_auth(planted.env_user, planted.env_password)
    redact.register_secret(planted.env_password)
    never_sent = base64.b64encode(planted.token.encode()).decode()  # a token travels as is (Bearer)
    for secret in planted.forbidden:
        if secret != never_sent:
            shown = redact.redact(f"x {secret} y")
            assert secret not in shown and "***" in shown, secret
    assert redact.redact(json.dumps({"password": planted.uri_password})) == '{"password": "***"}'
    assert redact.redact(repr(planted.registry_password)) == "'***'"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET https://someone:hunter2@host/x failed", "GET https://***@host/x failed"),
        ("postgresql+psycopg2://u:p@db:5432/m", "postgresql+psycopg2://***@db:5432/m"),
        ("{'Authorization': 'Basic dW5rbm93bjp1bmtub3du'}", "{'Authorization': 'Basic ***'}"),
        ('"authorization": "Bearer eyJhbGciOi.x.y"', '"authorization": "Bearer ***"'),
        ("Proxy-Authorization: Basic Zm9vOmJhcg==", "Proxy-Authorization: Basic ***"),
        ("a Basic model, no credentials", "a Basic model, no credentials"),
        ("s3://bucket/models/taxi/7", "s3://bucket/models/taxi/7"),
    ],
)
def test_credentials_nobody_registered_are_masked_too(text, expected):
    from reconciler.redact import redact

    assert redact(text) == expected


def test_redacting_stream_masks_a_secret_split_over_writes(planted):
    import io

    from reconciler.redact import RedactingStream, register_secret

    register_secret(planted.env_password)
    target = io.StringIO()
    stream = RedactingStream(target)
    half = len(planted.env_password) // 2
    stream.write("pw=" + planted.env_password[:half])
    stream.write(planted.env_password[half:] + "\nprompt: ")
    assert target.getvalue() == "pw=***\n"
    stream.flush()
    assert target.getvalue() == "pw=***\nprompt: "
