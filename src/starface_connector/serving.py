"""Run any ASGI app on a real loopback port in a background thread.

Tests, demos and benchmarks need real HTTP servers (no mocks) that start fast, pick a free
port by themselves and stop cleanly; uvicorn's ``Server`` does the work, this module only
handles the thread, the socket and the start/stop handshake.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


@contextmanager
def run_in_thread(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout: float = 10.0,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    log_level: str = "warning",
) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a daemon thread; yield its base URL (no trailing slash).

    ``port=0`` binds a free port chosen by the OS. The socket is bound before the thread starts,
    so the port is known and reserved up front. On exit the server is asked to stop and the
    thread is joined; idle keep-alive connections do not hold shutdown up for long.
    """
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto
    # says TCP, and without it keep-alive requests stall ~40 ms on Nagle + delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        timeout_graceful_shutdown=2,
        proxy_headers=False,  # as ``serve``: the app reads X-Forwarded-For (api/client.py)
    )
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # reported to the starting thread below
            failure.append(exc)

    thread = threading.Thread(target=serve, name=f"uvicorn-{bound_port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if failure or not thread.is_alive():
            sock.close()
            raise RuntimeError(f"ASGI server on {host}:{bound_port} failed to start: {failure}")
        if time.monotonic() > deadline:
            server.should_exit = True
            thread.join(5)
            sock.close()
            raise RuntimeError(f"ASGI server on {host}:{bound_port} did not start in time")
        time.sleep(0.005)
    scheme = "https" if ssl_certfile else "http"
    try:
        yield f"{scheme}://{host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
