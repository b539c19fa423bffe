"""The client-side deadline: a call past it has its socket shut down under it, unless lifted."""

from __future__ import annotations

import socket
import threading

from starface_connector.storage.deadline import Watchdog, lifted


class FakeConnection:
    """What the watchdog needs of a driver connection: its socket's descriptor."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def fileno(self) -> int:
        return self._sock.fileno()


def blocked_read(sock: socket.socket) -> tuple[threading.Thread, list[bytes]]:
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(sock.recv(16)), daemon=True)
    reader.start()
    return reader, got


def test_a_call_past_its_deadline_is_woken_by_a_shut_down_socket() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        watchdog = Watchdog(tick=0.01)
        reader, got = blocked_read(ours)
        watchdog.arm(FakeConnection(ours), 0.05)
        reader.join(30)  # without the watchdog it would wait for the peer forever
        assert not reader.is_alive() and got == [b""]
        assert watchdog.cut == 1
        assert ours.fileno() != -1  # the driver's own descriptor is left open


def test_a_call_within_its_deadline_or_lifted_is_left_alone() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        watchdog = Watchdog(tick=0.01)
        connection = FakeConnection(ours)
        watchdog.arm(connection, 0.05)
        watchdog.disarm(connection)  # the call returned in time
        with lifted(connection):
            watchdog.arm(connection, 0.05)
        reader, got = blocked_read(ours)
        reader.join(0.5)
        assert reader.is_alive() and watchdog.cut == 0
        theirs.sendall(b"answer")
        reader.join(30)
        assert got == [b"answer"]
