"""The STARFACE module's side of the connector contract, simulated: an event pusher.

A real STARFACE module opens a session on the connector, pushes every user and group once, and
then reports what happens on the PBX: users and groups that change, agents logging in and out
of their groups, phones ringing. :class:`EventPusher` does the same against a
:class:`~starface_connector.starface.simulator.SimulatedPbx`, so demos show live traffic and
tests exercise the connector through its real HTTP contract (``/starface/v1``).

It is deliberately a well-behaved client, because the connector's guarantees rest on that:

* every event gets a unique ``eventId`` and a strictly increasing ``occurredAt`` (UTC,
  microseconds), so the connector's ordering rules never see two events of one user tie;
* a batch that failed (connection error, timeout, 5xx) is sent again with the *same* events and
  ids, after an exponential backoff with jitter, so the connector's idempotency deduplicates it;
* an expired session (401) is renewed and the batch resent at once;
* an event is dropped only from the backlog when the connector acknowledged it; whatever is
  still unacknowledged when the pusher is stopped stays in :attr:`EventPusher.unsent`.

The wire shapes are built only by the ``*_event`` helpers below; nothing else in this module
writes an event dict.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Literal, Self

import httpx

from starface_connector.domain.pbx import PbxGroup, PbxSnapshot, PbxUser
from starface_connector.starface.simulator import SimulatedPbx

__all__ = [
    "MAX_BATCH",
    "EventPusher",
    "EventType",
    "LoginStatus",
    "PhoneStatus",
    "PushError",
    "group_update_event",
    "make_event",
    "new_event_id",
    "next_phone_status",
    "phone_status_event",
    "rfc3339",
    "user_delete_event",
    "user_status_event",
    "user_update_event",
]

log = logging.getLogger(__name__)

EventType = Literal["USER_UPDATE", "USER_DELETE", "GROUP_UPDATE", "USER_STATUS", "PHONE_STATUS"]
LoginStatus = Literal["LOGGED_IN", "LOGGED_OUT"]
PhoneStatus = Literal["IDLE", "RINGING", "BUSY", "OFFLINE"]
Event = dict[str, Any]

#: The connector accepts 1 to 1000 events per request.
MAX_BATCH = 1000
SESSION_PATH = "/starface/v1/session"
EVENTS_PATH = "/starface/v1/events"

# Share of live events per kind; the rest are phone status changes, by far the most frequent
# thing a PBX reports.
_PBX_CHANGE_SHARE = 0.03
_LOGIN_SHARE = 0.17
# How often a ringing phone is not answered (RINGING -> IDLE) and an idle phone goes offline.
_MISSED_CALL_SHARE = 0.2
_UNPLUG_SHARE = 0.02
# A 401 right after a fresh session means something else is wrong: give up after this many.
_MAX_RENEWALS_PER_BATCH = 3
_RETRYABLE_4XX = frozenset({408, 425, 429})

_NEW_FIRST_NAMES = ("Jürgen", "Amélie", "Siobhán", "Björn", "Loïc", "Grace", "Käthe", "Noël")
_NEW_FAMILY_NAMES = ("Müller", "Lefèvre", "O'Brien", "Côté", "Schröder", "Walker", "Brûlé")
_LANGUAGES = ("de", "en", "fr")
_MAIL_DOMAINS = ("example.com", "example.org", "example.net")


class PushError(RuntimeError):
    """The connector refused something that resending cannot fix (credentials, contract)."""


class _Interrupted(Exception):
    """Stop was requested while waiting to retry; the batch stays in the backlog."""


# ---------------------------------------------------------------------------- wire shapes
def rfc3339(moment: datetime) -> str:
    """``occurredAt`` text: UTC with microseconds and ``Z``, as the contract's example."""
    if moment.tzinfo is None:
        raise ValueError("occurredAt needs a timezone-aware datetime")
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_event_id() -> str:
    """A globally unique event id (well under the contract's 128 characters)."""
    return f"sim-{uuid.uuid4()}"


