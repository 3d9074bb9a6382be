"""MLflow's errors as one `RegistryError` line each: what failed, against which registry, why
(credentials redacted; a permission denial names the permission the call needs)."""

from __future__ import annotations

import functools

from reconciler.apply.permissions import REQUIRED
from reconciler.errors import RegistryError
from reconciler.redact import redact
from reconciler.registry.tls import failure as failure_of_tls


def registry_call(what: str):
    """Turn any exception raised inside MLflow into a RegistryError naming `what` failed."""

    def wrap(fn):
        @functools.wraps(fn)
        def inner(self, *args, **kwargs):
            try:
                return fn(self, *args, **kwargs)
            except RegistryError:
                raise
            except Exception as e:  # MlflowException, requests errors, sqlalchemy errors, retry...
                tls = failure_of_tls(e, self.target.registry_uri)
                if tls:
                    raise RegistryError(redact(tls)) from None
                reason = denial(what, self.user_name(), e) if permission_denied(e) else short(e)
                raise RegistryError(redact(f"{what} failed against {self.target.display}: {reason}")) from None

        return inner

    return wrap


def error_code(e: BaseException) -> str | None:
    return getattr(e, "error_code", None)


def permission_denied(e: BaseException) -> bool:
    return error_code(e) == "PERMISSION_DENIED" or "error code 403" in str(e)


def denied(what: str, user: str | None) -> str:
    who = f" for user '{user}'" if user else ""
    need = REQUIRED.get(what)
    hint = f" (MLflow requires {need} permission on the model for {what})" if need else ""
    return f"permission denied{who}{hint}"


def denial(what: str, user: str | None, e: BaseException) -> str:
    """Permission denied, with the server's own words when it said more than that."""
    words = short(e)
    said = "" if words.lower().strip(" .'").endswith("permission denied") else f": {words}"
    return denied(what, user) + said


def short(e: Exception) -> str:
    text = str(e).strip().splitlines()
    first = text[0] if text else type(e).__name__
    return first[:500]
