"""The one place that turns typed errors into messages and exit codes (no CLI library here, so
that `reconciler.entry` can run a command without loading one)."""

from __future__ import annotations

import os
from collections.abc import Callable


def run(fn: Callable[[], int]) -> int:
    """Run a command and return its exit code; typed errors become `message` lines on stderr and
    exit 1, never a traceback."""
    from reconciler import redact
    from reconciler.console import err
    from reconciler.errors import ReconcilerError

    # credentials reach no output: not MLflow's logs or warnings, nor a traceback, nor a stray print
    redact.register_environment()
    undo = redact.install()
    try:
        code = fn()
    except ReconcilerError as e:
        for line in [*e.messages(), *getattr(e, "__notes__", ())]:
            err(line)
        code = 1
    except KeyboardInterrupt:
        err("Interrupted.")
        code = 130
    except Exception as e:  # a bug of ours: say so briefly, unless asked for the traceback
        if os.environ.get("MLFLOW_GITOPS_DEBUG"):
            redact.print_traceback(e)  # Python's own would print it unredacted
        else:
            text = " ".join(str(e).split())  # one line, whatever the exception's own text looks like
            err(f"internal error: {type(e).__name__}: {text} (set MLFLOW_GITOPS_DEBUG=1 for a traceback)")
        code = 1
    finally:
        undo()
    return code