def make_event(
    kind: EventType,
    body: dict[str, Any],
    *,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
) -> Event:
    """The envelope every event shares: ``eventId``, ``occurredAt``, ``type``, then ``body``."""
    return {
        "eventId": event_id or new_event_id(),
        "occurredAt": rfc3339(occurred_at or datetime.now(UTC)),
        "type": kind,
        **body,
    }


def user_update_event(
    user: PbxUser, *, event_id: str | None = None, occurred_at: datetime | None = None
) -> Event:
    """``USER_UPDATE``: the full profile, so the connector can create or update the user."""
    wire_user = {
        "login": user.login,
        "firstName": user.first_name,
        "familyName": user.family_name,
        "email": user.email,
        "language": user.language,
        "admin": user.admin,
        "phoneNumbers": list(user.phone_numbers),
    }
    return make_event(
        "USER_UPDATE", {"user": wire_user}, event_id=event_id, occurred_at=occurred_at
    )


def user_delete_event(
    login: str, *, event_id: str | None = None, occurred_at: datetime | None = None
) -> Event:
    """``USER_DELETE``: the user is gone from the PBX."""
    return make_event("USER_DELETE", {"login": login}, event_id=event_id, occurred_at=occurred_at)


def group_update_event(
    group: PbxGroup, *, event_id: str | None = None, occurred_at: datetime | None = None
) -> Event:
    """``GROUP_UPDATE``: name and the complete member list (Login-IDs), id as the PBX has it."""
    wire_group = {"id": group.id, "name": group.name, "members": list(group.member_logins)}
    return make_event(
        "GROUP_UPDATE", {"group": wire_group}, event_id=event_id, occurred_at=occurred_at
    )


def user_status_event(
    login: str,
    status: LoginStatus,
    *,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
) -> Event:
    """``USER_STATUS``: the agent logged in to or out of its groups."""
    return make_event(
        "USER_STATUS",
        {"login": login, "status": status},
        event_id=event_id,
        occurred_at=occurred_at,
    )


def phone_status_event(
    login: str,
    status: PhoneStatus,
    *,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
) -> Event:
    """``PHONE_STATUS``: the state of the user's telephone."""
    return make_event(
        "PHONE_STATUS",
        {"login": login, "status": status},
        event_id=event_id,
        occurred_at=occurred_at,
    )


def next_phone_status(current: PhoneStatus, rng: random.Random) -> PhoneStatus:
    """One step of a call cycle: OFFLINE/IDLE -> RINGING -> BUSY (or missed: IDLE) -> IDLE."""
    if current == "OFFLINE":
        return "IDLE"
    if current == "IDLE":
        return "OFFLINE" if rng.random() < _UNPLUG_SHARE else "RINGING"
    if current == "RINGING":
        return "IDLE" if rng.random() < _MISSED_CALL_SHARE else "BUSY"
    return "IDLE"


class _Clock:
    """Strictly increasing UTC timestamps: wall-clock time, nudged by 1 µs on ties.

    The connector calls an event older than the last applied one of the same user ``stale``;
    two events of one user must therefore never share or reverse their ``occurredAt``.
    """

    def __init__(self) -> None:
        self._last = datetime.min.replace(tzinfo=UTC)

    def now(self) -> datetime:
        moment = datetime.now(UTC)
        if moment <= self._last:
            moment = self._last + timedelta(microseconds=1)
        self._last = moment
        return moment


