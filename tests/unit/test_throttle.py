"""Login throttling's pure decision: example tables, then properties over random histories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from starface_connector.domain.throttle import (
    LOOKBACK,
    MAX_WAIT,
    THRESHOLD,
    decide,
    wait_for,
)

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)


def at(*seconds: float) -> list[datetime]:
    return [T0 + timedelta(seconds=s) for s in seconds]


def burst(start: float = 0, count: int = THRESHOLD, gap: float = 1) -> list[float]:
    return [start + i * gap for i in range(count)]


@pytest.mark.parametrize(
    ("failures", "now", "retry_after"),
    [
        ([], 0, 0),
        (burst(count=9), 9, 0),  # nine failures: still allowed
        (burst(), 9, 30),  # the tenth within 5 minutes locks for 30 s
        (burst(), 20, 19),  # ... counted from the last failure
        (burst(), 39, 0),  # and then it may try again
        (burst(gap=34), 9 * 34, 0),  # ten failures over 5 min 6 s: no lockout
        (burst(gap=33), 9 * 33, 30),  # ten within 4 min 57 s: a lockout
        ([*burst(), 39], 39, 60),  # a failure after the lockout doubles the wait
        ([*burst(), 39, 99], 99, 120),
        ([*burst(), 39, 99, 219], 219, 240),
        ([*burst(), 39 + 3600], 39 + 3600, 60),  # within the quiet hour: the chain goes on
        ([*burst(), 39 + 3601], 39 + 3601, 0),  # an hour quiet past the lockout: afresh
        ([*burst(), 39 + 3601, *burst(3700, count=9)], 3708, 30),  # a new burst: 30 s again
        (burst(count=40, gap=0), 0, 3600),  # 31 strikes at once: the cap
        (burst(), -5, 30),  # failures "after now" (another clock) count as now
    ],
)
def test_the_decision_table(failures: list[float], now: float, retry_after: int) -> None:
    assert decide(at(*failures), T0 + timedelta(seconds=now)).retry_after == retry_after


def test_the_wait_doubles_from_30_seconds_up_to_an_hour() -> None:
    assert [wait_for(n).total_seconds() for n in range(10)] == [
        0,
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
        3600,
    ]
    assert wait_for(10**9) == MAX_WAIT


def test_failures_older_than_the_lookback_are_forgotten() -> None:
    old = at(*burst())
    assert not decide(old, T0 + timedelta(seconds=9)).allowed
    later = T0 + LOOKBACK + timedelta(seconds=10)
    assert decide([*old, later], later).allowed


#: failure times within a few hours, at whole seconds, clustered so bursts happen
moments = st.lists(st.integers(min_value=0, max_value=3 * 3600), max_size=60).map(
    lambda xs: [T0 + timedelta(seconds=x // 7 * 7 if x % 2 else x) for x in xs]
)
nows = st.integers(min_value=0, max_value=4 * 3600).map(lambda s: T0 + timedelta(seconds=s))


@given(moments, nows)
def test_the_wait_is_between_zero_and_an_hour_and_waiting_it_out_is_enough(
    failures: list[datetime], now: datetime
) -> None:
    verdict = decide(failures, now)
    assert 0 <= verdict.retry_after <= MAX_WAIT.total_seconds()
    past = [f for f in failures if f <= now]  # a failure still to come may lock again
    waited = now + timedelta(seconds=decide(past, now).retry_after)
    assert decide(past, waited).allowed


@given(moments, nows)
def test_fewer_failures_than_the_threshold_in_the_lookback_are_always_allowed(
    failures: list[datetime], now: datetime
) -> None:
    recent = [f for f in failures if now - LOOKBACK < f]
    if len(recent) < THRESHOLD:
        assert decide(failures, now).allowed


@given(moments, nows)
def test_a_burst_of_ten_failures_is_always_locked_out(
    failures: list[datetime], now: datetime
) -> None:
    verdict = decide([*failures, *[now] * THRESHOLD], now)
    assert verdict.retry_after >= 30


@given(moments, nows)
def test_the_order_of_the_failures_does_not_matter(failures: list[datetime], now: datetime) -> None:
    assert decide(failures, now) == decide(list(reversed(failures)), now)
