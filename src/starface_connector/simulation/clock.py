"""Time as the simulation sees it, injectable so tests can run on virtual time.

The pusher paces live traffic and backs off through a :class:`Clock`; event times come from a
``now`` callable (:func:`utc_now` by default).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["Clock", "SystemClock", "utc_now"]


class Clock(Protocol):
    """A monotonic reading and a wait that a stop event interrupts."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        ...

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        """Wait ``seconds``, or less if ``stop`` is set meanwhile; True if it is set."""
        ...


class SystemClock:
    """The real clock: :func:`time.monotonic` and :meth:`threading.Event.wait`."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        return stop.wait(seconds)


def utc_now() -> datetime:
    """The wall-clock time, timezone-aware in UTC."""
    return datetime.now(UTC)
