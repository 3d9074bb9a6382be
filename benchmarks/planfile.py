"""Checking a saved plan file (reconciler.plan.savedfile): JSON, the published schema
(schemas/plan.v1.json, fastjsonschema) and the manifest rules, on a generated plan of N changes.

    python3 -m uv run python benchmarks/planfile.py [--changes 50000] [--repeat 3]

Prints the best of `--repeat` runs of each step, in seconds. No registry is involved."""

from __future__ import annotations

import argparse
import json
import time

from reconciler.plan import savedfile
from reconciler.plan.model import Change, Plan


def generated(n: int) -> str:
    changes = tuple(Change("set_model_tag", f"model_{i // 10}", before=None, after=f"v{i}", key=f"k{i % 10}",
                           source=f"m/{i // 10}.yaml:{i % 10 + 3}") for i in range(n))
    return Plan(changes=changes, tracking_uri="http://127.0.0.1:5000",
                prior_state={f"model_{j}": "absent" for j in range((n + 9) // 10)}).dumps()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--changes", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    text = generated(args.changes)
    started = time.perf_counter()
    savedfile._validators()
    best = {"compile validators (once per process)": time.perf_counter() - started}
    for _ in range(args.repeat):
        steps = {}
        t = time.perf_counter()
        doc = json.loads(text)
        steps["json"] = time.perf_counter() - t
        t = time.perf_counter()
        savedfile.schema_problem(doc, "plan.json")
        steps["schema"] = time.perf_counter() - t
        t = time.perf_counter()
        savedfile.rule_problems(doc)
        steps["rules"] = time.perf_counter() - t
        t = time.perf_counter()
        savedfile.load(text, "plan.json")
        steps["load (all of it, plus building the Plan)"] = time.perf_counter() - t
        for k, v in steps.items():
            best[k] = min(best.get(k, float("inf")), v)
    print(f"{args.changes} changes, {len(text) / 1e6:.1f} MB")
    for k, v in best.items():
        print(f"  {k}: {v:.2f} s")


if __name__ == "__main__":
    main()
