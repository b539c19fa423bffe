"""Passwords and tokens: argon2 hashes only, secrets from :mod:`secrets`, tokens kept as SHA-256.

Two argon2id profiles. Passwords that people choose get the OWASP profile (19 MiB, t=2).
Initial passwords the connector sets itself are either the UsersUID, which is public anyway,
or 256 random bits, which no one can guess; for those a costly hash protects nothing and would
make an import of 10,000 users take minutes, so they get a light profile and are re-hashed with
the strong one at the user's first successful login.

Strong hashing and every verification run on the hasher's own bounded pool (one thread by
default), at a lower scheduling priority than the rest of the process: a flood of logins then
uses at most that much CPU and cannot starve event intake, and only that thread keeps
argon2's 19 MiB buffer in its malloc arena.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher as Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

T = TypeVar("T")
STRONG = Argon2(time_cost=2, memory_cost=19456, parallelism=1)
LIGHT = Argon2(time_cost=1, memory_cost=64, parallelism=1)


def random_password() -> str:
    return secrets.token_urlsafe(32)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


#: how much nicer than the rest of the process the argon2 threads run (Linux: per thread)
NICENESS = 10


def _yield_to_others() -> None:
    """Lower this thread's scheduling priority: when the CPU is short, event intake goes
    first and logins wait (on Linux a thread has its own nice value; elsewhere a no-op)."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + NICENESS)
    except (AttributeError, OSError):  # no per-thread priority here: run as before
        pass


class PasswordHasher:
    """argon2id hashing and verification on a bounded pool of its own."""

    #: a verification as :meth:`exclusive` hands it out: (stored hash or None, password)
    Verify = Callable[[str | None, str], bool]

    def __init__(self, *, workers: int = 1) -> None:
        self._pool = ThreadPoolExecutor(
            workers, thread_name_prefix="argon2", initializer=_yield_to_others
        )
        self._dummy: str | None = None
        self._dummy_lock = threading.Lock()
        self._count_lock = threading.Lock()
        #: verifications run so far (each costs one or two strong argon2 checks)
        self.verifications = 0

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def hash(self, password: str) -> str:
        return self._pool.submit(STRONG.hash, password).result()

    def hash_initial(self, password: str) -> str:
        return LIGHT.hash(password)

    def needs_rehash(self, stored_hash: str) -> bool:
        return STRONG.check_needs_rehash(stored_hash)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """Every answer costs at least one strong verification, whether the login is unknown,
        has a strong hash or still a light initial one: timing tells nothing about accounts."""
        return self._pool.submit(self._verify, stored_hash, password).result()

    def exclusive(self, work: Callable[[Verify], T]) -> T:
        """Run ``work`` on the pool, with a verification that runs in place: what ``work``
        checks before verifying and writes after keeps step with every other verification
        of this process (login throttling counts failures that way)."""
        return self._pool.submit(work, self._verify).result()

    def _verify(self, stored_hash: str | None, password: str) -> bool:
        with self._count_lock:
            self.verifications += 1
        ok = self._matches(stored_hash or self._dummy_hash(), password) and stored_hash is not None
        if stored_hash is not None and self.needs_rehash(stored_hash):
            self._matches(self._dummy_hash(), password)
        return ok

    def _dummy_hash(self) -> str:
        """A hash to verify against when a login is unknown, so timing does not reveal which
        usernames exist (made on first use: commands that never verify do not pay for it)."""
        with self._dummy_lock:
            if self._dummy is None:
                self._dummy = STRONG.hash(secrets.token_urlsafe(16))
            return self._dummy

    @staticmethod
    def _matches(stored_hash: str, password: str) -> bool:
        try:
            return STRONG.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
