"""Permission preflight: before apply writes anything, check that the user may make every change.

Against an `mlflow server --app-name basic-auth`, the user and each touched model's effective
permission are read from MLflow's auth API (`GET /api/2.0/mlflow/users/current` and
`GET /api/3.0/mlflow/users/permissions/get`, which resolves grants, roles and the server's
default permission the way the server's own checks do). What MLflow requires, per change:

- EDIT on the model: register a version, change a stage, set an alias, set/delete model tags,
  set version tags, change descriptions;
- MANAGE on the model: delete an alias, delete a version tag;
- nothing for models this apply creates (their creator gets MANAGE).

Missing permissions are all reported at once, naming each change, and nothing is written. Servers
without that API (no auth, or another auth in front) are not checked up front: a refused call
then stops that model with a message naming the change (see reconciler.registry.client).
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.errors import ReconcilerError
from reconciler.plan.actions import Action
from reconciler.plan.model import Change, Plan
from reconciler.registry.protocol import AuthApi
from reconciler.render.describe import describe, new_version_labels, subject

LEVELS = {"DENY": -1, "NO_PERMISSIONS": 0, "READ": 1, "USE": 2, "EDIT": 3, "MANAGE": 4}
# action -> permission it needs (keyed by the plan-JSON string: the registry client names calls so)
REQUIRED: dict[str, str | None] = {a.value: a.spec.permission for a in Action}


class PermissionDenied(ReconcilerError):
    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__("\n".join(lines))

    def messages(self) -> list[str]:
        return self.lines


@dataclass(frozen=True)
class User:
    name: str
    is_admin: bool = False


def missing(plan: Plan, user: User, permissions: dict[str, str | None]) -> list[tuple[Change, str, str]]:
    """(change, permission held, permission needed) for each change the user may not make."""
    created = {c.model for c in plan.changes if c.action == "create_model"}
    out = []
    for c in plan.changes:
        need = c.action.spec.permission
        if need is None or c.model in created or user.is_admin:
            continue
        have = permissions.get(c.model)
        if have is None:  # the server would not say: its own check decides when the call is made
            continue
        if LEVELS.get(have, 0) < LEVELS[need]:
            out.append((c, have, need))
    return out


def models_to_check(plan: Plan) -> list[str]:
    created = {c.model for c in plan.changes if c.action == "create_model"}
    return sorted({c.model for c in plan.changes if c.action.spec.permission is not None} - created)


def preflight(plan: Plan, registry: AuthApi) -> User | None:
    """Raise PermissionDenied listing every change the user may not make. Returns the user, or
    None when the server has no MLflow auth API to ask."""
    user = registry.auth_user()
    if user is None or user.is_admin or plan.empty:
        return user
    names = models_to_check(plan)
    permissions = registry.model_permissions(user.name, names) if names else {}
    problems = missing(plan, user, permissions)
    if problems:
        labels = new_version_labels(plan.changes)
        lines = [
            f"Permission denied: user '{user.name}' may not make {len(problems)} of the "
            f"{len(plan.changes)} planned changes; nothing was applied."
        ]
        for c, have, need in problems:
            lines.append(
                f"  {c.mark} {subject(c, labels)}: {describe(c)} -- needs {need} on model "
                f"'{c.model}', user has {have}"
            )
        lines.append("Ask an admin of the MLflow server for the permissions above, or apply with another user.")
        raise PermissionDenied(lines)
    return user
