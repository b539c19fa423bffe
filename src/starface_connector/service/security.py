"""Passwords and tokens: argon2 hashes only, secrets from :mod:`secrets`, tokens kept as SHA-256.

Two argon2id profiles. Passwords that people choose get the OWASP profile (19 MiB, t=2).
Initial passwords the connector sets itself are either the UsersUID, which is public anyway,
or 256 random bits, which no one can guess; for those a costly hash protects nothing and would
make an import of 10,000 users take minutes, so they get a light profile and are re-hashed with
the strong one at the user's first successful login.
"""

from __future__ import annotations

import functools
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

STRONG = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
LIGHT = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when a login is unknown, so timing does not reveal which
    usernames exist (made on first use: CLI commands that never verify do not pay for it)."""
    return STRONG.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return STRONG.hash(password)


def hash_initial_password(password: str) -> str:
    return LIGHT.hash(password)


def random_password() -> str:
    return secrets.token_urlsafe(32)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Every answer costs at least one strong verification, whether the login is unknown,
    has a strong hash or still a light initial one: timing tells nothing about accounts."""
    ok = _matches(stored_hash or _dummy_hash(), password) and stored_hash is not None
    if stored_hash is not None and needs_rehash(stored_hash):
        _matches(_dummy_hash(), password)
    return ok


def _matches(stored_hash: str, password: str) -> bool:
    try:
        return STRONG.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return STRONG.check_needs_rehash(stored_hash)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
