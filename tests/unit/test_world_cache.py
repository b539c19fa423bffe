"""The memory of users' states the event path reads instead of the database: when it is
trusted, and when it is dropped (see ``storage/cache.py``)."""

from __future__ import annotations

from starface_connector.domain.model import PhoneStatus, Profile, UserState
from starface_connector.storage.cache import WorldCache


def agent(login: str, phone: PhoneStatus = PhoneStatus.IDLE) -> UserState:
    return UserState(login, Profile("A", "B", None, None, ()), False, phone_status=phone)


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def known(cache: WorldCache, version: int, *logins: str) -> set[str]:
    basis = cache.trusted(version)
    return {login for login in logins if basis.get(login) is not None}


def filled(cache: WorldCache, version: int = 7) -> None:
    basis = cache.trusted(version)
    cache.remember(basis, {"a": agent("a"), "b": agent("b")})


def test_nothing_is_trusted_before_a_commit_remembered_it() -> None:
    cache = WorldCache(monotonic=Ticks())
    assert known(cache, 1, "a") == set()


def test_the_next_lock_count_trusts_what_the_last_commit_wrote() -> None:
    cache = WorldCache(monotonic=Ticks())
    filled(cache, version=7)
    assert known(cache, 8, "a", "b", "c") == {"a", "b"}


def test_a_writer_in_between_drops_everything() -> None:
    """Another instance (or the import) took the lock as 8: this process's 9 trusts nothing."""
    cache = WorldCache(monotonic=Ticks())
    filled(cache, version=7)
    assert known(cache, 9, "a", "b") == set()
    # and what the 9 writes is trusted by 10 again
    basis = cache.trusted(9)
    cache.remember(basis, {"c": agent("c")})
    assert known(cache, 10, "a", "c") == {"c"}


def test_a_rolled_back_transaction_leaves_the_count_and_the_memory() -> None:
    cache = WorldCache(monotonic=Ticks())
    filled(cache, version=7)
    cache.trusted(8)  # began, never committed: the database undoes its count
    assert known(cache, 8, "a", "b") == {"a", "b"}


def test_a_deleted_user_is_forgotten_and_a_changed_one_replaced() -> None:
    cache = WorldCache(monotonic=Ticks())
    filled(cache, version=7)
    basis = cache.trusted(8)
    cache.remember(basis, {"a": None, "b": agent("b", PhoneStatus.BUSY)})
    later = cache.trusted(9)
    b = later.get("b")
    assert later.get("a") is None and b is not None and b.phone_status is PhoneStatus.BUSY


def test_a_state_is_trusted_for_its_age_after_it_was_last_read_or_written() -> None:
    """Writes around the lock (by hand, a restore) are seen within a second."""
    ticks = Ticks()
    cache = WorldCache(max_age=1.0, monotonic=ticks)
    filled(cache, version=7)  # a and b at 100.0
    ticks.now += 0.6
    basis = cache.trusted(8)
    cache.remember(basis, {"b": agent("b", PhoneStatus.BUSY)})  # b written again at 100.6
    ticks.now += 0.6
    assert known(cache, 9, "a", "b") == {"b"}
    ticks.now += 0.6
    assert known(cache, 9, "a", "b") == set()


def test_forget_wins_over_a_transaction_that_began_before_it() -> None:
    cache = WorldCache(monotonic=Ticks())
    basis = cache.trusted(7)
    cache.forget()
    cache.remember(basis, {"a": agent("a")})
    assert known(cache, 8, "a") == set()


def test_too_many_users_are_dropped_not_kept() -> None:
    cache = WorldCache(max_users=2, monotonic=Ticks())
    basis = cache.trusted(7)
    cache.remember(basis, {login: agent(login) for login in "abc"})
    assert known(cache, 8, "a", "b", "c") == set()
