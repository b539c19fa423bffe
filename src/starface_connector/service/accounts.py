"""Built-in accounts, STARFACE module sessions and API tokens.

Session ids and tokens are random (``secrets``) and stored only as SHA-256; every request
re-reads them, and re-reads the user behind a token, so rights, deletions and parameter
changes take effect at once, in every instance that shares the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from ..storage.db import utcnow
from ..storage.repository import load_parameters
from ..storage.tables import CredentialRow, SessionRow, UserRow
from .security import (
    hash_password,
    needs_rehash,
    new_token,
    random_password,
    token_hash,
    verify_password,
)

MODULE = "module"
API = "api"
SYSADMIN = "sysadmin"
DEFAULT_MODULE_LOGIN = "starface-module"
API_TOKEN_IDLE = timedelta(hours=8)
API_TOKEN_TOUCH = timedelta(seconds=60)


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


def ensure_credentials(
    factory: sessionmaker[Session],
    *,
    module_login: str | None,
    module_password: str | None,
    admin_password: str | None,
) -> list[GeneratedCredential]:
    """Create the module account and sysadmin on first start; follow configured values after."""
    generated: list[GeneratedCredential] = []
    with factory() as session, session.begin():
        wanted = {
            MODULE: (module_login or None, module_password or None),
            SYSADMIN: (SYSADMIN, admin_password or None),
        }
        for role, (login, password) in wanted.items():
            row = session.get(CredentialRow, role)
            if row is None:
                chosen_login = login or DEFAULT_MODULE_LOGIN
                chosen = password or random_password()[:24]
                session.add(
                    CredentialRow(
                        role=role, login=chosen_login, password_hash=hash_password(chosen)
                    )
                )
                if password is None:
                    generated.append(GeneratedCredential(role, chosen_login, chosen))
                continue
            if login and row.login != login:
                row.login = login
            if password and not verify_password(row.password_hash, password):
                row.password_hash = hash_password(password)
                # a rotated password ends what the old one opened
                if role == MODULE:
                    _end_sessions(session, MODULE)
                else:
                    _end_sessions(session, API, SYSADMIN)
    return generated


# ---- STARFACE module sessions --------------------------------------------------------------


def open_module_session(
    factory: sessionmaker[Session], login: str, password: str
) -> tuple[str, int] | None:
    """Return (session id, expiry seconds) for the module account, or None if refused."""
    with factory() as session, session.begin():
        row = session.get(CredentialRow, MODULE)
        login_ok = row is not None and row.login == login
        password_ok = verify_password(row.password_hash if row else None, password)
        if not (login_ok and password_ok):
            return None
        expire = load_parameters(session).session_expire_seconds
        now = utcnow()
        session.execute(
            delete(SessionRow).where(
                SessionRow.kind == MODULE,
                SessionRow.last_used_at < now - timedelta(seconds=expire),
            )
        )
        session_id = new_token()
        session.add(
            SessionRow(
                token_hash=token_hash(session_id),
                kind=MODULE,
                subject=login,
                created_at=now,
                last_used_at=now,
            )
        )
    return session_id, expire


def touch_module_session(factory: sessionmaker[Session], session_id: str) -> bool:
    """Valid if used within SessionExpireSeconds; each use slides the window."""
    with factory() as session, session.begin():
        expire = load_parameters(session).session_expire_seconds
        now = utcnow()
        result = session.execute(
            update(SessionRow)
            .where(
                SessionRow.token_hash == token_hash(session_id),
                SessionRow.kind == MODULE,
                SessionRow.last_used_at >= now - timedelta(seconds=expire),
            )
            .values(last_used_at=now)
        )
        return bool(getattr(result, "rowcount", 0))


def close_session(factory: sessionmaker[Session], token: str, kind: str) -> bool:
    with factory() as session, session.begin():
        result = session.execute(
            delete(SessionRow).where(
                SessionRow.token_hash == token_hash(token), SessionRow.kind == kind
            )
        )
        return bool(getattr(result, "rowcount", 0))


# ---- jtel API logins -----------------------------------------------------------------------


def api_login(factory: sessionmaker[Session], username: str, password: str) -> str | None:
    """Issue a bearer token for sysadmin or a jtel user, or None."""
    with factory() as session, session.begin():
        if username == SYSADMIN:
            cred = session.get(CredentialRow, SYSADMIN)
            if not verify_password(cred.password_hash if cred else None, password):
                return None
        else:
            user = session.get(UserRow, username)
            if not verify_password(user.password_hash if user else None, password):
                return None
            assert user is not None
            if needs_rehash(user.password_hash):
                user.password_hash = hash_password(password)
        now = utcnow()
        session.execute(
            delete(SessionRow).where(
                SessionRow.kind == API, SessionRow.last_used_at < now - API_TOKEN_IDLE
            )
        )
        token = new_token()
        session.add(
            SessionRow(
                token_hash=token_hash(token),
                kind=API,
                subject=username,
                created_at=now,
                last_used_at=now,
            )
        )
    return token


def principal_for(factory: sessionmaker[Session], token: str) -> Principal | None:
    """Who holds this token, with rights read now; None if the token or user is gone."""
    with factory() as session, session.begin():
        row = session.get(SessionRow, token_hash(token))
        now = utcnow()
        if row is None or row.kind != API or row.last_used_at < now - API_TOKEN_IDLE:
            return None
        if row.subject == SYSADMIN:
            principal = Principal(SYSADMIN, admin=True)
        else:
            user = session.execute(
                select(UserRow.admin, UserRow.created_at).where(UserRow.users_uid == row.subject)
            ).first()
            # A token outlives neither its user nor a re-creation under the same login.
            if user is None or user.created_at > row.created_at:
                return None
            principal = Principal(row.subject, admin=bool(user.admin))
        if row.last_used_at < now - API_TOKEN_TOUCH:
            row.last_used_at = now
    return principal


def set_user_password(factory: sessionmaker[Session], users_uid: str, password: str) -> bool:
    """A new password also ends every token of that user: a reset locks out a thief."""
    hashed = hash_password(password)
    with factory() as session, session.begin():
        result = session.execute(
            update(UserRow).where(UserRow.users_uid == users_uid).values(password_hash=hashed)
        )
        if not getattr(result, "rowcount", 0):
            return False
        _end_sessions(session, API, users_uid)
        return True


def _end_sessions(session: Session, kind: str, subject: str | None = None) -> None:
    query = delete(SessionRow).where(SessionRow.kind == kind)
    if subject is not None:
        query = query.where(SessionRow.subject == subject)
    session.execute(query)
