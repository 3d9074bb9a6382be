"""The `apply --lock` lease (reconciler.apply.lock): registered models named by the lease."""

from __future__ import annotations

from reconciler.registry.failures import error_code, registry_call


class Leases:
    """Mixin over `Connection`, `Reads` (listing) and `Writes` (create, tag, delete)."""

    @registry_call("reading the registry lock")
    def leases(self, prefix: str) -> dict[str, dict[str, str]]:
        """name -> tags of every lease model (names starting with `prefix`)."""
        return {m["name"]: m["tags"] for m in self._pages(self._models_page, f"name LIKE '{prefix}%'")}

    @registry_call("taking the registry lock")
    def create_lease(self, name: str, tags: dict[str, str], description: str) -> None:
        self._create(name, tags=tags, description=description)

    @registry_call("renewing the registry lock")
    def renew_lease(self, name: str, key: str, value: str) -> None:
        self._write(self.models.set_registered_model_tag, name, key, value)

    @registry_call("releasing the registry lock")
    def delete_lease(self, name: str) -> None:
        def delete_registered_model():
            try:
                self.models.delete_registered_model(name)
            except Exception as e:
                if error_code(e) != "RESOURCE_DOES_NOT_EXIST":
                    raise

        self._write(delete_registered_model)
