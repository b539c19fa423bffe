"""Built-in accounts, STARFACE module sessions and API tokens.

Session ids and tokens are random (``secrets``) and stored only as SHA-256; every request
re-reads them, and re-reads the user behind a token, so rights, deletions and parameter
changes take effect at once, in every instance that shares the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..domain.parameters import read_parameters
from .parameters import ParameterCache
from .ports import (
    Account,
    Clock,
    Credential,
    SessionRecord,
    Source,
    UnitOfWork,
    UnitOfWorkFactory,
)
from .security import PasswordHasher, new_token, random_password, token_hash
from .throttling import MODULE_REALM, PEOPLE_REALM, Attempt, LoginGuard

MODULE = "module"
API = "api"
CONSOLE = "console"
SYSADMIN = "sysadmin"
DEFAULT_MODULE_LOGIN = "starface-module"
#: how long a sign-in lives without use: API tokens a working day, console sessions half an hour
IDLE = {API: timedelta(hours=8), CONSOLE: timedelta(minutes=30)}
TOKEN_TOUCH = timedelta(seconds=60)
#: how long this process trusts what it verified of a module session (and the expiry setting)
RECHECK = timedelta(seconds=1)
PEOPLE = (API, CONSOLE)
#: the event log's source for what happens when people sign in each way
CHANNEL = {API: Source.API, CONSOLE: Source.CONSOLE}


@dataclass(frozen=True)
class Principal:
    username: str
    admin: bool


@dataclass(frozen=True)
class GeneratedCredential:
    """A credential created at first start: shown once on the console, never logged."""

    role: str
    login: str
    password: str


@dataclass(frozen=True)
class ModuleSession:
    session_id: str
    expires_in_seconds: int


class Accounts:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        hasher: PasswordHasher,
        parameters: ParameterCache,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._hasher = hasher
        self._parameters = parameters
        #: login throttling; its ``failures`` and ``refusals`` count what this process saw
        self.guard = LoginGuard(uow, clock, hasher)
        #: module sessions this process verified lately: hash -> (last use, when verified)
        self._known: dict[str, tuple[datetime, datetime]] = {}

    def ensure_credentials(
        self,
        *,
        module_login: str | None,
        module_password: str | None,
        admin_password: str | None,
    ) -> list[GeneratedCredential]:
        """Create the module account and sysadmin on first start; follow configured values
        after. Under the write lock: of instances starting at once, exactly one creates (and
        shows) the accounts, the others find them."""
        generated: list[GeneratedCredential] = []
        with self._uow(locked=True) as uow:
            wanted = {
                MODULE: (module_login or None, module_password or None),
                SYSADMIN: (SYSADMIN, admin_password or None),
            }
            for role, (login, password) in wanted.items():
                stored = uow.credentials.get(role)
                if stored is None:
                    chosen_login = login or DEFAULT_MODULE_LOGIN
                    chosen = password or random_password()[:24]
                    uow.credentials.put(Credential(role, chosen_login, self._hasher.hash(chosen)))
                    if password is None:
                        generated.append(GeneratedCredential(role, chosen_login, chosen))
                    continue
                if login and stored.login != login:
                    stored = Credential(role, login, stored.password_hash)
                    uow.credentials.put(stored)
                    # sessions opened under the old login end with it, as with a new password
                    if role == MODULE:
                        uow.sessions.remove_all(MODULE)
                if password and not self._hasher.verify(stored.password_hash, password):
                    uow.credentials.put(Credential(role, stored.login, self._hasher.hash(password)))
                    # a rotated password ends what the old one opened
                    if role == MODULE:
                        uow.sessions.remove_all(MODULE)
                    else:
                        for kind in PEOPLE:
                            uow.sessions.remove_all(kind, SYSADMIN)
            uow.commit()
        return generated

    # ---- STARFACE module sessions ----------------------------------------------------------

    def open_module_session(
        self, login: str, password: str, *, address: str | None = None
    ) -> ModuleSession | None:
        """A new session for the module account, or None if the credentials are refused;
        :class:`LoginThrottled` after too many failures from ``address`` or as ``login``."""
        attempt = Attempt(MODULE_REALM, login, address, Source.STARFACE)
        with self._uow() as uow:
            stored = uow.credentials.get(MODULE)
        login_ok = stored is not None and stored.login == login
        stored_hash = stored.password_hash if stored is not None and login_ok else None
        if not self.guard.verify(attempt, stored_hash, password):
            return None
        with self._uow() as uow:
            self.guard.succeeded(uow, attempt)
            expire = self._session_seconds(uow)
            now = self._clock()
            uow.sessions.remove_idle(MODULE, used_before=now - timedelta(seconds=expire))
            session_id = new_token()
            uow.sessions.add(SessionRecord(token_hash(session_id), MODULE, login, now, now))
            uow.commit()
        return ModuleSession(session_id, expire)

    def touch_module_session(self, session_id: str) -> bool:
        """Valid if used within SessionExpireSeconds; each use slides the window.

        This asks the database, and only reads: the use itself is written by the event
        writer in the batch's own transaction, so a check never waits for the write lock.
        :meth:`known_module_session` answers from memory."""
        hashed = token_hash(session_id)
        expire = self._parameters.get().session_expire_seconds
        with self._uow() as uow:
            now = self._clock()
            record = uow.sessions.get(hashed)
        alive = (
            record is not None
            and record.kind == MODULE
            and record.last_used_at >= now - timedelta(seconds=expire)
        )
        if alive:
            self._known[hashed] = (now, now)
        else:
            self._known.pop(hashed, None)
        return alive

    def known_module_session(self, session_id: str) -> str | None:
        """The session's hash if this process verified it within the last second and it is
        still alive; None when the database must be asked (:meth:`touch_module_session`).

        The use is remembered here and written by the event writer in the batch's own
        transaction, so the hot path costs no transaction of its own. Another instance that
        ends or expires the session is seen within a second, when the entry is verified again.
        """
        hashed = token_hash(session_id)
        entry, now = self._known.get(hashed), self._clock()
        if entry is None:
            return None
        last_used, verified = entry
        if now - verified >= RECHECK:
            return None
        expire = self._parameters.get().session_expire_seconds
        if last_used < now - timedelta(seconds=expire):
            return None
        self._known[hashed] = (now, verified)
        return hashed

    def forget_sessions(self) -> None:
        self._known.clear()

    def close_session(self, token: str, kind: str) -> bool:
        self._known.pop(token_hash(token), None)
        with self._uow() as uow:
            closed = uow.sessions.remove(token_hash(token), kind)
            uow.commit()
        return closed

    @staticmethod
    def _session_seconds(uow: UnitOfWork) -> int:
        return read_parameters(uow.parameters.values())[0].session_expire_seconds

    # ---- people signing in: API tokens and console sessions --------------------------------

    def sign_in(
        self, username: str, password: str, kind: str = API, *, address: str | None = None
    ) -> str | None:
        """Issue an API token or a console session for sysadmin or a jtel user, or None;
        :class:`LoginThrottled` after too many failures from ``address`` or as ``username``.

        The answer takes as long for an unknown user as for a wrong password."""
        attempt = Attempt(PEOPLE_REALM, username, address, CHANNEL[kind])
        account: Account | None = None
        with self._uow() as uow:
            if username == SYSADMIN:
                cred = uow.credentials.get(SYSADMIN)
                stored_hash = cred.password_hash if cred else None
            else:
                account = uow.accounts.get(username)
                stored_hash = account.password_hash if account else None
        if not self.guard.verify(attempt, stored_hash, password):
            return None
        with self._uow() as uow:
            self.guard.succeeded(uow, attempt)
            if account is not None:
                # the UsersUID is public: a user still on it is asked to choose a password
                initial = password == username
                if self._hasher.needs_rehash(account.password_hash):
                    hashed = self._hasher.hash(password)
                    uow.accounts.set_password_hash(username, hashed, initial=initial)
                elif account.initial_password != initial:
                    uow.accounts.set_initial(username, initial)
            now = self._clock()
            uow.sessions.remove_idle(kind, used_before=now - IDLE[kind])
            token = new_token()
            uow.sessions.add(SessionRecord(token_hash(token), kind, username, now, now))
            uow.commit()
        return token

    def principal_for(self, token: str, kind: str = API) -> Principal | None:
        """Who holds this token, with rights read now; None if the token or user is gone."""
        with self._uow() as uow:
            record = uow.sessions.get(token_hash(token))
            now = self._clock()
            if record is None or record.kind != kind or record.last_used_at < now - IDLE[kind]:
                return None
            if record.subject == SYSADMIN:
                principal = Principal(SYSADMIN, admin=True)
            else:
                account = uow.accounts.get(record.subject)
                # A token outlives neither its user nor a re-creation under the same login.
                if account is None or account.created_at > record.created_at:
                    return None
                principal = Principal(record.subject, admin=account.admin)
            if record.last_used_at < now - TOKEN_TOUCH:
                uow.sessions.touch(record.token_hash, now)
            uow.commit()
        return principal

    def set_user_password(self, users_uid: str, password: str) -> bool:
        """A new password also ends every sign-in of that user: a reset locks out a thief."""
        hashed = self._hasher.hash(password)
        with self._uow() as uow:
            initial = password == users_uid
            if not uow.accounts.set_password_hash(users_uid, hashed, initial=initial):
                return False
            for kind in PEOPLE:
                uow.sessions.remove_all(kind, users_uid)
            uow.commit()
        return True

    def change_own_password(
        self,
        users_uid: str,
        old: str,
        new: str,
        *,
        address: str | None = None,
        channel: str = Source.API,
    ) -> bool:
        """A jtel user's own change needs the old password; False if it is wrong. A wrong
        one counts as a failed login (:class:`LoginThrottled` after too many)."""
        attempt = Attempt(PEOPLE_REALM, users_uid, address, channel)
        with self._uow() as uow:
            account = uow.accounts.get(users_uid)
        if not self.guard.verify(attempt, account.password_hash if account else None, old):
            return False
        with self._uow() as uow:
            self.guard.succeeded(uow, attempt)
            uow.commit()
        return self.set_user_password(users_uid, new)

    def initial_password(self, users_uid: str) -> bool:
        """Whether the user's password is still the UsersUID, as their last sign-in found."""
        with self._uow() as uow:
            account = uow.accounts.get(users_uid)
        return account is not None and account.initial_password
