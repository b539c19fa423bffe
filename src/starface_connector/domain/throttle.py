"""Login throttling as a pure decision: given the recent failed logins of one key (a source
address or an account) and the time now, may it try again, and if not, for how long not?

The rule: the 10th failure within 5 minutes locks the key for 30 seconds. Each further
failure while the lockout chain lasts (a throttled attempt is no failure: it is not even
checked) doubles the wait, up to an hour. A chain ends after an hour with no failure past
the end of its lockout. Only failures of the last :data:`LOOKBACK` are looked at, so the
stored rows stay few; a chain older than that is forgotten, which lets at most one attempt
an hour through (the cap's rate anyway).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

#: failures within :data:`WINDOW` that lock the key
THRESHOLD = 10
WINDOW = timedelta(minutes=5)
FIRST_WAIT = timedelta(seconds=30)
MAX_WAIT = timedelta(hours=1)
#: quiet time after a lockout that ends its chain (the next failure starts afresh)
QUIET = timedelta(hours=1)
#: how far back failures matter; older rows can be deleted
LOOKBACK = MAX_WAIT + QUIET


@dataclass(frozen=True)
class Verdict:
    """``retry_after`` is 0 when allowed, else whole seconds to wait (at least 1)."""

    retry_after: int
    #: failures counted in the current lockout chain (0: none started)
    strikes: int = 0

    @property
    def allowed(self) -> bool:
        return self.retry_after == 0


ALLOWED = Verdict(0)


def wait_for(strikes: int) -> timedelta:
    """The lockout after the ``strikes``-th failure of a chain: 30 s, 60 s, ... at most 1 h."""
    if strikes < 1:
        return timedelta()
    # compare exponents first: 2**strikes for a huge count would be a huge number
    if strikes - 1 >= math.ceil(math.log2(MAX_WAIT / FIRST_WAIT)):
        return MAX_WAIT
    return min(FIRST_WAIT * (1 << (strikes - 1)), MAX_WAIT)


def decide(failures: Iterable[datetime], now: datetime) -> Verdict:
    """Whether a key with these failed logins may try now (order of ``failures`` is free;
    failures after ``now`` are taken as happening now)."""
    recent: list[datetime] = []
    strikes = 0
    until: datetime | None = None
    for moment in sorted(min(f, now) for f in failures if f > now - LOOKBACK):
        if until is not None and moment > until + QUIET:
            strikes, until = 0, None
        recent = [r for r in recent if r > moment - WINDOW]
        recent.append(moment)
        if until is not None or len(recent) >= THRESHOLD:
            strikes += 1
            until = moment + wait_for(strikes)
    if until is None or until <= now:
        return Verdict(0, strikes)
    return Verdict(max(1, math.ceil((until - now).total_seconds())), strikes)
