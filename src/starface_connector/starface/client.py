"""HTTP client for the STARFACE REST API (specification 6.7.0.22).

It does what the connector needs: the nonce login, reading users, groups, permissions and
phone numbers, and assembling them into a :class:`PbxSnapshot`. Failures become one of the
exceptions in :mod:`starface_connector.starface.errors` with a one-line message.

How a snapshot is derived from the specification, with as few requests as possible:

* users: ``GET /users`` (one request for all users). It lists "the users the current user
  can access", so the REST account's own rights are read first (``GET /users/me``, then
  ``GET /permissions/users/{userId}``): without the administration permission the list may be
  partial, and the snapshot says so (``PbxSnapshot.incomplete``: the import deletes nobody).
  A user record that cannot be read is skipped and reported, the others are kept; an empty
  or missing (null) ``email``, ``language`` or name is read as empty text.
* admin flag: ``GET /permissions`` lists ``PermissionInfo`` objects; the one whose
  ``permission`` name is the configured one (``administration`` by default) is the
  administration permission, and ``GET /permissions/{permissionId}/users`` returns the users
  holding it.
* phone numbers: ``GET /phonenumbers?assigned=true`` returns every assigned ``PhoneNumber``;
  ``assignedUserAccountId`` is the account id of the owning user, and the specification uses
  "account id" and user id interchangeably ("the user with the given account id {userId}"), so
  it is matched against ``User.id``. A user's numbers are sorted; each is :func:`dialable`:
  an internal number is its extension, an external one is built from its parts. This
  replaces one ``/users/{userId}/phonenumberconfig/phonenumbers/`` request per user, whose
  ``PhoneNumberAssignment`` objects only carry number ids anyway.
* groups: ``GET /groups`` for the ids, then ``GET /groups/{groupid}`` per group (fanned out
  with bounded concurrency); members are the ``assignableUsers`` with ``assigned: true``. The
  specification documents only 500 for a group's details: after one, the group list is read
  again; a group no longer listed was deleted meanwhile and is left out (``groups_gone``), one
  still listed is skipped as unreadable.
* time: the snapshot carries the PBX's own clock, the earliest ``Date`` header of the
  listings, so imported data is dated in the same time as the module's live events.

Only what can pass on retry is retried, with exponential backoff and jitter: connection
errors and timeouts, 502, 503 and 504, and 429 when it says ``Retry-After``. A 500 from
STARFACE is usually permanent and is reported at once, with the ``{code, message}`` the PBX
sent. An HTTP 401 triggers one fresh login and one more try.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import itertools
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, TypeGuard, TypeVar

import httpx

from ..domain.pbx import PbxGroup, PbxSnapshot, PbxUser, SkippedRecord
from .errors import (
    StarfaceAuthError,
    StarfaceError,
    StarfaceProtocolError,
    StarfaceUnreachable,
)

__all__ = [
    "API_VERSION",
    "DEFAULT_ADMIN_PERMISSION",
    "StarfaceClient",
    "compute_secret",
    "dialable",
    "normalise_fingerprint",
]

log = logging.getLogger(__name__)

#: Sent as ``X-Version`` with every request.
API_VERSION = "2"
#: ``PermissionInfo.permission`` name of the administration permission.
DEFAULT_ADMIN_PERMISSION = "administration"
_MAX_BACKOFF = 10.0
#: The longest ``Retry-After`` honoured; a PBX asking for more is given up on.
_MAX_RETRY_AFTER = 60.0
_RETRIED_STATUSES = frozenset({502, 503, 504})
_T = TypeVar("_T")


def compute_secret(login_type: str, login: str, nonce: str, password: str) -> str:
    """Login secret as the specification defines it for ``POST /login``.

    ``Internal``: ``<login>:SHA512hex(<login><nonce>SHA512hex(<password>))``;
    ``ActiveDirectory``: ``BASE64(<login><nonce><password>)``. The type is matched without
    regard to case or underscores: the spec's examples say ``Internal``, its text
    ``INTERNAL`` and ``ACTIVE_DIRECTORY``.
    """
    kind = login_type.replace("_", "").casefold()
    if kind == "internal":
        pw_hash = hashlib.sha512(password.encode("utf-8")).hexdigest()
        digest = hashlib.sha512(f"{login}{nonce}{pw_hash}".encode()).hexdigest()
        return f"{login}:{digest}"
    if kind == "activedirectory":
        return base64.b64encode(f"{login}{nonce}{password}".encode()).decode("ascii")
    raise StarfaceProtocolError(f"STARFACE asks for unknown login type {login_type!r}")


def dialable(item: dict[str, Any]) -> str:
    """The number of a spec ``PhoneNumber`` as jtel keeps it.

    An ``INTERNAL`` number is its extension (``number``). An external one with a
    ``nationalPrefix`` (the country code) is written internationally, which dials from
    anywhere: ``+<nationalPrefix> <localPrefix> <number>``; the ``exitCode`` ("00") is what
    "+" stands for, and a trunk "0" before the local prefix is dropped. Without a country code
    the parts are joined as the PBX gives them: ``<exitCode> <localPrefix> <number>``.
    """
    number = _text(item.get("number"))
    if item.get("type") == "INTERNAL":
        return number
    exit_code, local = _text(item.get("exitCode")), _text(item.get("localPrefix"))
    country = _text(item.get("nationalPrefix")).lstrip("+")
    if country.startswith("00"):
        country = country[2:]
    if country:
        return " ".join(p for p in (f"+{country}", local.lstrip("0"), number) if p.strip("+"))
    return " ".join(p for p in (exit_code, local, number) if p)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def normalise_fingerprint(text: str) -> str:
    """A SHA-256 fingerprint as 64 lower-case hex digits ("AB:CD:..." accepted); ValueError
    if it is none."""
    digits = text.replace(":", "").replace(" ", "").strip().lower()
    if len(digits) != 64 or any(c not in "0123456789abcdef" for c in digits):
        raise ValueError(
            f"{text!r} is no SHA-256 fingerprint (64 hex digits, e.g. as "
            "openssl x509 -noout -fingerprint -sha256 prints it)"
        )
    return digits


class _Transient(Exception):
    """A failure worth retrying; carries the error to raise once retries are used up."""

    def __init__(
        self, error: StarfaceError, *, answered: bool = False, wait: float | None = None
    ) -> None:
        super().__init__(str(error))
        self.error = error
        #: The PBX answered (502/503/504/429): it is up, so it gets a larger retry budget.
        self.answered = answered
        #: At least this long before the next try (``Retry-After``).
        self.wait = wait


class _GroupUnreadable(Exception):
    """A group's details could not be read (HTTP 500 or 404): is it gone, or broken?"""


