"""Run-time state of one simulator app: sessions, fault injection, latency and counters."""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["ACCOUNT_ID", "Fault", "SimulatorControl", "compute_internal_secret"]

#: Unused nonces kept at most; older ones are forgotten.
_MAX_NONCES = 10_000
#: A session token lives this long, as on STARFACE (4 hours).
TOKEN_LIFETIME = 4 * 3600.0
#: User id of the REST account; it is no generated user and not listed by ``GET /users``.
ACCOUNT_ID = 1
#: Statuses an injected fault answers with: those a client may retry (500 is not one).
TRANSIENT_FAULTS = (502, 503, 504)


@dataclass(frozen=True)
class Fault:
    """A scripted failure for the next matching request (``key`` like "GET /groups/{groupid}",
    or None for any request)."""

    status: int
    key: str | None = None
    retry_after: str | None = None
    message: str = "simulated fault"


def compute_internal_secret(login: str, nonce: str, password: str) -> str:
    """The ``Internal`` login secret: ``login:SHA512hex(login + nonce + SHA512hex(password))``."""
    pw_hash = hashlib.sha512(password.encode("utf-8")).hexdigest()
    digest = hashlib.sha512(f"{login}{nonce}{pw_hash}".encode()).hexdigest()
    return f"{login}:{digest}"


class SimulatorControl:
    """Run-time state of one simulator app: sessions, fault injection and request counters.

    Reachable as ``app.state.control``; tests use it to revoke tokens or to check how many
    requests of which kind a client made.
    """

    def __init__(
        self,
        *,
        login: str,
        password: str,
        error_rate: float,
        latency: float,
        seed: int,
        list_unassigned_users: bool,
        token_lifetime: float = TOKEN_LIFETIME,
        login_type: str = "Internal",
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError("error_rate must be between 0 and 1")
        if latency < 0:
            raise ValueError("latency must not be negative")
        self.login = login
        self.password = password
        self.error_rate = error_rate
        self.latency = latency
        self.list_unassigned_users = list_unassigned_users
        #: Seconds a token lives after its login; tokens then expire (401).
        self.token_lifetime = token_lifetime
        #: ``loginType`` of ``GET /login`` (a PBX may spell it ``INTERNAL``).
        self.login_type = login_type
        #: Whether the REST account holds the administration permission. Without it,
        #: ``GET /users`` lists only the users it "can access": every second one.
        self.account_admin = True
        #: Field overrides per user id, served in ``GET /users`` as a broken record would be.
        self.broken_users: dict[int, dict[str, Any]] = {}
        self._monotonic = monotonic
        self._faults: deque[Fault] = deque()
        #: called with each request's key before it is answered (tests change the PBX there,
        #: e.g. delete a group between its listing and its details)
        self.on_request: Callable[[str], object] | None = None
        #: When False every token is refused (to test clients that cannot recover).
        self.accept_tokens = True
        self.requests: Counter[str] = Counter()
        self.api_versions: Counter[str] = Counter()
        self.faults_injected = 0
        self.logins_succeeded = 0
        self.logins_failed = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._tokens: dict[str, float] = {}  # token -> when it expires
        self._nonces: OrderedDict[str, bool] = OrderedDict()

    # sessions ---------------------------------------------------------------
    def new_nonce(self) -> str:
        """Hand out a single-use nonce; old unused ones are forgotten past 10,000."""
        nonce = secrets.token_hex(16)
        with self._lock:
            self._nonces[nonce] = True
            while len(self._nonces) > _MAX_NONCES:
                self._nonces.popitem(last=False)
        return nonce

    def try_login(self, login_type: object, nonce: object, secret: object) -> str | None:
        """Check a login (consuming the nonce); return a new token or None.

        The arguments are the untyped values of the JSON body; anything but strings fails.
        """
        if not (isinstance(login_type, str) and isinstance(nonce, str) and isinstance(secret, str)):
            return None
        with self._lock:
            nonce_known = self._nonces.pop(nonce, False)
        expected = compute_internal_secret(self.login, nonce, self.password)
        ok = (
            nonce_known
            and login_type.casefold() == self.login_type.casefold() == "internal"
            and hmac.compare_digest(secret.encode(), expected.encode())
        )
        with self._lock:
            if not ok:
                self.logins_failed += 1
                return None
            token = secrets.token_hex(32)
            self._tokens[token] = self._monotonic() + self.token_lifetime
            self.logins_succeeded += 1
            return token

    def token_valid(self, token: str | None) -> bool:
        """True if the token was issued, is not revoked and has not expired (and tokens are
        accepted at all)."""
        with self._lock:
            if not self.accept_tokens or token is None or token not in self._tokens:
                return False
            if self._monotonic() >= self._tokens[token]:
                del self._tokens[token]
                return False
            return True

    def logout(self, token: str) -> None:
        """Invalidate one token."""
        with self._lock:
            self._tokens.pop(token, None)

    def invalidate_tokens(self) -> None:
        """Forget all sessions, as a PBX restart or session timeout would."""
        with self._lock:
            self._tokens.clear()

    @property
    def active_sessions(self) -> int:
        """Number of tokens currently valid."""
        with self._lock:
            return len(self._tokens)

    # faults and counters ----------------------------------------------------
    def fail_next(self, *faults: Fault) -> None:
        """Script failures: each answers the next request it matches, once, in order."""
        with self._lock:
            self._faults.extend(faults)

    def draw_fault(self, key: str) -> Fault | None:
        """A scripted fault for this request, or one drawn with the seeded RNG at
        ``error_rate`` (502, 503 or 504: the failures that pass on retry)."""
        with self._lock:
            for fault in self._faults:
                if fault.key in (None, key):
                    self._faults.remove(fault)
                    self.faults_injected += 1
                    return fault
            if self.error_rate <= 0 or self._rng.random() >= self.error_rate:
                return None
            self.faults_injected += 1
            return Fault(self._rng.choice(TRANSIENT_FAULTS))

    def enter(self, key: str, version: str | None) -> None:
        """Count a request and track concurrency."""
        with self._lock:
            self.requests[key] += 1
            self.api_versions[version or "-"] += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        if self.on_request is not None:
            self.on_request(key)

    def leave(self) -> None:
        """Mark a request finished."""
        with self._lock:
            self.in_flight -= 1
