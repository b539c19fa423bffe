"""Password handling: argon2 only, and login timing that does not reveal accounts."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from starface_connector.service import security


@pytest.fixture
def hasher() -> Iterator[security.PasswordHasher]:
    hasher = security.PasswordHasher()
    yield hasher
    hasher.close()


@pytest.fixture
def strong_verifications(
    monkeypatch: pytest.MonkeyPatch, hasher: security.PasswordHasher
) -> list[str]:
    """Records the hash of every verification (a spy on the real argon2 verifier)."""
    seen: list[str] = []
    real = hasher._matches

    def spy(stored: str, password: str) -> bool:
        seen.append(stored)
        return real(stored, password)

    monkeypatch.setattr(hasher, "_matches", spy)
    return seen


STRONG_PROFILE = "$argon2id$v=19$m=19456,t=2,p=1$"


@pytest.mark.parametrize("kind", ["unknown", "light", "strong"])
@pytest.mark.parametrize("password", ["1001", "wrong"])
def test_every_answer_costs_one_strong_verification(
    hasher: security.PasswordHasher, strong_verifications: list[str], kind: str, password: str
) -> None:
    stored = {
        "unknown": None,
        "light": hasher.hash_initial("1001"),
        "strong": hasher.hash("1001"),
    }[kind]
    strong_verifications.clear()
    result = hasher.verify(stored, password)
    assert result is (kind != "unknown" and password == "1001")
    assert sum(h.startswith(STRONG_PROFILE) for h in strong_verifications) == 1


def test_hashes_are_argon2id_and_never_contain_the_password(
    hasher: security.PasswordHasher,
) -> None:
    for hashed in (hasher.hash("s3cret-pass"), hasher.hash_initial("1001")):
        assert hashed.startswith("$argon2id$")
        assert "s3cret-pass" not in hashed and "1001" not in hashed.split("$")[-1]
    assert hasher.needs_rehash(hasher.hash_initial("1001"))
    assert not hasher.needs_rehash(hasher.hash("s3cret-pass"))


def test_strong_work_runs_on_the_hashers_own_thread(hasher: security.PasswordHasher) -> None:
    """A login flood may use the hasher's pool only, never the threads that apply events."""
    threads: set[str] = set()
    real = hasher._matches

    def where(stored: str, password: str) -> bool:
        threads.add(threading.current_thread().name)
        return real(stored, password)

    hasher._matches = where  # type: ignore[method-assign]
    stored = hasher.hash("s3cret-pass")
    with ThreadPoolExecutor(8) as callers:
        answers = list(callers.map(lambda p: hasher.verify(stored, p), ["s3cret-pass", "x"] * 4))
    assert answers == [True, False] * 4
    assert len(threads) == 1 and threads.pop().startswith("argon2")


def test_tokens_are_random_and_kept_only_as_sha256() -> None:
    tokens = {security.new_token() for _ in range(100)}
    assert len(tokens) == 100 and all(len(t) >= 40 for t in tokens)
    token = tokens.pop()
    assert security.token_hash(token) != token and len(security.token_hash(token)) == 64


def test_the_argon2_thread_runs_at_a_lower_priority_than_the_process() -> None:
    """When the CPU is short, event intake goes first (Linux: a thread has its own nice)."""
    hasher = security.PasswordHasher()
    try:
        mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        theirs = hasher.exclusive(
            lambda _: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        )
    finally:
        hasher.close()
    assert theirs == min(mine + security.NICENESS, 19)
