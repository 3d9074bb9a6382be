"""Values more than one stage of the pipeline must agree on, in one place.

Plain values, no imports: `cli.py` reads its defaults from here and stays cheap to start.
"""

# Tag and model-name prefixes manifests may not use. MLflow's own system tags (`mlflow.*`: prompts,
# the run link) are never managed: the snapshot leaves them out, the diff never deletes them.
SYSTEM_PREFIX = "mlflow."
# Ours: the audit trail's tags (reconciler.apply.audit) and our own models, the `apply --lock`
# leases (reconciler.apply.lock); never part of a snapshot.
OWN_PREFIX = "mlflow-gitops."
RESERVED_TAG_PREFIXES = (SYSTEM_PREFIX, OWN_PREFIX)

# Where a run's model lives among its artifacts when a manifest (or `propose --artifact-path`)
# does not say: MLflow's `log_model` default.
DEFAULT_ARTIFACT_PATH = "model"

# Seconds for the whole registry work of one command (--timeout), retries and lock waits included.
DEFAULT_TIMEOUT = 300  # an int: `--help` shows "[default: 300]"
# Models applied at once (--parallelism); an embedded sqlite store is always written one at a time.
DEFAULT_PARALLELISM = 8
