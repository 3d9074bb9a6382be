"""Command-line interface: argument parsing only. Each command lives in `reconciler.commands.<name>`
and returns its exit code; `handle` hands it to `reconciler.handler`, the one place that turns typed errors
into messages. The console script starts in `reconciler.entry`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import Enum
from typing import Annotated

import typer

from reconciler.cliplain import PlainGroup
from reconciler.constants import DEFAULT_ARTIFACT_PATH, DEFAULT_PARALLELISM, DEFAULT_TIMEOUT

app = typer.Typer(
    name="mlflow-gitops",
    cls=PlainGroup,  # help and option errors in plain words; exit 1 for a usage error
    help="Declarative GitOps for the MLflow Model Registry: validate, plan, apply, drift and export YAML manifests.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def show_version(value: bool) -> None:
    if value:
        from reconciler import __version__

        typer.echo(f"mlflow-gitops {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=show_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Declarative GitOps for the MLflow Model Registry: validate, plan and apply YAML manifests."""


class PlanFormat(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


class DriftFormat(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"
    junit = "junit"


class ExportBy(str, Enum):
    version = "version"
    source = "source"
    run_id = "run_id"


Paths = Annotated[list[str], typer.Argument(metavar="PATH", help="Manifest files or directories (searched recursively).", show_default=False)]
TrackingUri = Annotated[
    str | None,
    typer.Option("--tracking-uri", metavar="URI", help="MLflow tracking URI [default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db]."),
]
RegistryUri = Annotated[
    str | None,
    typer.Option("--registry-uri", metavar="URI", help="Model registry URI [default: $MLFLOW_REGISTRY_URI, else the tracking URI]."),
]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Report registry round trips, writes and retries on stderr.")]
Timeout = Annotated[
    float,
    typer.Option("--timeout", metavar="SECONDS", min=0,
                 help="Limit for the whole command's registry work, retries and lock waits included (0: none)."),
]


def handle(fn: Callable[[], int]) -> None:
    """Run a command; typed errors become `message` lines on stderr and exit 1, never a traceback."""
    from reconciler.handler import run

    raise typer.Exit(run(fn))


def target(tracking_uri: str | None, registry_uri: str | None):
    from reconciler.target import resolve

    return resolve(tracking_uri, registry_uri)


@app.command()
def validate(paths: Paths) -> None:
    """Check manifests offline (schema and semantic rules). Exit 0 valid, 1 invalid."""
    from reconciler.commands import validate as cmd

    handle(lambda: cmd.run(paths))


@app.command()
def plan(
    paths: Paths,
    format: Annotated[PlanFormat, typer.Option("--format", "-f", help="Output format.")] = PlanFormat.text,
    out: Annotated[str | None, typer.Option("--out", "-o", metavar="FILE", help="Also write the plan JSON to FILE, for `apply FILE`.")] = None,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 0 when there are no changes, 2 when there are.")
    ] = False,
    tracking_uri: TrackingUri = None,
    registry_uri: RegistryUri = None,
    verbose: Verbose = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> None:
    """Show what apply would change in the live registry. Never writes. Exit 0 ok (2 changes with
    --detailed-exitcode), 1 error."""
    from reconciler.commands import plan as cmd

    handle(lambda: cmd.run(paths, target(tracking_uri, registry_uri), format.value, out, detailed_exitcode, verbose,
                           timeout))


@app.command()
def apply(
    paths: Annotated[list[str], typer.Argument(metavar="PATH|PLANFILE", help="Manifest files/directories, or one saved plan file.", show_default=False)],
    auto_approve: Annotated[bool, typer.Option("--auto-approve", help="Do not ask for confirmation.")] = False,
    format: Annotated[PlanFormat, typer.Option("--format", "-f", help="Output format.")] = PlanFormat.text,
    tracking_uri: TrackingUri = None,
    registry_uri: RegistryUri = None,
    verbose: Verbose = False,
    parallelism: Annotated[
        int, typer.Option("--parallelism", metavar="N", min=1, help="Models applied at once (1 for an embedded sqlite store).")
    ] = DEFAULT_PARALLELISM,
    timeout: Timeout = DEFAULT_TIMEOUT,
    lock: Annotated[
        bool,
        typer.Option("--lock", help="Hold a lease on the registry while applying; another `apply --lock` waits for it "
                                    "(up to --timeout). It expires if its holder dies."),
    ] = False,
    audit_trail: Annotated[
        bool,
        typer.Option("--audit/--no-audit",
                     help="Stamp changed models and moved versions with mlflow-gitops.* audit tags (who, when, "
                          "commit, run); --no-audit skips those writes, e.g. for a bulk migration."),
    ] = True,
) -> None:
    """Converge the registry to the manifests (or apply a saved plan, refused if the registry changed
    since). Asks for confirmation on a terminal. Exit 0 applied or nothing to do, 1 error or stale plan."""
    from reconciler.commands import apply as cmd

    handle(lambda: cmd.run(paths, target(tracking_uri, registry_uri), format.value, auto_approve, verbose, parallelism,
                           timeout, lock, audit_trail))


@app.command()
def drift(
    paths: Paths,
    format: Annotated[DriftFormat, typer.Option("--format", "-f", help="Output format.")] = DriftFormat.text,
    out: Annotated[
        str | None,
        typer.Option("--out", "-o", metavar="FILE",
                     help="Write the report in --format to FILE; the text report still goes to stdout."),
    ] = None,
    fail_on_unmanaged: Annotated[
        bool, typer.Option("--fail-on-unmanaged", help="Registry models that no manifest declares count as drift (exit 2).")
    ] = False,
    tracking_uri: TrackingUri = None,
    registry_uri: RegistryUri = None,
    verbose: Verbose = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> None:
    """Audit the live registry against the manifests: managed fields changed outside git (with when
    and by whom, where the registry knows), and models no manifest declares. Never writes.
    Exit 0 in sync, 2 drift, 1 error."""
    from reconciler.commands import drift as cmd

    handle(lambda: cmd.run(paths, target(tracking_uri, registry_uri), format.value, out, fail_on_unmanaged,
                           verbose, timeout))


@app.command()
def export(
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", metavar="NAME", help="Export this model (repeatable) [default: every model]."),
    ] = None,
    out: Annotated[
        str | None,
        typer.Option("--out", "-o", metavar="DIR", help="Write one file per model into DIR [default: all documents to stdout]."),
    ] = None,
    by: Annotated[
        ExportBy,
        typer.Option("--by", help="How versions are selected: by `version:` number, or by `source:` / `run_id:` "
                                  "(for promotion across registries whose version numbers differ)."),
    ] = ExportBy.version,
    tracking_uri: TrackingUri = None,
    registry_uri: RegistryUri = None,
    verbose: Verbose = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> None:
    """Write manifests from the live registry (bootstrap GitOps for an existing registry). Deterministic:
    two exports of the same registry are byte-identical, and `plan` on them reports no changes."""
    from reconciler.commands import export as cmd

    handle(lambda: cmd.run(model or [], out, by.value, target(tracking_uri, registry_uri), verbose, timeout))


class Stage(str, Enum):
    none = "None"
    staging = "Staging"
    production = "Production"
    archived = "Archived"


@app.command()
def propose(
    file: Annotated[str, typer.Argument(metavar="FILE", help="The manifest file to edit.", show_default=False)],
    model: Annotated[str, typer.Option("--model", "-m", metavar="NAME", help="The model whose document is edited.",
                                       show_default=False)],
    experiment: Annotated[str, typer.Option("--experiment", "-e", metavar="NAME_OR_ID",
                                            help="The experiment whose runs are searched.", show_default=False)],
    filter_string: Annotated[
        str | None, typer.Option("--filter", metavar="EXPR", help="MLflow search filter, e.g. \"metrics.rmse < 7\".")
    ] = None,
    order_by: Annotated[
        list[str] | None,
        typer.Option("--order-by", metavar="EXPR", help="Ordering, e.g. \"metrics.rmse ASC\" (repeatable); the first "
                                                       "run is proposed [default: newest first]."),
    ] = None,
    stage: Annotated[Stage | None, typer.Option("--stage", metavar="STAGE", help="Stage to declare for the run.")] = None,
    alias: Annotated[
        list[str] | None,
        typer.Option("--alias", metavar="NAME", help="Alias to move onto the run (repeatable); removed from other entries."),
    ] = None,
    artifact_path: Annotated[
        str, typer.Option("--artifact-path", metavar="PATH", help="The model's path in the run's artifacts.")
    ] = DEFAULT_ARTIFACT_PATH,
    archive_previous: Annotated[
        bool, typer.Option("--archive-previous", help="Set `stage: Archived` on the entries that declared --stage.")
    ] = False,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 2 when FILE changed, 0 when it did not.")
    ] = False,
    tracking_uri: TrackingUri = None,
    registry_uri: RegistryUri = None,
    verbose: Verbose = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> None:
    """Pick the best active run of an experiment and edit FILE so that the model declares it (with
    --stage / --alias); prints the diff and whether the proposal passes the model's gates. Every other
    byte of FILE stays. Exit 0 (2 changed, with --detailed-exitcode), 1 error."""
    from reconciler.commands import propose as cmd

    handle(lambda: cmd.run(file, model, experiment, filter_string, order_by or [], stage.value if stage else None,
                           alias or [], artifact_path, archive_previous, detailed_exitcode,
                           target(tracking_uri, registry_uri), verbose, timeout))


@app.command()
def serve(
    paths: Paths,
    interval: Annotated[
        float, typer.Option("--interval", metavar="SECONDS", min=0.1, help="Seconds between reconciliation cycles.")
    ] = 60,
    self_heal: Annotated[
        bool, typer.Option("--self-heal", help="Apply drift as soon as it is noticed (every model; otherwise only "
                                                "models with policy.self_heal: true). Without it nothing is written.")
    ] = False,
    listen: Annotated[
        str, typer.Option("--listen", metavar="HOST:PORT", help="Address of /, /healthz, /metrics, /api/status and "
                                                                 "POST /webhook.")
    ] = "127.0.0.1:9465",
    git_pull: Annotated[
        bool, typer.Option("--git-pull", help="Run `git pull --ff-only` in the manifests' repository before each cycle.")
    ] = False,
    notify_url: Annotated[
        str | None, typer.Option("--notify-url", metavar="URL",
                                 help="POST a JSON message (Slack-compatible `text`) on each transition: out of "
                                      "sync, healed, heal failed, cycles failing, recovered.")
    ] = None,
    events: Annotated[
        str | None, typer.Option("--events", metavar="FILE", help="Append drift and heal events to FILE (JSON lines).")
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Run one cycle and exit: 0 in sync or healed, 2 drift left, 1 error.")
    ] = False,
    tracking_uri: TrackingUri = None,
    registry_uri: RegistryUri = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> None:
    """Reconcile continuously: notice drift every --interval and on MLflow webhooks, export Prometheus
    metrics and a status page, notify, and with --self-heal revert changes made outside git. Runs until
    SIGTERM/SIGINT (exit 0)."""
    from reconciler.commands import serve as cmd

    handle(lambda: cmd.run(paths, target(tracking_uri, registry_uri), interval, self_heal, listen, git_pull,
                           notify_url, events, once, timeout))


@app.command()
def history(
    paths: Paths,
    model: Annotated[str, typer.Option("--model", "-m", metavar="NAME", help="The registered model to show.",
                                       show_default=False)],
    at: Annotated[
        str | None,
        typer.Option("--at", metavar="TIME",
                     help="Only what held each stage and alias at TIME (ISO 8601; UTC unless an offset is given)."),
    ] = None,
    format: Annotated[PlanFormat, typer.Option("--format", "-f", help="Output format.")] = PlanFormat.text,
    events: Annotated[
        str | None,
        typer.Option("--events", metavar="FILE", help="Join the drift and heal events `serve --events FILE` logged."),
    ] = None,
    registry: Annotated[
        bool,
        typer.Option("--registry/--no-registry",
                     help="Join apply's audit stamps from the registry (--no-registry: git and events only)."),
    ] = True,
    tracking_uri: TrackingUri = None,
    registry_uri: RegistryUri = None,
    verbose: Verbose = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> None:
    """Which version held each stage and alias over time: from the manifests' git history (commit,
    author, date), joined with apply's audit stamps (when applied, by whom, CI run) and serve's events.
    Never writes. Exit 0, 1 error."""
    from reconciler.commands import history as cmd

    handle(lambda: cmd.run(paths, model, at, format.value, target(tracking_uri, registry_uri) if registry else None,
                           events, verbose, timeout))


@app.command()
def schema() -> None:
    """Print the manifest JSON Schema (format v1)."""
    from reconciler.commands import schema as cmd

    handle(cmd.run)


def main() -> None:
    """The typer CLI; the console script starts in `reconciler.entry`, which may skip it."""
    app(prog_name="mlflow-gitops")


if __name__ == "__main__":
    sys.exit(main())
