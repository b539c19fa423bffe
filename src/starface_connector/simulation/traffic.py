"""What a live PBX reports: call cycles, agents logging in and out, and changed users and groups.

:class:`TrafficModel` turns a :class:`~.state.SimulatedPbx` into the events the STARFACE
module would send: the whole PBX once, then live events, mostly phone status changes, some
logins and logouts of group members, and now and then a change to the PBX itself (made on the
PBX, then reported like any change someone else made). Everything is drawn from one seeded
RNG, so the same seed gives the same traffic.

Every event gets a strictly increasing ``occurredAt`` from :class:`EventClock`, so the
connector's ordering rules never see two events of one user tie.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from ..domain.model import LoginStatus, PhoneStatus
from ..domain.pbx import PbxSnapshot
from .clock import utc_now
from .datagen import LANGUAGES
from .state import SimulatedPbx
from .wire import (
    WireEvent,
    group_update_event,
    phone_status_event,
    user_delete_event,
    user_status_event,
    user_update_event,
)

__all__ = [
    "LOGIN_SHARE",
    "MISSED_CALL_SHARE",
    "PBX_CHANGE_SHARE",
    "UNPLUG_SHARE",
    "EventClock",
    "TrafficModel",
    "next_phone_status",
]

log = logging.getLogger(__name__)

# Share of live events per kind; the rest are phone status changes, by far the most frequent
# thing a PBX reports.
PBX_CHANGE_SHARE = 0.03
LOGIN_SHARE = 0.17
# How often a ringing phone is not answered (RINGING -> IDLE) and an idle phone goes offline.
MISSED_CALL_SHARE = 0.2
UNPLUG_SHARE = 0.02

_NEW_FIRST_NAMES = ("Jürgen", "Amélie", "Siobhán", "Björn", "Loïc", "Grace", "Käthe", "Noël")
_NEW_FAMILY_NAMES = ("Müller", "Lefèvre", "O'Brien", "Côté", "Schröder", "Walker", "Brûlé")
_MAIL_DOMAINS = ("example.com", "example.org", "example.net")
_BUSY = (PhoneStatus.RINGING, PhoneStatus.BUSY)


def next_phone_status(current: PhoneStatus, rng: random.Random) -> PhoneStatus:
    """One step of a call cycle: OFFLINE/IDLE -> RINGING -> BUSY (or missed: IDLE) -> IDLE."""
    if current == PhoneStatus.OFFLINE:
        return PhoneStatus.IDLE
    if current == PhoneStatus.IDLE:
        return PhoneStatus.OFFLINE if rng.random() < UNPLUG_SHARE else PhoneStatus.RINGING
    if current == PhoneStatus.RINGING:
        return PhoneStatus.IDLE if rng.random() < MISSED_CALL_SHARE else PhoneStatus.BUSY
    return PhoneStatus.IDLE


class EventClock:
    """Strictly increasing UTC timestamps: ``now()``, nudged by 1 µs on ties.

    The connector calls an event older than the last applied one of the same user ``stale``;
    two events of one user must therefore never share or reverse their ``occurredAt``.
    ``now`` must return timezone-aware datetimes.
    """

    def __init__(self, now: Callable[[], datetime] = utc_now) -> None:
        self._now = now
        self._last = datetime.min.replace(tzinfo=UTC)

    def stamp(self) -> datetime:
        """The time for the next event: ``now()``, or 1 µs after the previous stamp."""
        moment = self._now()
        if moment.tzinfo is None:
            raise ValueError("the event clock needs timezone-aware datetimes")
        if moment <= self._last:
            moment = self._last + timedelta(microseconds=1)
        self._last = moment
        return moment


class TrafficModel:
    """The events a PBX produces, drawn from one seeded RNG.

    Not thread-safe by itself (the pusher drives it from one thread), except
    :meth:`phone_states`, which may be read from any thread.
    """

    def __init__(
        self, pbx: SimulatedPbx, *, seed: int, now: Callable[[], datetime] = utc_now
    ) -> None:
        self.pbx = pbx
        self._rng = random.Random(seed)
        self._clock = EventClock(now)
        self._known: PbxSnapshot | None = None
        self._known_version = -1
        self._initial_user_count = 0
        self._state_lock = threading.Lock()
        self._phone: dict[str, PhoneStatus] = {}
        self._login: dict[str, LoginStatus] = {}
        self._logins: list[str] = []  # all users, sorted: who can get a call
        self._members: list[str] = []  # group members, sorted: who can log in to a group

    @property
    def started(self) -> bool:
        """True once :meth:`initial_events` told the connector about the whole PBX."""
        return self._known is not None

    def phone_states(self) -> dict[str, PhoneStatus]:
        """Per login, the phone status of the last PHONE_STATUS generated (OFFLINE before)."""
        with self._state_lock:
            return dict(self._phone)

    def login_states(self) -> dict[str, LoginStatus]:
        """Per login, the login status of the last USER_STATUS generated (LOGGED_OUT before)."""
        with self._state_lock:
            return {login: self._login.get(login, LoginStatus.LOGGED_OUT) for login in self._phone}

    def resync_events(self) -> list[WireEvent]:
        """Every user's current login and phone state, marked ``resync``: what the module
        sends when it opens a session, so states missed meanwhile are corrected at once."""
        events = []
        for login, status in sorted(self.login_states().items()):
            phone = self.phone_states()[login]
            events.append(
                user_status_event(login, status, occurred_at=self._clock.stamp(), resync=True)
            )
            events.append(
                phone_status_event(login, phone, occurred_at=self._clock.stamp(), resync=True)
            )
        return events

    def initial_events(self) -> list[WireEvent]:
        """USER_UPDATE for every PBX user, then GROUP_UPDATE for every group.

        This is what the module sends when it is installed: afterwards the connector knows the
        whole PBX, and live changes are sent as differences to this state.
        """
        snapshot = self._take_snapshot()
        stamp = self._clock.stamp
        events = [user_update_event(u, occurred_at=stamp()) for u in snapshot.users]
        events += [group_update_event(g, occurred_at=stamp()) for g in snapshot.groups]
        self._initial_user_count = len(snapshot.users)
        with self._state_lock:
            for user in snapshot.users:
                self._phone.setdefault(user.login, PhoneStatus.OFFLINE)
        return events

    def live_events(self, count: int) -> list[WireEvent]:
        """``count`` draws of live traffic, with the PBX changes around them.

        Changes others made to the PBX happened first; ours during generation last.
        """
        events = self._pbx_changes()
        events += self._generate(count)
        events += self._pbx_changes()
        return events

    # ------------------------------------------------------------------ live events
    def _generate(self, count: int) -> list[WireEvent]:
        """``count`` live events: mostly phone cycles, some logins/logouts, rare PBX changes."""
        events: list[WireEvent] = []
        for _ in range(count):
            roll = self._rng.random()
            if roll < PBX_CHANGE_SHARE:
                self._mutate_pbx()  # its USER_UPDATE/GROUP_UPDATE come from _pbx_changes
                continue
            event = None
            if roll < PBX_CHANGE_SHARE + LOGIN_SHARE:
                event = self._login_event()
            if event is None:
                event = self._phone_event()
            if event is not None:
                events.append(event)
        return events

    def _phone_event(self) -> WireEvent | None:
        with self._state_lock:
            if not self._logins:
                return None
            login = self._rng.choice(self._logins)
            status = next_phone_status(self._phone.get(login, PhoneStatus.OFFLINE), self._rng)
            self._phone[login] = status
            return phone_status_event(login, status, occurred_at=self._clock.stamp())

    def _login_event(self) -> WireEvent | None:
        """Toggle the login of a group member; agents on a call do not log out mid-call."""
        with self._state_lock:
            if not self._members:
                return None
            login = self._rng.choice(self._members)
            if self._phone.get(login) in _BUSY:
                return None
            logged_in = self._login.get(login) == LoginStatus.LOGGED_IN
            status = LoginStatus.LOGGED_OUT if logged_in else LoginStatus.LOGGED_IN
            self._login[login] = status
            return user_status_event(login, status, occurred_at=self._clock.stamp())

    def _mutate_pbx(self) -> None:
        """Change the PBX as an administrator would: mail, language, numbers, groups, users.

        Works from the last snapshot, which another thread's mutation may have outdated; such
        a change is skipped, the next one will do.
        """
        snapshot = self._known
        if snapshot is None or not snapshot.users:
            return
        rng, pbx = self._rng, self.pbx
        user = rng.choice(snapshot.users)
        kind = rng.random()
        room = self._initial_user_count + max(5, self._initial_user_count // 10)
        try:
            if kind < 0.5:
                local = user.email.split("@", 1)[0] or user.login
                domains = [d for d in _MAIL_DOMAINS if not user.email.endswith("@" + d)]
                pbx.update_user(user.id, email=f"{local}@{rng.choice(domains)}")
            elif kind < 0.7:
                languages = [lang for lang in LANGUAGES if lang != user.language]
                pbx.update_user(user.id, language=rng.choice(languages))
            elif kind < 0.85:
                internal = [n for n in user.phone_numbers if not n.startswith("+")]
                external = f"+49 721 {rng.randint(100000, 999999)}"
                pbx.update_user(user.id, phone_numbers=[*internal, external])
            elif kind < 0.95 and snapshot.groups:
                group = rng.choice(snapshot.groups)
                members = {pbx.user_id_for_login(m) for m in group.member_logins}
                pbx.set_group_members(group.id, members ^ {user.id})  # join or leave
            elif len(snapshot.users) < room:
                pbx.add_user(
                    first_name=rng.choice(_NEW_FIRST_NAMES),
                    family_name=rng.choice(_NEW_FAMILY_NAMES),
                    language=rng.choice(LANGUAGES),
                )
        except (KeyError, ValueError) as exc:
            log.debug("skipped a PBX change on outdated state: %r", exc)

    # ------------------------------------------------------------------ PBX changes
    def _pbx_changes(self) -> list[WireEvent]:
        """Events for whatever changed on the PBX since the last push (ours or anyone's)."""
        if self._known is None or self.pbx.version == self._known_version:
            return []
        before = self._known
        after = self._take_snapshot()
        old_users = before.user_by_login()
        new_users = after.user_by_login()
        stamp = self._clock.stamp
        events = [
            user_update_event(user, occurred_at=stamp())
            for login, user in new_users.items()
            if old_users.get(login) != user
        ]
        events += [
            user_delete_event(login, occurred_at=stamp())
            for login in old_users.keys() - new_users.keys()
        ]
        old_groups = {g.id: g for g in before.groups}
        events += [
            group_update_event(group, occurred_at=stamp())
            for group in after.groups
            if old_groups.get(group.id) != group
        ]
        # The contract has no group deletion; a removed group is simply no longer updated.
        with self._state_lock:
            for login in old_users.keys() - new_users.keys():
                self._phone.pop(login, None)
                self._login.pop(login, None)
            for login in new_users.keys() - old_users.keys():
                self._phone.setdefault(login, PhoneStatus.OFFLINE)
        return events

    def _take_snapshot(self) -> PbxSnapshot:
        """Snapshot the PBX and make it the state the connector is being told about."""
        # Version first: a mutation racing with the snapshot then only causes one more (empty)
        # comparison next time instead of going unnoticed.
        self._known_version = self.pbx.version
        snapshot = self.pbx.snapshot()
        self._known = snapshot
        with self._state_lock:
            self._logins = sorted(u.login for u in snapshot.users)
            self._members = sorted({m for g in snapshot.groups for m in g.member_logins})
        return snapshot
