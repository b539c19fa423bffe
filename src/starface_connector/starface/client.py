"""HTTP client for the STARFACE REST API (specification 6.7.0.22).

It does what the connector needs: the nonce login, reading users, groups, permissions and
phone numbers, and assembling them into a :class:`PbxSnapshot`. Failures become one of the
exceptions in :mod:`starface_connector.starface.errors` with a one-line message.

How a snapshot is derived from the specification, with as few requests as possible:

* users: ``GET /users`` (one request for all users).
* admin flag: ``GET /permissions`` lists ``PermissionInfo`` objects; the one whose
  ``permission`` name is ``administration`` is the administration permission, and
  ``GET /permissions/{permissionId}/users`` returns the users holding it.
* phone numbers: ``GET /phonenumbers?assigned=true`` returns every assigned ``PhoneNumber``;
  ``assignedUserAccountId`` is the account id of the owning user, and the specification uses
  "account id" and user id interchangeably ("the user with the given account id {userId}"), so
  it is matched against ``User.id``. A user's numbers are the ``number`` values, sorted. This
  replaces one ``/users/{userId}/phonenumberconfig/phonenumbers/`` request per user, whose
  ``PhoneNumberAssignment`` objects only carry number ids anyway.
* groups: ``GET /groups`` for the ids, then ``GET /groups/{groupid}`` per group (fanned out
  with bounded concurrency); members are the ``assignableUsers`` with ``assigned: true``.

Transient failures (connection errors, timeouts, HTTP 5xx) are retried with exponential
backoff and jitter; an HTTP 401 triggers one fresh login and one more try.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import itertools
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any, TypeGuard, TypeVar

import httpx

from ..domain.pbx import PbxGroup, PbxSnapshot, PbxUser
from .errors import (
    StarfaceAuthError,
    StarfaceError,
    StarfaceProtocolError,
    StarfaceUnreachable,
)

__all__ = ["API_VERSION", "DEFAULT_ADMIN_PERMISSION", "StarfaceClient", "compute_secret"]

log = logging.getLogger(__name__)

#: Sent as ``X-Version`` with every request.
API_VERSION = "2"
#: ``PermissionInfo.permission`` name of the administration permission.
DEFAULT_ADMIN_PERMISSION = "administration"
_MAX_BACKOFF = 10.0
_T = TypeVar("_T")


def compute_secret(login_type: str, login: str, nonce: str, password: str) -> str:
    """Login secret as the specification defines it for ``POST /login``.

    ``Internal``: ``<login>:SHA512hex(<login><nonce>SHA512hex(<password>))``;
    ``ActiveDirectory``: ``BASE64(<login><nonce><password>)``.
    """
    if login_type == "Internal":
        pw_hash = hashlib.sha512(password.encode("utf-8")).hexdigest()
        digest = hashlib.sha512(f"{login}{nonce}{pw_hash}".encode()).hexdigest()
        return f"{login}:{digest}"
    if login_type == "ActiveDirectory":
        return base64.b64encode(f"{login}{nonce}{password}".encode()).decode("ascii")
    raise StarfaceProtocolError(f"STARFACE asks for unknown login type {login_type!r}")


class _Transient(Exception):
    """A failure worth retrying; carries the error to raise once retries are used up."""

    def __init__(self, error: StarfaceError, *, answered: bool = False) -> None:
        super().__init__(str(error))
        self.error = error
        #: The PBX answered (5xx): it is up, so it gets a larger retry budget than silence.
        self.answered = answered


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
    (system CAs), False (no TLS verification; only for labs) or the path of a CA bundle.
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
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout),
            verify=self._tls_setting(verify),
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
    def _tls_setting(verify: bool | str) -> bool | ssl.SSLContext:
        """httpx wants an SSLContext for custom CA bundles; build it with a clear error."""
        if isinstance(verify, bool):
            return verify
        try:
            return ssl.create_default_context(cafile=verify)
        except (OSError, ssl.SSLError) as exc:
            raise StarfaceUnreachable(f"cannot load CA bundle {verify!r}: {exc}") from exc

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
                log.debug("retrying after transient failure: %s", failure.error)
                time.sleep(self._delay(attempt))
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
                    f"({cert.verify_message or cert}); pass the PBX CA bundle as verify"
                ) from exc
            raise _Transient(
                StarfaceUnreachable(f"{where} is unreachable: {exc or type(exc).__name__}")
            ) from exc
        status = response.status_code
        if status >= 500:
            kind = StarfaceUnreachable if status in (502, 503, 504) else StarfaceProtocolError
            raise _Transient(
                kind(f"{where} answered {method} {path} with HTTP {status}"), answered=True
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
                )
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
                f"with unexpected HTTP {response.status_code}"
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
                "wrong login ID or password"
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
        wanted = self._admin_permission.casefold()
        for info in self.permissions():
            name = info.get("permission")
            if (
                isinstance(name, str)
                and name.strip().casefold() == wanted
                and _is_int(info.get("id"))
            ):
                return int(info["id"])
        raise StarfaceProtocolError(
            f"STARFACE lists no {self._admin_permission!r} permission, so administrators "
            "cannot be determined"
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
        """Sorted ``number`` values per user id, from one ``GET /phonenumbers?assigned=true``."""
        found: dict[int, list[str]] = {}
        for item in self.phone_numbers(assigned=True):
            owner, number = item.get("assignedUserAccountId"), item.get("number")
            if not _is_int(owner):
                continue  # unassigned, or assigned to a group, service or module
            if not isinstance(number, str):
                raise StarfaceProtocolError(
                    f"STARFACE phone number {item.get('id')!r} has no number string"
                )
            found.setdefault(int(owner), []).append(number)
        return {owner: tuple(sorted(numbers)) for owner, numbers in found.items()}

    # ----------------------------------------------------------------- snapshot
    def _group_or_none(self, group_id: int) -> dict[str, Any] | None:
        """Group details, or None if the group vanished since it was listed (HTTP 404)."""
        path = f"/groups/{int(group_id)}"
        response = self._request("GET", path)
        if response.status_code == 404:
            return None
        return self._object(self._decode(response, "GET", path, expected=(200,)), "a group")

    def fetch_snapshot(self) -> PbxSnapshot:
        """Read users, admin flags, phone numbers and groups into one :class:`PbxSnapshot`.

        Costs 5 requests plus one per group (plus 2 to log in; never one per user); independent
        requests and the group details run in parallel, at most ``concurrency`` at a time.
        """
        self._current_token()  # log in once before fanning out
        with ThreadPoolExecutor(self._concurrency, thread_name_prefix="starface") as pool:
            try:
                users_f = pool.submit(self.users)
                admins_f = pool.submit(self.admin_user_ids)
                numbers_f = pool.submit(self.phone_numbers_by_user)
                group_items = pool.submit(self.groups).result()
                group_ids = []
                for item in group_items:
                    if not _is_int(item.get("id")):
                        raise StarfaceProtocolError("STARFACE listed a group without an id")
                    group_ids.append(int(item["id"]))
                detail_fs: list[Future[dict[str, Any] | None]] = [
                    pool.submit(self._group_or_none, gid) for gid in group_ids
                ]
                raw_users = users_f.result()
                admins = admins_f.result()
                numbers = numbers_f.result()
                details = [f.result() for f in detail_fs]
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        users = sorted(
            (self._to_user(raw, admins, numbers) for raw in raw_users), key=lambda u: u.id
        )
        login_of = {user.id: user.login for user in users}
        groups = []
        for item, detail in zip(group_items, details, strict=True):
            if detail is None:
                continue
            groups.append(self._to_group(item, detail, login_of))
        groups.sort(key=lambda g: g.id)
        return PbxSnapshot(users=tuple(users), groups=tuple(groups))

    @staticmethod
    def _to_user(
        raw: dict[str, Any], admins: set[int], numbers: dict[int, tuple[str, ...]]
    ) -> PbxUser:
        user_id = raw.get("id")
        if not _is_int(user_id):
            raise StarfaceProtocolError("STARFACE sent a user without a numeric id")
        fields = {}
        for key in ("login", "firstName", "familyName", "email", "language"):
            value = raw.get(key)
            if not isinstance(value, str):
                raise StarfaceProtocolError(
                    f"STARFACE user {user_id} lacks the required string field {key!r}"
                )
            fields[key] = value
        return PbxUser(
            id=int(user_id),
            login=fields["login"],
            first_name=fields["firstName"],
            family_name=fields["familyName"],
            email=fields["email"],
            language=fields["language"],
            admin=int(user_id) in admins,
            phone_numbers=numbers.get(int(user_id), ()),
        )

    @staticmethod
    def _to_group(
        item: dict[str, Any], detail: dict[str, Any], login_of: dict[int, str]
    ) -> PbxGroup:
        group_id = int(item["id"])
        name = detail.get("name")
        if not isinstance(name, str):
            name = item.get("groupname") if isinstance(item.get("groupname"), str) else ""
        members = []
        assignable = detail.get("assignableUsers") or []
        if not isinstance(assignable, list):
            raise StarfaceProtocolError(f"STARFACE group {group_id} has malformed assignableUsers")
        for entry in assignable:
            if not isinstance(entry, dict) or entry.get("assigned") is not True:
                continue
            member_id = entry.get("id")
            if not _is_int(member_id):
                raise StarfaceProtocolError(f"STARFACE group {group_id} lists a member without id")
            login = login_of.get(int(member_id))
            if login is None:
                # Created after GET /users answered; the next snapshot will include it.
                log.warning("group %s lists unknown user %s; skipped", group_id, member_id)
                continue
            members.append(login)
        return PbxGroup(id=group_id, name=str(name), member_logins=tuple(sorted(members)))
