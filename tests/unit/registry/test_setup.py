"""reconciler.registry.setup: the process is configured for MLflow once, explicitly, and only when
a registry is really opened. Each check runs in a fresh interpreter: the set-up is process-wide."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def run(code: str, env_extra: dict[str, str] | None = None) -> dict:
    import os

    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_HTTP_POOL_MAXSIZE"} | (env_extra or {})
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_configure_process_is_idempotent_and_first_settings_stay():
    out = run("""
        import json, logging, os
        from mlflow.utils import request_utils
        from reconciler.registry import session, setup
        assert not setup.configured()
        setup.configure_process(32)
        adapter = request_utils.TCPKeepAliveHTTPAdapter
        setup.configure_process(4)
        print(json.dumps({
            "configured": setup.configured(), "pool": os.environ["MLFLOW_HTTP_POOL_MAXSIZE"],
            "same_adapter": request_utils.TCPKeepAliveHTTPAdapter is adapter,
            "ours": adapter.__module__ == session.__name__,
            "mlflow_level": logging.getLogger("mlflow").level,
        }))
    """)
    assert out == {"configured": True, "pool": "32", "same_adapter": True, "ours": True,
                   "mlflow_level": 20 + 10}  # WARNING


def test_a_pool_size_the_user_set_is_kept():
    out = run("""
        import json, os
        from reconciler.registry import setup
        setup.configure_process(32)
        print(json.dumps(os.environ["MLFLOW_HTTP_POOL_MAXSIZE"]))
    """, {"MLFLOW_HTTP_POOL_MAXSIZE": "3"})
    assert out == "3"


def test_importing_or_building_a_registry_of_nothing_configures_nothing(tmp_path):
    missing = f"sqlite:///{tmp_path}/none.db"
    out = run(f"""
        import json, sys
        from reconciler.registry import setup
        from reconciler.registry.client import connect
        from reconciler.target import Target
        registry = connect(Target({missing!r}, {missing!r}), read_only=True)
        print(json.dumps([registry.absent, setup.configured(), "mlflow" in sys.modules]))
    """)
    assert out == [True, False, False]


def test_a_registry_built_directly_configures_the_process_on_its_first_connection(tmp_path):
    uri = f"sqlite:///{tmp_path}/r.db"
    out = run(f"""
        import json
        from reconciler.registry import setup
        from reconciler.registry.client import Registry
        from reconciler.target import Target
        registry = Registry(Target({uri!r}, {uri!r}))
        print(json.dumps([setup.configured(), registry.snapshot(None).models == {{}}]))
    """)
    assert out == [True, True]
