"""A TCP proxy in front of a database that a test can break on purpose.

Modes: ``pass`` forwards both ways; ``blackhole`` accepts connections and forwards nothing
(what a partition or a stalled load balancer looks like to a client: its packets are taken
and never answered); ``refuse`` closes the listening port (connection refused) and resets
the open connections (a database restarting). :meth:`FaultProxy.lose_commit_reply` forwards
the next COMMIT of a transaction that wrote the event log, lets the server answer, swallows
the answer and cuts the connection: the client cannot know whether its commit happened.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from typing import Literal

Mode = Literal["pass", "blackhole", "refuse"]


class _Link:
    """One client connection and, while passing, its upstream connection."""

    def __init__(self, client: socket.socket) -> None:
        self.client = client
        self.upstream: socket.socket | None = None
        #: data was dropped: the protocol state is lost, the link must die on restore
        self.tainted = False
        #: the transaction on this link wrote the event log since its last COMMIT
        self.wrote_log = False
        #: the server's next answer is swallowed and the link cut
        self.swallow = False
        self.closed = False

    def close(self) -> None:
        self.closed = True
        for sock in (self.client, self.upstream):
            if sock is None:
                continue
            with contextlib.suppress(OSError):
                # linger 0: a reset, as from a server that went away
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                sock.close()


class FaultProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.mode: Mode = "pass"
        self._lock = threading.Lock()
        self._links: set[_Link] = set()
        self._lose_commit = False
        self.commits_lost = 0
        self._listener = self._listen(0)
        self.port: int = self._listener.getsockname()[1]

    # -- control --
    def set_mode(self, mode: Mode) -> None:
        with self._lock:
            previous, self.mode = self.mode, mode
            links = list(self._links)
        if mode == "refuse":
            self._listener.close()
            for link in links:
                link.close()
        elif previous == "refuse":
            self._listener = self._listen(self.port)
        if mode == "pass":
            for link in links:
                if link.tainted or link.upstream is None:
                    link.close()

    def restore(self) -> None:
        self._lose_commit = False
        self.set_mode("pass")

    def lose_commit_reply(self) -> None:
        """Arm: the next COMMIT after an event log write loses its reply (once)."""
        self._lose_commit = True

    def close(self) -> None:
        self.set_mode("refuse")

    # -- machinery --
    def _listen(self, port: int) -> socket.socket:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(64)
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return listener

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed: mode refuse
                return
            link = _Link(client)
            with self._lock:
                self._links.add(link)
                mode = self.mode
            if mode == "pass":
                try:
                    link.upstream = socket.create_connection(self.target, timeout=5)
                    link.upstream.settimeout(None)
                except OSError:
                    link.close()
                    continue
                threading.Thread(target=self._pump_up, args=(link,), daemon=True).start()
                threading.Thread(target=self._pump_down, args=(link,), daemon=True).start()
            else:  # blackhole: take what the client sends, answer nothing
                threading.Thread(target=self._drain, args=(link,), daemon=True).start()

    def _drain(self, link: _Link) -> None:
        link.tainted = True
        with contextlib.suppress(OSError):
            while link.client.recv(65536):
                pass
        link.close()
        self._forget(link)

    def _pump_up(self, link: _Link) -> None:
        """Client to server."""
        assert link.upstream is not None
        try:
            while data := link.client.recv(65536):
                if self.mode != "pass":
                    link.tainted = True
                    continue
                if b"event_log" in data:
                    link.wrote_log = True
                if b"COMMIT" in data:
                    if self._lose_commit and link.wrote_log:
                        self._lose_commit = False
                        link.swallow = True
                    link.wrote_log = False
                link.upstream.sendall(data)
        except OSError:
            pass
        link.close()
        self._forget(link)

    def _pump_down(self, link: _Link) -> None:
        """Server to client."""
        assert link.upstream is not None
        try:
            while data := link.upstream.recv(65536):
                if link.swallow:  # the server answered the COMMIT: the client never hears it
                    self.commits_lost += 1
                    break
                if self.mode != "pass":
                    link.tainted = True
                    continue
                link.client.sendall(data)
        except OSError:
            pass
        link.close()
        self._forget(link)

    def _forget(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)
