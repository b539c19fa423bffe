"""Login throttling: failed logins counted per source address and per account, in the database.

Every login that checks a password (the STARFACE module's session, the API's token, the
console, a user changing their own password) goes through :meth:`LoginGuard.verify`. It asks
the database first and refuses a throttled attempt without running argon2 at all; then, on
the hasher's own pool, it asks again, verifies and records a failure, so that in one process
no attempt passes while another's failure is still being written. The failures live in the
database, so every instance sees the same count; the decision is :func:`domain.throttle.decide`.
A failure that starts or extends a lockout is written to the event log.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import datetime

from ..domain.model import ManualChange, Outcome
from ..domain.reasons import Note, Why, english, note
from ..domain.throttle import LOOKBACK, Verdict, decide
from .ports import Clock, LogEntry, UnitOfWork, UnitOfWorkFactory
from .security import PasswordHasher

#: realms of accounts: the module account, and people (sysadmin and jtel users)
MODULE_REALM = "module"
PEOPLE_REALM = "people"
#: how many outdated failures one write deletes (a write adds at most two)
PRUNE_CHUNK = 100


class LoginThrottled(Exception):
    """Too many failed logins: try again in ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins: retry after {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Attempt:
    """Who tries to sign in: from which address (None: unknown), as whom, by which way."""

    realm: str
    login: str
    address: str | None
    #: the event log's source for an audit entry (``ports.Source``)
    channel: str

    @property
    def account_key(self) -> str:
        return _key("account", self.realm, self.login)

    @property
    def address_key(self) -> str | None:
        return None if self.address is None else _key("address", self.address)

    def keys(self) -> list[str]:
        return [k for k in (self.address_key, self.account_key) if k is not None]


def _key(*parts: str) -> str:
    """What a failure is stored under: a hash, so a mistyped password in the login field is
    not kept in clear, and every key has the same length."""
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


class LoginGuard:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, hasher: PasswordHasher) -> None:
        self._uow = uow
        self._clock = clock
        self._hasher = hasher
        self._count_lock = threading.Lock()
        #: what this process saw: failed logins, and attempts refused as throttled (metrics)
        self.failures = 0
        self.refusals = 0

    def verify(self, attempt: Attempt, stored_hash: str | None, password: str) -> bool:
        """Check the password unless the attempt is throttled (:class:`LoginThrottled`);
        a wrong one counts as a failure for its address and its account."""
        self._refuse_if_throttled(attempt)  # without waiting for the hasher's pool

        def guarded(verify: PasswordHasher.Verify) -> bool:
            self._refuse_if_throttled(attempt)
            if verify(stored_hash, password):
                return True
            self._failed(attempt)
            return False

        return self._hasher.exclusive(guarded)

    def succeeded(self, uow: UnitOfWork, attempt: Attempt) -> None:
        """A right password clears the account's failures (not the address's: signing in to
        one's own account must not let an address go on guessing others)."""
        uow.login_failures.clear(attempt.account_key)

    def verdicts(self, attempt: Attempt) -> dict[str, Verdict]:
        """Each key's verdict now."""
        now = self._clock()
        with self._uow() as uow:
            recent = uow.login_failures.recent(attempt.keys(), since=now - LOOKBACK)
        return {key: decide(times, now) for key, times in recent.items()}

    def _refuse_if_throttled(self, attempt: Attempt) -> None:
        wait = max((v.retry_after for v in self.verdicts(attempt).values()), default=0)
        if wait:
            with self._count_lock:
                self.refusals += 1
            raise LoginThrottled(wait)

    def _failed(self, attempt: Attempt) -> None:
        with self._count_lock:
            self.failures += 1
        now = self._clock()
        keys = attempt.keys()
        with self._uow() as uow:
            uow.login_failures.add(keys, now)
            uow.login_failures.prune(before=now - LOOKBACK, limit=PRUNE_CHUNK)
            recent = uow.login_failures.recent(keys, since=now - LOOKBACK)
            uow.commit()
        notes: list[tuple[str | None, Note]] = []
        for key, times in recent.items():
            verdict = decide(times, now)
            if verdict.allowed:
                continue
            if key == attempt.address_key:
                why = note(
                    Why.THROTTLED_ADDRESS,
                    address=attempt.address,
                    seconds=verdict.retry_after,
                    failures=len(times),
                )
                notes.append((None, why))
            else:
                why = note(
                    Why.THROTTLED_ACCOUNT,
                    login=attempt.login,
                    seconds=verdict.retry_after,
                    failures=len(times),
                )
                notes.append((attempt.login, why))
        if not notes:
            return
        # under the write lock, as every writer of the event log: its ids follow commit order
        with self._uow(locked=True) as uow:
            uow.log.append([_throttled(now, attempt.channel, login, n) for login, n in notes])
            uow.commit()


def _throttled(now: datetime, source: str, login: str | None, why: Note) -> LogEntry:
    return LogEntry(
        received_at=now,
        source=source,
        event_id=None,
        type=ManualChange.LOGIN_THROTTLED,
        login=login,
        group_id=None,
        occurred_at=now,
        outcome=Outcome.REJECTED,
        notes=(why,),
        reason=english((why,)),
    )
