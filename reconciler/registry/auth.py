"""Permissions (MLflow's basic-auth app, `mlflow server --app-name basic-auth`), for
reconciler.apply.permissions: who am I, and what may I do to a model."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from reconciler.apply.permissions import User
from reconciler.registry import retry
from reconciler.registry.failures import registry_call

CURRENT_USER = "/api/2.0/mlflow/users/current"
USER_PERMISSION = "/api/3.0/mlflow/users/permissions/get"


class Auth:
    """Mixin over `reconciler.registry.connection.Connection`."""

    _user: User | None = None

    def _auth_get(self, endpoint: str, params: dict | None = None) -> dict | None:
        """GET an auth API endpoint: its JSON, or None when the server answers anything but 200."""
        from mlflow.utils.rest_utils import http_request

        def get():
            response = http_request(self.rest.get_host_creds(), endpoint, "GET", params=params)
            if response.status_code in retry.TRANSIENT_STATUS:
                from mlflow.exceptions import MlflowException

                raise MlflowException(f"HTTP {response.status_code}")
            return response.json() if response.status_code == 200 else None

        try:
            return self._call("reading permissions", get)
        except ValueError:  # not JSON: not MLflow's auth API
            return None

    @registry_call("reading the current user")
    def auth_user(self) -> User | None:
        """The user MLflow's auth app knows us as; None when the server has no such API."""
        if self.rest is None:
            return None
        doc = self._auth_get(CURRENT_USER)
        user = (doc or {}).get("user")
        if not isinstance(user, dict) or not user.get("username"):
            return None
        self._user = User(str(user["username"]), bool(user.get("is_admin")))
        return self._user

    @registry_call("reading permissions")
    def model_permissions(self, username: str, names: list[str]) -> dict[str, str | None]:
        """Effective permission (READ, EDIT, MANAGE, ...) of `username` on each model; None where
        the server would not say."""

        def one(name: str) -> str | None:
            doc = self._auth_get(USER_PERMISSION, {
                "username": username, "resource_type": "registered_model", "resource_id": name,
            })  # fmt: skip
            permission = (doc or {}).get("permission")
            return permission if isinstance(permission, str) else None

        with ThreadPoolExecutor(max_workers=max(1, min(self.parallelism, len(names) or 1))) as pool:
            return dict(zip(names, pool.map(one, names)))
