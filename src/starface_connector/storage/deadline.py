"""A client-side deadline for PostgreSQL calls: the answer to a network that swallows packets.

The server's ``statement_timeout`` answers a slow statement with an error, and TCP keepalives
and ``tcp_user_timeout`` notice a peer that stopped acknowledging. Neither helps when the
statement never reaches the server and the path still acknowledges (a stalled proxy or load
balancer, a half-open connection): psycopg then waits for an answer forever, holding a pooled
connection and the request. Here every call into the driver (statement, commit, rollback,
pre-ping) is timed; one that outlives its deadline gets its socket shut down, so the waiting
thread wakes with "server closed the connection" and the request answers 503.

(MariaDB needs none of this: PyMySQL has its own read and write timeouts.)
"""

from __future__ import annotations

import functools
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine

T = TypeVar("T")

#: id of a DBAPI connection whose calls are not timed (a migration holding its lock)
_LIFTED: set[int] = set()


class Watchdog:
    """One thread for the process that shuts down connections past their deadline."""

    def __init__(self, tick: float = 0.1) -> None:
        self._tick = tick
        self._lock = threading.Lock()
        #: id(connection) -> (deadline on the monotonic clock, the connection)
        self._armed: dict[int, tuple[float, Any]] = {}
        self._thread: threading.Thread | None = None
        #: connections cut, for the logs and tests
        self.cut = 0

    def arm(self, connection: Any, seconds: float) -> None:
        key = id(connection)
        if key in _LIFTED:
            return
        with self._lock:
            self._armed[key] = (time.monotonic() + seconds, connection)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="db-deadline", daemon=True)
                self._thread.start()

    def disarm(self, connection: Any) -> None:
        with self._lock:
            self._armed.pop(id(connection), None)

    def _run(self) -> None:
        while True:
            time.sleep(self._tick)
            now = time.monotonic()
            with self._lock:
                late = [key for key, (deadline, _) in self._armed.items() if deadline <= now]
                victims = [self._armed.pop(key)[1] for key in late]
            for connection in victims:
                self.cut += 1
                shut_down(connection)


def shut_down(connection: Any) -> None:
    """Shut the connection's socket down under the thread waiting on it (the driver then
    reports it broken and the pool discards it). A duplicate of the descriptor is used so
    the driver's own descriptor is never closed behind its back."""
    try:
        duplicate = os.dup(connection.fileno())
    except (OSError, AttributeError, ValueError):
        return
    try:
        with socket.socket(fileno=duplicate) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


WATCHDOG = Watchdog()


def guard(engine: Engine, seconds: float) -> None:
    """Time every driver call of ``engine``'s dialect with ``seconds`` as its deadline."""
    dialect = engine.dialect

    def timed(call: Callable[..., T], connection_of: Callable[[Any], Any]) -> Callable[..., T]:
        @functools.wraps(call)
        def wrapper(first: Any, *args: Any, **kwargs: Any) -> T:
            connection = connection_of(first)
            WATCHDOG.arm(connection, seconds)
            try:
                return call(first, *args, **kwargs)
            finally:
                WATCHDOG.disarm(connection)

        return wrapper

    def of_cursor(cursor: Any) -> Any:
        return cursor.connection

    def itself(connection: Any) -> Any:
        # commit and rollback get the pool's proxy, the ping the driver's connection itself
        return getattr(connection, "dbapi_connection", None) or connection

    for name, connection_of in (
        ("do_execute", of_cursor),
        ("do_executemany", of_cursor),
        ("do_execute_no_params", of_cursor),
        ("do_commit", itself),
        ("do_rollback", itself),
        ("do_ping", itself),
    ):
        # an attribute of this engine's dialect instance: other engines stay as they are
        setattr(dialect, name, timed(getattr(dialect, name), connection_of))


@contextmanager
def lifted(connection: Any) -> Iterator[None]:
    """Within it, calls on ``connection`` (a DBAPI connection) have no client deadline."""
    _LIFTED.add(id(connection))
    try:
        yield
    finally:
        _LIFTED.discard(id(connection))
