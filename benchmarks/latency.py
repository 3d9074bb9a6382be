"""Per-call latency against an MLflow server, median of repeated calls, as JSON (milliseconds).

    python benchmarks/latency.py http://127.0.0.1:5000

- `keepalive_get` / `keepalive_post`: MLflow's pooled session as MLflow builds it (connection reused);
- `fresh_get` / `fresh_post`: a new connection for every call (MLflow's session cache cleared);
- `quickack_get` / `quickack_post`: the same session once mlflow-gitops' Registry has installed its
  hooks (TCP_QUICKACK before each response; see reconciler/registry/client.py);
- `client_write`: one `MlflowClient.set_registered_model_tag` (it first GETs the model to refuse
  prompts: two round trips) vs `registry_write`, the call mlflow-gitops makes (one).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import warnings

N = 40
MODEL = "latency_probe"


def median_ms(fn, n: int = N) -> float:
    fn()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 1)


def main(uri: str) -> None:
    warnings.filterwarnings("ignore")
    from mlflow import MlflowClient
    from mlflow.utils import request_utils

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    models = client._get_registry_client()
    if not client.search_registered_models(filter_string=f"name = '{MODEL}'"):
        client.create_registered_model(MODEL)

    def get():
        models.get_registered_model(MODEL)

    def post():
        models.set_registered_model_tag(MODEL, "probe", "1")

    def fresh(fn):
        def call():
            request_utils._cached_get_request_session.cache_clear()
            fn()
        return call

    out = {
        "keepalive_get": median_ms(get),
        "keepalive_post": median_ms(post),
        "fresh_get": median_ms(fresh(get)),
        "fresh_post": median_ms(fresh(post)),
        "client_write": median_ms(lambda: client.set_registered_model_tag(MODEL, "probe", "1")),
    }
    from reconciler.registry.client import Registry
    from reconciler.target import resolve

    registry = Registry(resolve(uri))  # installs the HTTP hooks
    out["quickack_get"] = median_ms(get)
    out["quickack_post"] = median_ms(post)
    out["registry_write"] = median_ms(lambda: registry.set_model_tag(MODEL, "probe", "1"))
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