def _error_detail(response: httpx.Response) -> str:
    """``: message (code X)`` from an error body ``{code, message}``, or ""."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    message, code = body.get("message"), body.get("code")
    parts = []
    if isinstance(message, str) and message.strip():
        parts.append(" ".join(message.split())[:300])
    if isinstance(code, str | int) and not isinstance(code, bool) and str(code).strip():
        parts.append(f"(code {str(code).strip()[:60]})")
    return ": " + " ".join(parts) if parts else ""


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after", "").strip()
    if raw.isdigit():
        return float(raw)
    try:
        moment = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _pbx_time(response: httpx.Response) -> datetime | None:
    try:
        moment = parsedate_to_datetime(response.headers.get("date", ""))
    except (TypeError, ValueError, IndexError):
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else None


def _pinned_context(fingerprint: str) -> ssl.SSLContext:
    """A TLS context that trusts exactly the certificate with this SHA-256 fingerprint.

    The chain and the name are not checked (an appliance's self-signed certificate has
    neither); the fingerprint is compared right after the handshake, before any request
    is sent on the connection.
    """
    expected = normalise_fingerprint(fingerprint)

    class PinnedSocket(ssl.SSLSocket):
        def do_handshake(self, block: bool = False) -> None:
            super().do_handshake(block)
            der = self.getpeercert(binary_form=True) or b""
            seen = hashlib.sha256(der).hexdigest()
            if not hmac.compare_digest(seen, expected):
                self.close()
                error = ssl.SSLCertVerificationError(
                    f"certificate fingerprint SHA256 {seen} is not the pinned {expected}"
                )
                error.verify_message = str(error)
                raise error

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.sslsocket_class = PinnedSocket
    return context


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _cert_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """Find a certificate verification failure in an exception chain."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


