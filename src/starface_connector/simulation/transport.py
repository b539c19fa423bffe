"""The STARFACE module's side of the connector contract, simulated: an event pusher.

A real STARFACE module opens a session on the connector, pushes every user and group once, and
then reports what happens on the PBX. :class:`EventPusher` does the same for a
:class:`~.state.SimulatedPbx` (the events come from :class:`~.traffic.TrafficModel`), so demos
show live traffic and tests exercise the connector through its real HTTP contract
(``/starface/v1``).

It is deliberately a well-behaved client, because the connector's guarantees rest on that:

* every event gets a unique ``eventId`` and a strictly increasing ``occurredAt`` (UTC,
  microseconds; see :class:`~.traffic.EventClock`), so the connector's ordering rules never
  see two events of one user tie;
* a batch that failed (connection error, timeout, 5xx) is sent again with the *same* events and
  ids, after an exponential backoff with jitter, so the connector's idempotency deduplicates it;
* an expired session (401) is renewed and the batch resent at once;
* an event is dropped only from the backlog when the connector acknowledged it; whatever is
  still unacknowledged when the pusher is stopped stays in :attr:`EventPusher.unsent`;
* after a gap (a renewed session, or events it had to drop) it resyncs: every user's current
  login and phone state, marked ``resync``, sent after whatever was still queued.

Waiting (backoff and the pacing of live traffic) goes through a :class:`~.clock.Clock`, so
tests can run the pusher on virtual time.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import Counter, deque
from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import httpx

from ..domain.model import LoginStatus, PhoneStatus
from .clock import Clock, SystemClock, utc_now
from .state import SimulatedPbx
from .traffic import TrafficModel
from .wire import WireEvent

__all__ = [
    "EVENTS_PATH",
    "MAX_BATCH",
    "SESSION_PATH",
    "EventPusher",
    "PushError",
]

log = logging.getLogger(__name__)

#: The connector accepts 1 to 1000 events per request.
MAX_BATCH = 1000
SESSION_PATH = "/starface/v1/session"
EVENTS_PATH = "/starface/v1/events"

# A 401 right after a fresh session means something else is wrong: give up after this many.
_MAX_RENEWALS_PER_BATCH = 3
_RETRYABLE_4XX = frozenset({408, 425, 429})

#: One entry of the connector's ``results``: JSON, so untyped.
_Result = dict[str, Any]


class PushError(RuntimeError):
    """The connector refused something that resending cannot fix (credentials, contract)."""


class _Interrupted(Exception):
    """Stop was requested while waiting to retry; the batch stays in the backlog."""


class EventPusher:
    """Pushes a simulated PBX's events to a connector, like the STARFACE module does.

    Not thread-safe by itself: drive it either with :meth:`run` in one thread or with
    :meth:`start`/:meth:`stop`. The counters are plain attributes, safe to read from another
    thread: ``sent`` (events acknowledged), ``batches`` (requests acknowledged), ``retries``
    (resends after a transient failure), ``session_renewals`` (sessions opened after the
    first), ``outcomes`` (acknowledged events per outcome) and ``generated`` (events made).

    ``clock`` paces the live traffic and the backoff (default: the real clock); ``now`` is the
    wall clock the events' ``occurredAt`` come from.
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
        clock: Clock | None = None,
        now: Callable[[], datetime] = utc_now,
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
        self._traffic = TrafficModel(pbx, seed=seed, now=now)
        self._jitter = random.Random(seed ^ 0x5EED)
        self._clock: Clock = clock or SystemClock()
        self._http = httpx.Client(base_url=self.connector_url, timeout=timeout)
        self._session_id: str | None = None
        self._sessions_opened = 0
        self._needs_resync = False
        #: resync batches sent (each all users' login and phone states)
        self.resyncs = 0
        self._backlog: deque[list[WireEvent]] = deque()
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
        return self._traffic.phone_states()

    def login_states(self) -> dict[str, LoginStatus]:
        """Per login, the login status of the last USER_STATUS generated (LOGGED_OUT before)."""
        return self._traffic.login_states()

    def generate(self, count: int) -> None:
        """Draw ``count`` draws of live traffic into the backlog without sending them (the PBX
        goes on while the connector cannot be reached)."""
        self._enqueue(self._traffic.live_events(count))

    def drop_unsent(self) -> int:
        """Forget the events the connector never acknowledged, as a module whose buffer ran
        out does, and resync at the next delivery; returns how many were dropped."""
        dropped = self.unsent
        self._backlog.clear()
        self._needs_resync = True
        return dropped

    def push_initial(self) -> None:
        """Send USER_UPDATE for every PBX user, then GROUP_UPDATE for every group.

        This is what the module does when it is installed: afterwards the connector knows the
        whole PBX, and live changes are sent as differences to this state.
        """
        self._enqueue(self._traffic.initial_events())
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
        clock = self._clock
        try:
            if not self._traffic.started:
                self.push_initial()
            started = last = clock.monotonic()
            due = 0.0
            while not stop.is_set():
                self.flush()
                now = clock.monotonic()
                if duration is not None and now - started >= duration:
                    break
                wait = self.batch_interval
                if duration is not None:
                    wait = min(wait, started + duration - now)
                if clock.wait(stop, max(wait, 0.0)):
                    break
                now = clock.monotonic()
                due += self.rate * (now - last)
                last = now
                count = int(due)
                due -= count
                # After a long outage do not flood the connector; what a PBX never generated
                # cannot be lost.
                self._enqueue(self._traffic.live_events(min(count, MAX_BATCH)))
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

    def _run_in_background(self) -> None:
        try:
            self.run(self._stop_event)
        except BaseException as exc:  # kept for the owner; a daemon thread cannot raise
            self.error = exc
            log.exception("event pusher stopped by an error")

    # ------------------------------------------------------------------ transport
    def _enqueue(self, events: Sequence[WireEvent]) -> None:
        self.generated += len(events)
        for start in range(0, len(events), MAX_BATCH):
            self._backlog.append(list(events[start : start + MAX_BATCH]))

    def _drain(self) -> None:
        while True:
            while self._backlog:
                batch = self._backlog[0]
                results = self._post_batch(batch)
                self._backlog.popleft()  # only now is the batch safe on the connector
                self._count(batch, results)
            if not (self._needs_resync and self._traffic.started):
                return
            # After everything queued: the states held now, so nothing missed stays wrong.
            self._needs_resync = False
            self.resyncs += 1
            self._enqueue(self._traffic.resync_events())

    def _count(self, batch: list[WireEvent], results: list[_Result]) -> None:
        self.batches += 1
        self.sent += len(batch)
        for result in results:
            outcome = str(result.get("outcome"))
            self.outcomes[outcome] += 1
            if outcome == "rejected":
                log.warning(
                    "connector rejected %s: %s", result.get("eventId"), result.get("reason")
                )

    def _post_batch(self, batch: list[WireEvent]) -> list[_Result]:
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

    def _results(self, batch: list[WireEvent], response: httpx.Response) -> list[_Result]:
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
                        self._needs_resync = True  # the connector may have missed events
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
        if self._clock.wait(self._halt, delay):
            raise _Interrupted


def _retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds, if the header holds a number."""
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None
