"""The hand-written MlflowClient scripts that mlflow-gitops replaces, as a user would write them
(cf. the seed notes): one model at a time, one call after the other.

    python benchmarks/loops.py read  URI NAMES_FILE     # get_registered_model + search_model_versions per model
    python benchmarks/loops.py apply URI CALLS_FILE     # one MlflowClient call per line (JSON list)

Run as a subprocess by benchmarks/run.py, so that it pays the same interpreter start and mlflow
import as the CLI does.
"""

from __future__ import annotations

import json
import sys
import warnings


def read(client, names: list[str]) -> int:
    versions = 0
    for name in names:
        model = client.get_registered_model(name)
        found = client.search_model_versions(filter_string=f"name = '{name}'")
        versions += len(found)
        _ = (model.description, model.tags, model.aliases)
    return versions


def apply(client, calls: list[list[str]]) -> int:
    for method, *args in calls:
        if method == "transition_model_version_stage":
            client.transition_model_version_stage(*args, archive_existing_versions=False)
        else:
            getattr(client, method)(*args)
    return len(calls)


def main(argv: list[str]) -> None:
    from mlflow import MlflowClient

    warnings.filterwarnings("ignore", category=FutureWarning)
    what, uri, path = argv
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    with open(path, encoding="utf-8") as f:
        items = json.load(f)
    done = read(client, items) if what == "read" else apply(client, items)
    print(done)


if __name__ == "__main__":
    main(sys.argv[1:])