class StarfaceClient:
    """Synchronous STARFACE REST client; safe to share between threads.

    ``base_url`` is the PBX address with or without the ``/rest`` suffix. ``verify`` is True
    (system CAs), False (no TLS verification; only for labs) or the path of a CA bundle (for
    it, Python's strict X.509 checks, on by default from 3.13, are off: appliance certificates
    often fail them). ``fingerprint`` pins the PBX's certificate by its SHA-256 instead.
    ``retries`` is the number of extra attempts when the PBX cannot be reached (twice as many
    when it answers 5xx: it is up, just failing now and then), waiting about
    ``backoff_base * 2**attempt`` seconds (with jitter) in between. ``concurrency`` bounds the
    parallel group requests of :meth:`fetch_snapshot`. The session is opened lazily on the
    first request and closed by :meth:`logout` or when leaving the ``with`` block.
    """

    def __init__(
        self,
        base_url: str,
        login: str,
        password: str,
        *,
        timeout: float = 10.0,
        verify: bool | str = True,
        retries: int = 4,
        backoff_base: float = 0.2,
        concurrency: int = 8,
        admin_permission: str = DEFAULT_ADMIN_PERMISSION,
        fingerprint: str | None = None,
    ) -> None:
        if retries < 0 or backoff_base < 0 or timeout <= 0 or concurrency < 1:
            raise ValueError("retries/backoff_base must be >= 0, timeout > 0, concurrency >= 1")
        self.base_url = self._normalise_url(base_url)
        self.login_id = login
        self._password = password
        self._timeout = timeout
        self._retries = retries
        self._backoff_base = backoff_base
        self._concurrency = concurrency
        self._admin_permission = admin_permission
        self._token: str | None = None
        self._token_lock = threading.Lock()
        self._jitter = random.Random()
        self._dates: list[datetime] | None = None  # PBX times seen while taking a snapshot
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout),
            verify=self._tls_setting(verify, fingerprint),
            headers={"X-Version": API_VERSION, "Accept": "application/json"},
            limits=httpx.Limits(
                max_connections=concurrency + 2, max_keepalive_connections=concurrency + 2
            ),
            follow_redirects=False,
        )

    # ----------------------------------------------------------------- setup
    @staticmethod
    def _normalise_url(base_url: str) -> str:
        """Accept ``https://pbx`` and ``https://pbx/rest`` alike; refuse anything else early."""
        try:
            url = httpx.URL(base_url.strip())
        except (httpx.InvalidURL, TypeError) as exc:
            raise StarfaceUnreachable(f"invalid STARFACE URL {base_url!r}: {exc}") from exc
        if url.scheme not in ("http", "https") or not url.host:
            raise StarfaceUnreachable(
                f"invalid STARFACE URL {base_url!r}: expected http(s)://host[:port][/rest]"
            )
        path = url.path.rstrip("/")
        if not path.endswith("/rest"):
            path += "/rest"
        return str(url.copy_with(path=path, query=None, fragment=None, username=None))

    @staticmethod
    def _tls_setting(verify: bool | str, fingerprint: str | None) -> bool | ssl.SSLContext:
        """httpx wants an SSLContext for custom CA bundles; build it with a clear error."""
        if fingerprint is not None:
            try:
                return _pinned_context(fingerprint)
            except ValueError as exc:
                raise StarfaceUnreachable(str(exc)) from exc
        if isinstance(verify, bool):
            return verify
        try:
            context = ssl.create_default_context(cafile=verify)
        except (OSError, ssl.SSLError) as exc:
            raise StarfaceUnreachable(f"cannot load CA bundle {verify!r}: {exc}") from exc
        # Python 3.13 made the default context strict (RFC 5280); the bundle was chosen by
        # the operator for an appliance whose self-signed certificate is rarely that strict.
        context.verify_flags &= ~ssl.VERIFY_X509_STRICT
        return context

    def __enter__(self) -> StarfaceClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """End the PBX session (best effort) and release connections."""
        try:
            self._logout(retry=False)  # one try: closing must not hang on a dead PBX
        except (StarfaceError, _Transient) as exc:
            log.debug("logout during close failed: %s", exc)
        finally:
            self._http.close()

    @property
    def token(self) -> str | None:
        """The current ``authToken``, None when logged out."""
        return self._token

    # ----------------------------------------------------------------- transport
    def _delay(self, attempt: int) -> float:
        """Exponential backoff with jitter (half fixed, half random) so clients spread out."""
        step = min(_MAX_BACKOFF, self._backoff_base * (2.0**attempt))
        return step / 2 + self._jitter.uniform(0, step / 2)

    def _retrying(self, operation: Callable[[], _T]) -> _T:
        """Run ``operation``, retrying transient failures with backoff."""
        for attempt in itertools.count():
            try:
                return operation()
            except _Transient as failure:
                budget = self._retries * 2 if failure.answered else self._retries
                if attempt >= budget:
                    suffix = f" (gave up after {attempt + 1} attempts)"
                    raise type(failure.error)(failure.error.message + suffix) from failure
                if failure.wait is not None and failure.wait > _MAX_RETRY_AFTER:
                    raise type(failure.error)(
                        f"{failure.error.message} (it asks to retry after "
                        f"{failure.wait:g} s; gave up)"
                    ) from failure
                log.debug("retrying after transient failure: %s", failure.error)
                time.sleep(max(self._delay(attempt), failure.wait or 0.0))
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(
        self,
        method: str,
        path: str,
        *,
        token: str | None,
        params: dict[str, str] | None = None,
        body: Any = None,
    ) -> httpx.Response:
        """One HTTP exchange; transport errors and 5xx become :class:`_Transient`."""
        headers = {"authToken": token} if token is not None else None
        where = f"STARFACE at {self.base_url}"
        try:
            response = self._http.request(method, path, params=params, json=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise _Transient(
                StarfaceUnreachable(
                    f"{where} did not answer {method} {path} in {self._timeout:g} s"
                )
            ) from exc
        except httpx.TransportError as exc:
            cert = _cert_error(exc)
            if cert is not None:
                raise StarfaceUnreachable(
                    f"TLS certificate of {where} could not be verified "
                    f"({cert.verify_message or cert}); pass its CA bundle "
                    "(--starface-ca-bundle) or pin it (--starface-cert-fingerprint)"
                ) from exc
            raise _Transient(
                StarfaceUnreachable(f"{where} is unreachable: {exc or type(exc).__name__}")
            ) from exc
        status = response.status_code
        if status in _RETRIED_STATUSES:
            raise _Transient(
                StarfaceUnreachable(
                    f"{where} answered {method} {path} with HTTP {status}{_error_detail(response)}"
                ),
                answered=True,
            )
        if status == 429:
            wait = _retry_after(response)
            if wait is not None:  # throttled, and told when to come back
                raise _Transient(
                    StarfaceUnreachable(
                        f"{where} answered {method} {path} with HTTP 429{_error_detail(response)}"
                    ),
                    answered=True,
                    wait=wait,
                )
        return response

    def _request(
        self, method: str, path: str, *, params: dict[str, str] | None = None
    ) -> httpx.Response:
        """Authenticated request with retries and one re-login on 401."""
        relogged = False
        while True:
            token = self._current_token()
            response = self._retrying(
                functools.partial(self._attempt, method, path, token=token, params=params)
            )
            if response.status_code == 401:
                if relogged:
                    raise StarfaceAuthError(
                        f"STARFACE at {self.base_url} refused the session of {self.login_id!r} "
                        f"for {method} {path} even after a fresh login"
                    )
                relogged = True
                log.info("STARFACE session expired; logging in again")
                self._relogin(token)
                continue
            if response.status_code == 403:
                raise StarfaceAuthError(
                    f"STARFACE login {self.login_id!r} is not allowed to {method} {path}"
                    + _error_detail(response)
                )
            if self._dates is not None:
                moment = _pbx_time(response)
                if moment is not None:
                    self._dates.append(moment)
            return response

    def _get_json(self, path: str, *, params: dict[str, str] | None = None) -> Any:
        """GET expecting HTTP 200 with a JSON body."""
        response = self._request("GET", path, params=params)
        return self._decode(response, "GET", path, expected=(200,))

    def _decode(
        self, response: httpx.Response, method: str, path: str, *, expected: Iterable[int]
    ) -> Any:
        if response.status_code not in tuple(expected):
            raise StarfaceProtocolError(
                f"STARFACE at {self.base_url} answered {method} {path} "
                f"with unexpected HTTP {response.status_code}{_error_detail(response)}"
            )
        try:
            return response.json()
        except ValueError as exc:
            raise StarfaceProtocolError(
                f"STARFACE at {self.base_url} answered {method} {path} with a body that is not JSON"
            ) from exc

    @staticmethod
    def _objects(data: Any, what: str) -> list[dict[str, Any]]:
        """Check that a body is a JSON array of objects."""
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise StarfaceProtocolError(f"STARFACE sent {what} that is not a list of objects")
        return data

    @staticmethod
    def _object(data: Any, what: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise StarfaceProtocolError(f"STARFACE sent {what} that is not a JSON object")
        return data

    # ----------------------------------------------------------------- session
    def _current_token(self) -> str:
        token = self._token
        if token is None:
            with self._token_lock:
                if self._token is None:
                    self._token = self._login_with_retries()
                token = self._token
        return token

    def _relogin(self, stale: str) -> None:
        """Replace a refused token, once even if several threads saw it refused."""
        with self._token_lock:
            if self._token in (stale, None):
                self._token = None
                self._token = self._login_with_retries()

    def login(self) -> str:
        """Open a new session now (normally done lazily) and return the token."""
        with self._token_lock:
            self._token = self._login_with_retries()
            return self._token

    def _login_with_retries(self) -> str:
        # The whole handshake is retried: a nonce is single-use, so a failed POST needs a new one.
        return self._retrying(self._login_handshake)

    def _login_handshake(self) -> str:
        # The nonce request is retried on its own, so a fault there does not cost a handshake.
        response = self._retrying(functools.partial(self._attempt, "GET", "/login", token=None))
        template = self._object(self._decode(response, "GET", "/login", expected=(200,)), "login")
        login_type, nonce = template.get("loginType"), template.get("nonce")
        if not isinstance(login_type, str) or not isinstance(nonce, str):
            raise StarfaceProtocolError("STARFACE login template lacks loginType or nonce")
        secret = compute_secret(login_type, self.login_id, nonce, self._password)
        body = {"loginType": login_type, "nonce": nonce, "secret": secret}
        response = self._attempt("POST", "/login", token=None, body=body)
        if response.status_code in (400, 401, 403):
            raise StarfaceAuthError(
                f"STARFACE at {self.base_url} rejected the login of {self.login_id!r}: "
                f"wrong login ID or password{_error_detail(response)}"
            )
        data = self._object(self._decode(response, "POST", "/login", expected=(200,)), "token")
        token = data.get("token")
        if not isinstance(token, str) or not token:
            raise StarfaceProtocolError("STARFACE accepted the login but sent no token")
        return token

    def logout(self) -> None:
        """End the session (``DELETE /login``); a no-op when not logged in."""
        self._logout(retry=True)

    def _logout(self, *, retry: bool) -> None:
        with self._token_lock:
            token, self._token = self._token, None
        if token is None:
            return
        call = functools.partial(self._attempt, "DELETE", "/login", token=token)
        response = self._retrying(call) if retry else call()
        if response.status_code not in (200, 204, 401):
            raise StarfaceProtocolError(
                f"STARFACE at {self.base_url} answered DELETE /login with unexpected "
                f"HTTP {response.status_code}"
            )

    # ----------------------------------------------------------------- endpoints
    def users(self, search_term: str | None = None) -> list[dict[str, Any]]:
        """``GET /users``: spec ``User`` objects, optionally filtered by ``searchTerm``."""
        params = {"searchTerm": search_term} if search_term else None
        return self._objects(self._get_json("/users", params=params), "the user list")

    def groups(self) -> list[dict[str, Any]]:
        """``GET /groups``: spec ``GroupListItem`` objects."""
        return self._objects(self._get_json("/groups"), "the group list")

    def permissions(self) -> list[dict[str, Any]]:
        """``GET /permissions``: spec ``PermissionInfo`` objects."""
        return self._objects(self._get_json("/permissions"), "the permission list")

    def users_with_permission(self, permission_id: int) -> list[dict[str, Any]]:
        """``GET /permissions/{permissionId}/users``: spec ``User`` objects."""
        path = f"/permissions/{int(permission_id)}/users"
        return self._objects(self._get_json(path), "the users of a permission")

    def admin_permission_id(self) -> int:
        """Id of the permission named like ``admin_permission`` (case-insensitive)."""
        wanted = self._admin_permission.strip().casefold()
        offered = []
        for info in self.permissions():
            name = info.get("permission")
            if isinstance(name, str):
                offered.append(name.strip())
                if name.strip().casefold() == wanted and _is_int(info.get("id")):
                    return int(info["id"])
        raise StarfaceProtocolError(
            f"STARFACE offers no permission named {self._admin_permission!r}, so "
            f"administrators cannot be determined; it offers: {', '.join(offered) or 'none'} "
            "(choose one with --starface-admin-permission)"
        )

    def account_rights(self) -> str:
        """Why ``GET /users`` may be partial for this REST account, or "" if it holds the
        administration permission (read from ``/users/me`` and its permissions)."""
        who = f"the REST account {self.login_id!r}"
        try:
            me = self._object(self._get_json("/users/me"), "the REST account")
            account_id = me.get("id")
            if not _is_int(account_id):
                return f"STARFACE did not say which user {who} is"
            path = f"/permissions/users/{int(account_id)}"
            names = [
                str(p.get("permission", "")).strip().casefold()
                for p in self._objects(self._get_json(path), "the REST account's permissions")
            ]
        except StarfaceProtocolError as exc:
            return f"the rights of {who} could not be read ({exc})"
        if self._admin_permission.strip().casefold() in names:
            return ""
        return (
            f"{who} lacks the {self._admin_permission!r} permission, so STARFACE may list only "
            "some users"
        )

    def admin_user_ids(self) -> set[int]:
        """Ids of the users holding the administration permission."""
        holders = self.users_with_permission(self.admin_permission_id())
        return {int(user["id"]) for user in holders if _is_int(user.get("id"))}

    def phone_numbers(
        self, *, number_type: str | None = None, assigned: bool | None = None
    ) -> list[dict[str, Any]]:
        """``GET /phonenumbers`` with the optional ``type`` and ``assigned`` filters."""
        params: dict[str, str] = {}
        if number_type is not None:
            params["type"] = number_type
        if assigned is not None:
            params["assigned"] = "true" if assigned else "false"
        return self._objects(
            self._get_json("/phonenumbers", params=params or None), "the phone number list"
        )

    def phone_numbers_by_user(self) -> dict[int, tuple[str, ...]]:
        """Sorted :func:`dialable` numbers per user id, from one
        ``GET /phonenumbers?assigned=true``; a number without its ``number`` is left out."""
        found: dict[int, list[str]] = {}
        for item in self.phone_numbers(assigned=True):
            owner, number = item.get("assignedUserAccountId"), item.get("number")
            if not _is_int(owner):
                continue  # unassigned, or assigned to a group, service or module
            if not isinstance(number, str) or not number.strip():
                log.warning("STARFACE phone number %r has no number; left out", item.get("id"))
                continue
            found.setdefault(int(owner), []).append(dialable(item))
        return {owner: tuple(sorted(numbers)) for owner, numbers in found.items()}

    # ----------------------------------------------------------------- snapshot
    def _group(self, group_id: int) -> dict[str, Any]:
        """A group's details; :class:`_GroupUnreadable` on HTTP 500 or 404 (gone, or broken)."""
        path = f"/groups/{int(group_id)}"
        response = self._request("GET", path)
        if response.status_code in (404, 500):
            raise _GroupUnreadable(
                f"GET {path} answered HTTP {response.status_code}{_error_detail(response)}"
            )
        return self._object(self._decode(response, "GET", path, expected=(200,)), "a group")

    def fetch_snapshot(self) -> PbxSnapshot:
        """Read users, admin flags, phone numbers and groups into one :class:`PbxSnapshot`.

        Costs 7 requests plus one per group (plus 2 to log in; never one per user), and one
        more listing of the groups when a group's details fail; independent requests and the
        group details run in parallel, at most ``concurrency`` at a time.
        """
        self._current_token()  # log in once before fanning out
        self._dates = []
        try:
            with ThreadPoolExecutor(self._concurrency, thread_name_prefix="starface") as pool:
                try:
                    users_f = pool.submit(self.users)
                    rights_f = pool.submit(self.account_rights)
                    admins_f = pool.submit(self.admin_user_ids)
                    numbers_f = pool.submit(self.phone_numbers_by_user)
                    group_items = pool.submit(self.groups).result()
                    group_ids = [self._group_id(item) for item in group_items]
                    detail_fs: list[Future[dict[str, Any]]] = [
                        pool.submit(self._group, gid) for gid in group_ids
                    ]
                    raw_users = users_f.result()
                    incomplete = rights_f.result()
                    admins = admins_f.result()
                    numbers = numbers_f.result()
                    details: list[dict[str, Any] | _GroupUnreadable] = []
                    for future in detail_fs:
                        try:
                            details.append(future.result())
                        except _GroupUnreadable as exc:
                            details.append(exc)
                except BaseException:
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
            dates = self._dates
        finally:
            self._dates = None
        skipped: list[SkippedRecord] = []
        users: list[PbxUser] = []
        for raw in raw_users:
            read = self._to_user(raw, admins, numbers)
            if isinstance(read, SkippedRecord):
                skipped.append(read)
            else:
                users.append(read)
        users.sort(key=lambda u: u.id)
        login_of = {user.id: user.login for user in users}
        unreadable_ids = {r.id: r.login for r in skipped if r.id is not None}
        failed = [gid for gid, d in zip(group_ids, details, strict=True) if not isinstance(d, dict)]
        still_listed = {self._group_id(item) for item in self.groups()} if failed else set()
        gone = tuple(sorted(gid for gid in failed if gid not in still_listed))
        groups: list[PbxGroup] = []
        for gid, detail in zip(group_ids, details, strict=True):
            if isinstance(detail, _GroupUnreadable):
                if gid in still_listed:
                    skipped.append(SkippedRecord("group", gid, None, str(detail)))
                continue
            group = self._to_group(gid, detail, login_of, unreadable_ids, bool(incomplete))
            if isinstance(group, SkippedRecord):
                skipped.append(group)
            else:
                groups.append(group)
        groups.sort(key=lambda g: g.id)
        for record in skipped:
            log.warning("STARFACE %s %s skipped: %s", record.kind, record.id, record.reason)
        return PbxSnapshot(
            users=tuple(users),
            groups=tuple(groups),
            taken_at=min(dates) if dates else None,
            incomplete=incomplete,
            skipped=tuple(skipped),
            groups_gone=gone,
        )

    @staticmethod
    def _group_id(item: dict[str, Any]) -> int:
        if not _is_int(item.get("id")):
            raise StarfaceProtocolError("STARFACE listed a group without an id")
        return int(item["id"])

    @staticmethod
    def _to_user(
        raw: dict[str, Any], admins: set[int], numbers: dict[int, tuple[str, ...]]
    ) -> PbxUser | SkippedRecord:
        """The user, or a :class:`SkippedRecord` saying why the record cannot be read."""
        user_id = raw.get("id")
        login = raw.get("login")
        known_id = int(user_id) if _is_int(user_id) else None
        known_login = login if isinstance(login, str) and login.strip() else None
        if known_id is None:
            return SkippedRecord("user", None, known_login, "no numeric id")
        if known_login is None:
            return SkippedRecord("user", known_id, None, "no Login-ID")
        fields = {}
        for key in ("firstName", "familyName", "email", "language"):
            value = raw.get(key)
            if value is None:  # a user without an e-mail address is still a user
                value = ""
            if not isinstance(value, str):
                return SkippedRecord(
                    "user", known_id, known_login, f"{key} is {type(value).__name__}, not text"
                )
            fields[key] = value
        return PbxUser(
            id=known_id,
            login=known_login,
            first_name=fields["firstName"],
            family_name=fields["familyName"],
            email=fields["email"],
            language=fields["language"],
            admin=known_id in admins,
            phone_numbers=numbers.get(known_id, ()),
        )

    @staticmethod
    def _to_group(
        group_id: int,
        detail: dict[str, Any],
        login_of: dict[int, str],
        unreadable: dict[int, str | None],
        incomplete: bool,
    ) -> PbxGroup | SkippedRecord:
        """The group with the Login-IDs of its members, or why it cannot be taken as it is."""
        name = detail.get("name")
        if not isinstance(name, str):
            return SkippedRecord("group", group_id, None, "no name")
        assignable = detail.get("assignableUsers") or []
        if not isinstance(assignable, list):
            return SkippedRecord("group", group_id, None, "assignableUsers is not a list")
        members = []
        for entry in assignable:
            if not isinstance(entry, dict) or entry.get("assigned") is not True:
                continue
            member_id = entry.get("id")
            if not _is_int(member_id):
                return SkippedRecord("group", group_id, None, "a member without an id")
            login = login_of.get(int(member_id))
            if login is None and int(member_id) in unreadable:
                login = unreadable[int(member_id)]
                if login is None:  # its membership cannot be told: keep the group as it is
                    return SkippedRecord(
                        "group",
                        group_id,
                        None,
                        f"member {member_id} is a user record that could not be read",
                    )
            if login is None:
                if incomplete:  # a user the REST account cannot see: do not drop them
                    return SkippedRecord(
                        "group", group_id, None, f"member {member_id} is not listed by GET /users"
                    )
                # Created after GET /users answered; the next snapshot will include it.
                log.warning("group %s lists unknown user %s; skipped", group_id, member_id)
                continue
            members.append(login)
        return PbxGroup(id=group_id, name=name, member_logins=tuple(sorted(members)))
