"""Users' states as this process last read or wrote them, so the event path need not read
them again.

Every write transaction takes the write lock, and taking it counts ``batch_lock.batches`` up
by one. A transaction that finds the count exactly one above the count of this process's own
last commit knows that nobody wrote in between (no other instance, import, command or
console), so the states this process remembers are the database's. Any other count and
everything remembered is dropped. A state is trusted for ``max_age`` seconds after it was
last read from the database or written to it, so a write made around the lock (by hand, a
restore) is seen within that time, as parameter changes are.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from ..domain.model import UserState

#: how long a remembered state is trusted after it was last read or written
MAX_AGE_SECONDS = 1.0
#: beyond this many users the memory is dropped and refilled (about 1 KiB each)
MAX_USERS = 100_000


class Remembered:
    """What one write transaction may use, and what it names to add to it."""

    def __init__(
        self,
        users: Mapping[str, tuple[UserState, float]],
        version: int,
        generation: int,
        since: float,
    ) -> None:
        self._users = users
        self._since = since
        self.version = version
        self.generation = generation

    def get(self, login: str) -> UserState | None:
        entry = self._users.get(login)
        if entry is None or entry[1] < self._since:
            return None
        return entry[0]


class WorldCache:
    def __init__(
        self,
        *,
        max_age: float = MAX_AGE_SECONDS,
        max_users: int = MAX_USERS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_age = max_age
        self._max_users = max_users
        self._monotonic = monotonic
        #: each state with the moment it was last read from or written to the database
        self._users: dict[str, tuple[UserState, float]] = {}
        #: the lock count up to which the states here are the database's
        self._version: int | None = None
        #: counts :meth:`forget` calls, so a transaction begun before one adds nothing
        self._generation = 0
        self._guard = threading.Lock()

    def trusted(self, version: int) -> Remembered:
        """The states to use in a transaction that took the lock as count ``version``."""
        with self._guard:
            if self._version is None or version != self._version + 1:
                self._users.clear()
                self._version = version - 1  # nothing remembered: true of any state
            # not a copy: write transactions take turns (the lock), and only they use it
            since = self._monotonic() - self._max_age
            return Remembered(self._users, version, self._generation, since)

    def remember(self, basis: Remembered, states: Mapping[str, UserState | None]) -> None:
        """After a commit: the states that transaction read or wrote (None: the user is gone)."""
        with self._guard:
            if basis.generation != self._generation:
                return
            if self._version is None or basis.version != self._version + 1:
                self._forget()  # another transaction used it meanwhile: trust none of it
                return
            now = self._monotonic()
            for login, state in states.items():
                if state is None:
                    self._users.pop(login, None)
                else:
                    self._users[login] = (state, now)
            if len(self._users) > self._max_users:
                self._users.clear()
            self._version = basis.version

    def forget(self) -> None:
        """For when the database changed behind this process's back (a restore, a test)."""
        with self._guard:
            self._forget()

    def _forget(self) -> None:
        self._generation += 1
        self._users.clear()
        self._version = None
