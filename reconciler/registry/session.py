"""MLflow's pooled HTTP session, adjusted: requests counted per server, and no delayed-ACK stall.

`HTTPConnection`s of MLflow's pooled session ask for an immediate ACK before reading each
response (`TCP_QUICKACK`): a multi-worker `mlflow server` (uvicorn's default of 4 workers) does
not set TCP_NODELAY, so its body segment waits for our delayed ACK of the header segment, ~40 ms
on every reused keep-alive connection. Installed once per process by
`reconciler.registry.setup.configure_process`.
"""

from __future__ import annotations

import socket
import threading

from reconciler.registry import retry

_http_lock = threading.Lock()
_http_requests: dict[tuple[str, int], int] = {}  # (host, port) -> HTTP requests sent
_http_installed = False


def http_requests(host: str, port: int) -> int:
    with _http_lock:
        return _http_requests.get((host, port), 0)


def install_hooks() -> bool:
    """Count each HTTP request (retries included) per server, and ask the kernel for an immediate
    ACK before reading each response. Done by giving the adapter of MLflow's pooled session
    connection classes of ours; MLflow still builds the session, its retry policy and its auth
    headers. False when this MLflow has no such adapter (then nothing is changed)."""
    global _http_installed
    if _http_installed:
        return True
    from mlflow.utils import request_utils
    from urllib3 import ProxyManager
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    base = getattr(request_utils, "TCPKeepAliveHTTPAdapter", None)
    cache = getattr(request_utils, "_cached_get_request_session", None)
    if base is None or cache is None:
        return False
    quickack = getattr(socket, "TCP_QUICKACK", None)  # Linux only

    class Counted:
        def getresponse(self, *args, **kwargs):
            key = (self.host, self.port)
            with _http_lock:
                _http_requests[key] = _http_requests.get(key, 0) + 1
            if quickack is not None and self.sock is not None:
                try:
                    self.sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)
                except OSError:
                    pass
            return super().getresponse(*args, **kwargs)

    class Conn(Counted, HTTPConnection):
        pass

    class TLSConn(Counted, HTTPSConnection):
        pass

    class Pool(HTTPConnectionPool):
        ConnectionCls = Conn

    class TLSPool(HTTPSConnectionPool):
        ConnectionCls = TLSConn

    pools = {"http": Pool, "https": TLSPool}

    class Adapter(retry.RetryControl, base):  # retries and timeouts: reconciler.registry.retry
        def init_poolmanager(self, *args, **kwargs):
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = pools

        def proxy_manager_for(self, proxy, **kwargs):
            manager = super().proxy_manager_for(proxy, **kwargs)
            if type(manager) is ProxyManager:  # not SOCKS: its pools are of other classes
                manager.pool_classes_by_scheme = pools
            return manager

    request_utils.TCPKeepAliveHTTPAdapter = Adapter  # looked up when MLflow builds a session
    cache.cache_clear()
    _http_installed = True
    return True
