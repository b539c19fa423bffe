"""The system parameters as the event path reads them: from memory, at most a second old.

A change made in this process is seen at once (the cache is dropped); a change made by another
instance on the same database is seen within :data:`FRESH` (one second), when the cache is
read again. Reading the six values for every batch would cost a statement per transaction.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from ..domain.parameters import Parameters, read_parameters
from .ports import Clock, UnitOfWorkFactory

FRESH = timedelta(seconds=1)


class ParameterCache:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock
        self._lock = threading.Lock()
        self._held: tuple[Parameters, datetime] | None = None

    def get(self) -> Parameters:
        held, now = self._held, self._clock()
        if held is not None and now - held[1] < FRESH:
            return held[0]
        with self._uow() as uow:
            values = uow.parameters.values()
        current = read_parameters(values)[0]
        with self._lock:
            self._held = (current, now)
        return current

    def forget(self) -> None:
        """A parameter changed here: read it again next time."""
        with self._lock:
            self._held = None