# ---------------------------------------------------------------------------- the pusher
class EventPusher:
    """Pushes a simulated PBX's events to a connector, like the STARFACE module does.

    Not thread-safe by itself: drive it either with :meth:`run` in one thread or with
    :meth:`start`/:meth:`stop`. The counters are plain attributes, safe to read from another
    thread: ``sent`` (events acknowledged), ``batches`` (requests acknowledged), ``retries``
    (resends after a transient failure), ``session_renewals`` (sessions opened after the
    first), ``outcomes`` (acknowledged events per outcome) and ``generated`` (events made).
    """

    def __init__(
        self,
        connector_url: str,
        module_login: str,
        module_password: str,
        pbx: SimulatedPbx,
        *,
        rate: float = 5.0,
        seed: int = 1,
        batch_interval: float = 0.2,
        timeout: float = 10.0,
        backoff_base: float = 0.2,
        backoff_max: float = 10.0,
    ) -> None:
        if rate < 0:
            raise ValueError("rate must not be negative")
        if batch_interval <= 0 or timeout <= 0:
            raise ValueError("batch_interval and timeout must be positive")
        if backoff_base <= 0 or backoff_max < backoff_base:
            raise ValueError("need 0 < backoff_base <= backoff_max")
        self.connector_url = connector_url.rstrip("/")
        self.module_login = module_login
        self.module_password = module_password
        self.pbx = pbx
        self.rate = rate
        self.batch_interval = batch_interval
        self.timeout = timeout
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max

        self.sent = 0
        self.batches = 0
        self.retries = 0
        self.session_renewals = 0
        self.generated = 0
        self.outcomes: Counter[str] = Counter()
        #: What ended the background thread, if anything did (it is also logged).
        self.error: BaseException | None = None

        # Traffic is seeded for reproducible demos; jitter has its own RNG so that failures do
        # not change which events are generated.
        self._rng = random.Random(seed)
        self._jitter = random.Random(seed ^ 0x5EED)
        self._clock = _Clock()
        self._http = httpx.Client(base_url=self.connector_url, timeout=timeout)
        self._session_id: str | None = None
        self._sessions_opened = 0
        self._backlog: deque[list[Event]] = deque()
        self._known: PbxSnapshot | None = None
        self._known_version = -1
        self._initial_user_count = 0
        self._state_lock = threading.Lock()
        self._phone: dict[str, PhoneStatus] = {}
        self._login: dict[str, LoginStatus] = {}
        self._logins: list[str] = []  # all users, sorted: who can get a call
        self._members: list[str] = []  # group members, sorted: who can log in to a group
        self._stop_event = threading.Event()
        self._halt = self._stop_event
        self._thread: threading.Thread | None = None
        self._closed = False

    # ------------------------------------------------------------------ public API
    @property
    def session_id(self) -> str | None:
        """The connector session in use (None before the first request or after close)."""
        return self._session_id

    @property
    def unsent(self) -> int:
        """Events generated but not yet acknowledged by the connector."""
        return sum(len(batch) for batch in self._backlog)

    @property
    def running(self) -> bool:
        """True while the background thread of :meth:`start` is alive."""
        return self._thread is not None and self._thread.is_alive()

    def phone_states(self) -> dict[str, PhoneStatus]:
        """Per login, the phone status of the last PHONE_STATUS generated (OFFLINE before)."""
        with self._state_lock:
            return dict(self._phone)

    def login_states(self) -> dict[str, LoginStatus]:
        """Per login, the status of the last USER_STATUS generated (absent: never sent)."""
        with self._state_lock:
            return dict(self._login)

    def push_initial(self) -> None:
        """Send USER_UPDATE for every PBX user, then GROUP_UPDATE for every group.

        This is what the module does when it is installed: afterwards the connector knows the
        whole PBX, and live changes are sent as differences to this state.
        """
        snapshot = self._take_snapshot()
        events = [user_update_event(u, occurred_at=self._clock.now()) for u in snapshot.users]
        events += [group_update_event(g, occurred_at=self._clock.now()) for g in snapshot.groups]
        self._initial_user_count = len(snapshot.users)
        with self._state_lock:
            for user in snapshot.users:
                self._phone.setdefault(user.login, "OFFLINE")
        self._enqueue(events)
        self.flush()

    def flush(self) -> None:
        """Send every pending batch, oldest first, until acknowledged or stop is requested."""
        try:
            self._drain()
        except _Interrupted:
            log.info("stopped with %d events not yet acknowledged", self.unsent)

    def run(self, stop: threading.Event, duration: float | None = None) -> None:
        """Push the initial state if not done yet, then live traffic at ``rate`` events/s.

        Returns when ``stop`` is set, or after ``duration`` seconds of traffic once everything
        generated is acknowledged. Raises :class:`PushError` on a failure resending cannot fix.
        """
        self._halt = stop
        try:
            if self._known is None:
                self.push_initial()
            started = last = time.monotonic()
            due = 0.0
            while not stop.is_set():
                self.flush()
                now = time.monotonic()
                if duration is not None and now - started >= duration:
                    break
                wait = self.batch_interval
                if duration is not None:
                    wait = min(wait, started + duration - now)
                if stop.wait(max(wait, 0.0)):
                    break
                now = time.monotonic()
                due += self.rate * (now - last)
                last = now
                count = int(due)
                due -= count
                # After a long outage do not flood the connector; what a PBX never generated
                # cannot be lost.
                # Changes others made to the PBX happened first; ours during generation last.
                events = self._pbx_changes()
                events += self._generate(min(count, MAX_BATCH))
                events += self._pbx_changes()
                self._enqueue(events)
            self.flush()
        finally:
            self._halt = self._stop_event

    def start(self) -> None:
        """Run :meth:`run` in a daemon thread until :meth:`stop`."""
        if self.running:
            raise RuntimeError("the pusher is already running")
        if self._closed:
            raise RuntimeError("the pusher is closed")
        self._stop_event.clear()
        self.error = None
        self._thread = threading.Thread(
            target=self._run_in_background, name="starface-event-pusher", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Ask the background thread to finish and wait for it.

        ``timeout`` defaults to the request timeout plus a second, enough for a batch in flight.
        A failure of the thread is in :attr:`error`; unacknowledged events in :attr:`unsent`.
        """
        self._stop_event.set()
        thread = self._thread
        if thread is not None:
            thread.join(self.timeout + 1.0 if timeout is None else timeout)
            if thread.is_alive():
                log.warning("event pusher thread did not stop within the timeout")

    def close(self) -> None:
        """Stop, end the connector session (DELETE) and release the HTTP connections."""
        if self._closed:
            return
        self.stop()
        if self.unsent:
            log.warning("closing with %d events the connector never acknowledged", self.unsent)
        if self._session_id is not None:
            try:
                self._http.delete(SESSION_PATH, headers={"X-Session-Id": self._session_id})
            except httpx.HTTPError as exc:  # the session then simply expires on its own
                log.info("could not end the connector session: %s", exc)
            self._session_id = None
        self._http.close()
        self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ traffic
    def _run_in_background(self) -> None:
        try:
            self.run(self._stop_event)
        except BaseException as exc:  # kept for the owner; a daemon thread cannot raise
            self.error = exc
            log.exception("event pusher stopped by an error")

    def _generate(self, count: int) -> list[Event]:
        """``count`` live events: mostly phone cycles, some logins/logouts, rare PBX changes."""
        events: list[Event] = []
        for _ in range(count):
            roll = self._rng.random()
            if roll < _PBX_CHANGE_SHARE:
                self._mutate_pbx()  # its USER_UPDATE/GROUP_UPDATE come from _pbx_changes
                continue
            event = None
            if roll < _PBX_CHANGE_SHARE + _LOGIN_SHARE:
                event = self._login_event()
            if event is None:
                event = self._phone_event()
            if event is not None:
                events.append(event)
        return events

    def _phone_event(self) -> Event | None:
        with self._state_lock:
            if not self._logins:
                return None
            login = self._rng.choice(self._logins)
            status = next_phone_status(self._phone.get(login, "OFFLINE"), self._rng)
            self._phone[login] = status
            return phone_status_event(login, status, occurred_at=self._clock.now())

    def _login_event(self) -> Event | None:
        """Toggle the login of a group member; agents on a call do not log out mid-call."""
        with self._state_lock:
            if not self._members:
                return None
            login = self._rng.choice(self._members)
            if self._phone.get(login) in ("RINGING", "BUSY"):
                return None
            status: LoginStatus = (
                "LOGGED_OUT" if self._login.get(login) == "LOGGED_IN" else "LOGGED_IN"
            )
            self._login[login] = status
            return user_status_event(login, status, occurred_at=self._clock.now())

    def _mutate_pbx(self) -> None:
        """Change the PBX as an administrator would: mail, language, numbers, groups, users.

        Works from the last snapshot, which another thread's mutation may have outdated; such
        a change is skipped, the next one will do.
        """
        snapshot = self._known
        if snapshot is None or not snapshot.users:
            return
        user = self._rng.choice(snapshot.users)
        kind = self._rng.random()
        room = self._initial_user_count + max(5, self._initial_user_count // 10)
        try:
            if kind < 0.5:
                local = user.email.split("@", 1)[0] or user.login
                domains = [d for d in _MAIL_DOMAINS if not user.email.endswith("@" + d)]
                self.pbx.update_user(user.id, email=f"{local}@{self._rng.choice(domains)}")
            elif kind < 0.7:
                languages = [lang for lang in _LANGUAGES if lang != user.language]
                self.pbx.update_user(user.id, language=self._rng.choice(languages))
            elif kind < 0.85:
                internal = [n for n in user.phone_numbers if not n.startswith("+")]
                external = f"+49 721 {self._rng.randint(100000, 999999)}"
                self.pbx.update_user(user.id, phone_numbers=[*internal, external])
            elif kind < 0.95 and snapshot.groups:
                group = self._rng.choice(snapshot.groups)
                members = {self.pbx.user_id_for_login(m) for m in group.member_logins}
                self.pbx.set_group_members(group.id, members ^ {user.id})  # join or leave
            elif len(snapshot.users) < room:
                self.pbx.add_user(
                    first_name=self._rng.choice(_NEW_FIRST_NAMES),
                    family_name=self._rng.choice(_NEW_FAMILY_NAMES),
                    language=self._rng.choice(_LANGUAGES),
                )
        except (KeyError, ValueError) as exc:
            log.debug("skipped a PBX change on outdated state: %r", exc)

    def _pbx_changes(self) -> list[Event]:
        """Events for whatever changed on the PBX since the last push (ours or anyone's)."""
        if self._known is None or self.pbx.version == self._known_version:
            return []
        before = self._known
        after = self._take_snapshot()
        old_users = before.user_by_login()
        new_users = after.user_by_login()
        events = [
            user_update_event(user, occurred_at=self._clock.now())
            for login, user in new_users.items()
            if old_users.get(login) != user
        ]
        events += [
            user_delete_event(login, occurred_at=self._clock.now())
            for login in old_users.keys() - new_users.keys()
        ]
        old_groups = {g.id: g for g in before.groups}
        events += [
            group_update_event(group, occurred_at=self._clock.now())
            for group in after.groups
            if old_groups.get(group.id) != group
        ]
        # The contract has no group deletion; a removed group is simply no longer updated.
        with self._state_lock:
            for login in old_users.keys() - new_users.keys():
                self._phone.pop(login, None)
                self._login.pop(login, None)
            for login in new_users.keys() - old_users.keys():
                self._phone.setdefault(login, "OFFLINE")
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

    # ------------------------------------------------------------------ transport
    def _enqueue(self, events: Sequence[Event]) -> None:
        self.generated += len(events)
        for start in range(0, len(events), MAX_BATCH):
            self._backlog.append(list(events[start : start + MAX_BATCH]))

    def _drain(self) -> None:
        while self._backlog:
            batch = self._backlog[0]
            results = self._post_batch(batch)
            self._backlog.popleft()  # only now is the batch safe on the connector
            self._count(batch, results)

    def _count(self, batch: list[Event], results: list[dict[str, Any]]) -> None:
        self.batches += 1
        self.sent += len(batch)
        for result in results:
            outcome = str(result.get("outcome"))
            self.outcomes[outcome] += 1
            if outcome == "rejected":
                log.warning(
                    "connector rejected %s: %s", result.get("eventId"), result.get("reason")
                )

    def _post_batch(self, batch: list[Event]) -> list[dict[str, Any]]:
        """POST one batch until the connector acknowledges it; same events on every attempt."""
        failures = 0
        renewals = 0
        while True:
            session_id = self._session_id or self._open_session()
            retry_after: float | None = None
            try:
                response = self._http.post(
                    EVENTS_PATH, json={"events": batch}, headers={"X-Session-Id": session_id}
                )
            except httpx.TransportError as exc:  # connect, read, write, timeout, protocol
                problem = f"{type(exc).__name__}: {exc}"
            else:
                status = response.status_code
                if status == 200:
                    return self._results(batch, response)
                if status == 401:
                    renewals += 1
                    if renewals > _MAX_RENEWALS_PER_BATCH:
                        raise PushError(f"connector keeps refusing new sessions: {response.text}")
                    self._session_id = None  # expired or ended: open a new one and resend
                    continue
                if status < 500 and status not in _RETRYABLE_4XX:
                    raise PushError(f"connector refused a batch: HTTP {status}: {response.text}")
                problem = f"HTTP {status}"
                retry_after = _retry_after(response)
            failures += 1
            self.retries += 1
            log.info("batch of %d events failed (%s), retry %d", len(batch), problem, failures)
            self._backoff(failures, retry_after)

    def _results(self, batch: list[Event], response: httpx.Response) -> list[dict[str, Any]]:
        try:
            results = response.json()["results"]
        except (ValueError, KeyError, TypeError) as exc:
            raise PushError(f"connector answered 200 without results: {response.text}") from exc
        sent_ids = [event["eventId"] for event in batch]
        got_ids = [r.get("eventId") if isinstance(r, dict) else None for r in results]
        if got_ids != sent_ids:
            raise PushError("connector results do not match the batch's events in order")
        return list(results)

    def _open_session(self) -> str:
        """Open a module session; transient failures are retried like batches."""
        failures = 0
        while True:
            retry_after: float | None = None
            try:
                response = self._http.post(
                    SESSION_PATH,
                    json={"login": self.module_login, "password": self.module_password},
                )
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    try:
                        session_id = str(response.json()["sessionId"])
                    except (ValueError, KeyError, TypeError) as exc:
                        raise PushError(f"no sessionId in the answer: {response.text}") from exc
                    if self._sessions_opened:
                        self.session_renewals += 1
                    self._sessions_opened += 1
                    self._session_id = session_id
                    return session_id
                if response.status_code == 401:
                    raise PushError(f"module login {self.module_login!r} refused by the connector")
                if response.status_code < 500 and response.status_code not in _RETRYABLE_4XX:
                    raise PushError(
                        f"connector refused the session: HTTP {response.status_code}: "
                        f"{response.text}"
                    )
                problem = f"HTTP {response.status_code}"
                retry_after = _retry_after(response)
            failures += 1
            self.retries += 1
            log.info("opening a session failed (%s), retry %d", problem, failures)
            self._backoff(failures, retry_after)

    def _backoff(self, failures: int, retry_after: float | None) -> None:
        """Wait ``base * 2**(n-1)`` (capped), half of it jittered, or as ``Retry-After`` says.

        Jitter keeps many modules that failed together from retrying in lockstep. Raises
        :class:`_Interrupted` if stop is requested meanwhile.
        """
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (failures - 1))
        delay = ceiling / 2 + self._jitter.uniform(0, ceiling / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max))
        if self._halt.wait(delay):
            raise _Interrupted


def _retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds, if the header holds a number."""
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None
