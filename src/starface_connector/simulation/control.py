"""Run-time state of one simulator app: sessions, fault injection, latency and counters."""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
import threading
from collections import Counter, OrderedDict

__all__ = ["SimulatorControl", "compute_internal_secret"]

#: Unused nonces kept at most; older ones are forgotten.
_MAX_NONCES = 10_000


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
        self._tokens: dict[str, str] = {}
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
            and login_type == "Internal"
            and hmac.compare_digest(secret.encode(), expected.encode())
        )
        with self._lock:
            if not ok:
                self.logins_failed += 1
                return None
            token = secrets.token_hex(32)
            self._tokens[token] = self.login
            self.logins_succeeded += 1
            return token

    def token_valid(self, token: str | None) -> bool:
        """True if the token was issued and not revoked (and tokens are accepted at all)."""
        with self._lock:
            return self.accept_tokens and token is not None and token in self._tokens

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
    def draw_fault(self) -> int | None:
        """Decide with the seeded RNG whether this request fails, and with which status."""
        if self.error_rate <= 0:
            return None
        with self._lock:
            if self._rng.random() >= self.error_rate:
                return None
            self.faults_injected += 1
            return self._rng.choice((500, 503))

    def enter(self, key: str, version: str | None) -> None:
        """Count a request and track concurrency."""
        with self._lock:
            self.requests[key] += 1
            self.api_versions[version or "-"] += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        """Mark a request finished."""
        with self._lock:
            self.in_flight -= 1
