"""An in-memory registry with the same surface as `reconciler.registry.client.Registry`: it
satisfies `reconciler.registry.protocol.Registry` (tests/unit/registry/test_protocol.py checks it).

Only for pure property tests of diff -> plan -> apply laws; every behaviour claimed against MLflow
is also tested with the real stores in tests/integration.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from reconciler.registry.snapshot import LiveModel, LiveVersion, Snapshot


@dataclass(frozen=True)
class FakeTarget:
    display: str = "memory://"
    registry_display: str = "memory://"


class MemoryRegistry:
    def __init__(self, seed: list[dict] | None = None):
        self.target = FakeTarget()
        self.models: dict[str, LiveModel] = {}
        self.writes = 0
        self.round_trips = 0
        self.run_records: dict = {}  # run id -> RunRecord, for evidence and gates
        self.lease_models: dict[str, dict[str, str]] = {}  # lease name -> tags (never in a snapshot)
        self.parallelism = 1
        self.user = None  # an auth-enabled registry's current user (reconciler.apply.permissions.User)
        self.permissions: dict[str, str | None] = {}  # model name -> that user's permission
        for m in seed or []:
            versions = {
                str(i): LiveVersion(version=str(i), stage=v["stage"], description=v["description"],
                                    tags=dict(v["tags"]), source=v["source"])
                for i, v in enumerate(m["versions"], start=1)
            }
            self.models[m["name"]] = LiveModel(name=m["name"], description=m["description"], tags=dict(m["tags"]),
                                               aliases=dict(m["aliases"]), versions=versions)

    def user_name(self):
        return self.user.name if self.user else None

    def snapshot(self, names):
        self.round_trips += 1
        wanted = self.models if names is None else {n: self.models[n] for n in names if n in self.models}
        return Snapshot(models=dict(wanted))

    def runs(self, run_ids):
        self.round_trips += 1
        return {r: self.run_records[r] for r in run_ids if r in self.run_records}

    def _put(self, m: LiveModel) -> None:
        self.writes += 1
        self.models[m.name] = m

    def _version(self, name, version, **fields):
        m = self.models[name]
        self._put(replace(m, versions={**m.versions, version: replace(m.versions[version], **fields)}))

    def create_model(self, name):
        assert name not in self.models
        self._put(LiveModel(name=name))

    def register_version(self, name, uri, run_id):
        m = self.models[name]
        number = str(len(m.versions) + 1)
        self._put(replace(m, versions={**m.versions, number: LiveVersion(version=number, source=uri, run_id=run_id)}))
        return number

    def transition_stage(self, name, version, stage):
        self._version(name, version, stage=stage)

    def set_alias(self, name, alias, version):
        m = self.models[name]
        self._put(replace(m, aliases={**m.aliases, alias: version}))

    def delete_alias(self, name, alias):
        m = self.models[name]
        self._put(replace(m, aliases={a: v for a, v in m.aliases.items() if a != alias}))

    def set_model_tag(self, name, key, value):
        m = self.models[name]
        self._put(replace(m, tags={**m.tags, key: value}))

    def delete_model_tag(self, name, key):
        m = self.models[name]
        self._put(replace(m, tags={k: v for k, v in m.tags.items() if k != key}))

    def set_version_tag(self, name, version, key, value):
        tags = {**self.models[name].versions[version].tags, key: value}
        self._version(name, version, tags=tags)

    def delete_version_tag(self, name, version, key):
        tags = {k: v for k, v in self.models[name].versions[version].tags.items() if k != key}
        self._version(name, version, tags=tags)

    def update_model_description(self, name, description):
        self._put(replace(self.models[name], description=description))

    def update_version_description(self, name, version, description):
        self._version(name, version, description=description)

    # ---- leases (reconciler.apply.lock) -------------------------------------------------------

    def leases(self, prefix):
        self.round_trips += 1
        return {n: dict(t) for n, t in self.lease_models.items() if n.startswith(prefix)}

    def create_lease(self, name, tags, description):
        assert name not in self.lease_models
        self.writes += 1
        self.lease_models[name] = dict(tags)

    def renew_lease(self, name, key, value):
        self.writes += 1
        self.lease_models[name] = {**self.lease_models[name], key: value}

    def delete_lease(self, name):
        self.writes += 1
        self.lease_models.pop(name, None)

    # ---- auth API (reconciler.apply.permissions): none unless a test sets `user` ---------------

    def auth_user(self):
        return self.user

    def model_permissions(self, username, names):
        self.round_trips += 1
        return {n: self.permissions.get(n) for n in names}
