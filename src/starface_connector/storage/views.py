"""The read side: plain queries for lists and pages, not through the rules' model.

Everything a person or an API client looks at comes from here, as small frozen records; the
API, the console and the CLI each render them their own way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, Engine, func, or_, select

from ..domain.reasons import Note
from .tables import (
    EventLogRow,
    GroupMemberRow,
    GroupRow,
    ImportRunRow,
    ParameterChangeRow,
    SessionRow,
    UserRow,
    exact_collation,
)


@dataclass(frozen=True)
class UserView:
    users_uid: str
    first_name: str
    last_name: str
    email: str
    language: str
    admin: bool
    phone_numbers: tuple[str, ...]
    acd_status: str
    phone_status: str
    groups: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    dnd: bool


@dataclass(frozen=True)
class UserPage:
    items: list[UserView]
    total: int


@dataclass(frozen=True)
class AgentView:
    """One line of the agent board."""

    login: str
    first_name: str
    last_name: str
    acd_status: str
    phone_status: str
    dnd: bool
    #: the names of the agent's groups
    groups: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True)
class GroupView:
    id: str
    name: str
    members: tuple[str, ...]
    updated_at: datetime


@dataclass(frozen=True)
class LogEntryView:
    id: int
    received_at: datetime
    source: str
    event_id: str | None
    type: str | None
    login: str | None
    group_id: str | None
    occurred_at: datetime | None
    outcome: str
    reason: str
    notes: tuple[Note, ...]


@dataclass(frozen=True)
class ParameterChangeView:
    changed_at: datetime
    name: str
    old_value: str
    new_value: str
    actor: str


@dataclass(frozen=True)
class ImportRunView:
    id: int
    started_at: datetime
    finished_at: datetime | None
    trigger: str
    dry_run: bool
    status: str
    summary: dict[str, Any] | None


@dataclass(frozen=True)
class LogFilter:
    login: str | None = None
    type: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    #: any of these types (with ``type``: both must hold)
    types: tuple[str, ...] = ()


def iso(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC with a Z, as both APIs and the CLI show times."""
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


V = TypeVar("V")


def _columns(view: type[Any], row: Any) -> list[Any]:
    """The columns of ``row`` named like the fields of the record ``view``, in its order."""
    return [getattr(row, f.name) for f in fields(view)]


#: a user's columns; ``groups`` is no column but read from the memberships
_USER_COLUMNS = [getattr(UserRow, f.name) for f in fields(UserView) if f.name != "groups"]


def _like(text: str) -> str:
    """A LIKE pattern that finds ``text`` literally ('_' and '%' are not wildcards)."""
    literal = text.lower().replace("/", "//").replace("%", "/%").replace("_", "/_")
    return f"%{literal}%"


class Views:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def _finds(self, column: Any, text: str) -> ColumnElement[bool]:
        """``column`` contains ``text``, upper and lower case alike, accents not: the same on
        every database. Each lowers with its own Unicode rules (SQLite with Python's, see
        ``db.py``); MariaDB's default collation would also fold accents ('muller' finding
        'Müller'), so there the comparison is byte for byte."""
        lowered: ColumnElement[str] = func.lower(column)
        if self._engine.dialect.name in ("mysql", "mariadb"):
            lowered = lowered.collate(exact_collation(self._engine.dialect))
        return lowered.like(_like(text), escape="/")

    def users(self, *, search: str = "", limit: int = 100, offset: int = 0) -> UserPage:
        query = select(*_USER_COLUMNS)
        if search:
            query = query.where(
                or_(
                    *(
                        self._finds(column, search)
                        for column in (
                            UserRow.users_uid,
                            UserRow.first_name,
                            UserRow.last_name,
                            UserRow.email,
                        )
                    )
                )
            )
        with self._engine.connect() as db:
            total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = list(db.execute(query.order_by(UserRow.users_uid).limit(limit).offset(offset)))
            groups = _groups_of(db, [row.users_uid for row in rows])
        return UserPage([_user(row, groups[row.users_uid]) for row in rows], total)

    def user(self, users_uid: str) -> UserView | None:
        with self._engine.connect() as db:
            row = db.execute(select(*_USER_COLUMNS).where(UserRow.users_uid == users_uid)).first()
            if row is None:
                return None
            return _user(row, _groups_of(db, [users_uid])[users_uid])

    def agents(
        self, *, group: str | None = None, search: str = "", logins: Sequence[str] | None = None
    ) -> list[AgentView]:
        """The board's lines: every jtel user, or those of a group, a search or a list; each
        with the names of its groups."""
        query = select(
            UserRow.users_uid,
            UserRow.first_name,
            UserRow.last_name,
            UserRow.acd_status,
            UserRow.phone_status,
            UserRow.dnd,
        )
        if group:
            query = query.where(
                UserRow.users_uid.in_(
                    select(GroupMemberRow.users_uid).where(GroupMemberRow.group_id == group)
                )
            )
        if search:
            query = query.where(
                or_(
                    *(
                        self._finds(column, search)
                        for column in (UserRow.users_uid, UserRow.first_name, UserRow.last_name)
                    )
                )
            )
        memberships = select(GroupMemberRow.users_uid, GroupRow.name).join(
            GroupRow, GroupRow.group_id == GroupMemberRow.group_id
        )
        if logins is not None:
            query = query.where(UserRow.users_uid.in_(list(logins)))
            memberships = memberships.where(GroupMemberRow.users_uid.in_(list(logins)))
        names: dict[str, list[str]] = defaultdict(list)
        with self._engine.connect() as db:
            rows = list(db.execute(query.order_by(UserRow.last_name, UserRow.first_name)))
            for login, name in db.execute(memberships.order_by(GroupRow.name)):
                names[login].append(name)
        return [
            AgentView(*row[:5], dnd=bool(row.dnd), groups=tuple(names[row.users_uid]))
            for row in rows
        ]

    def last_log_id(self) -> int:
        with self._engine.connect() as db:
            return int(db.scalar(select(func.max(EventLogRow.id))) or 0)

    def touched_since(self, after_id: int, limit: int = 5000) -> tuple[int, set[str]]:
        """The logins whose entries came after ``after_id``, and the id to ask after next.

        Every writer of the log holds the write lock, so ids grow in commit order and no
        entry can appear later below an id already read."""
        query = (
            select(EventLogRow.id, EventLogRow.login)
            .where(EventLogRow.id > after_id)
            .order_by(EventLogRow.id)
            .limit(limit)
        )
        last, logins = after_id, set()
        with self._engine.connect() as db:
            for entry_id, login in db.execute(query):
                last = entry_id
                if login:
                    logins.add(login)
        return last, logins

    def groups(self) -> list[GroupView]:
        members: dict[str, list[str]] = defaultdict(list)
        with self._engine.connect() as db:
            for group_id, login in db.execute(
                select(GroupMemberRow.group_id, GroupMemberRow.users_uid).order_by(
                    GroupMemberRow.users_uid
                )
            ):
                members[group_id].append(login)
            rows = list(
                db.execute(
                    select(GroupRow.group_id, GroupRow.name, GroupRow.updated_at).order_by(
                        GroupRow.group_id
                    )
                )
            )
        return [
            GroupView(row.group_id, row.name, tuple(members[row.group_id]), row.updated_at)
            for row in rows
        ]

    def event_log(
        self,
        where: LogFilter = LogFilter(),
        *,
        limit: int = 100,
        after_id: int | None = None,
        before_id: int | None = None,
    ) -> list[LogEntryView]:
        """Newest first (below ``before_id`` when paging back), or oldest first after
        ``after_id`` (for following the log)."""
        query = select(EventLogRow)
        if where.login:
            query = query.where(EventLogRow.login == where.login)
        if where.type:
            query = query.where(EventLogRow.type == where.type)
        if where.types:
            query = query.where(EventLogRow.type.in_(where.types))
        if where.outcome:
            query = query.where(EventLogRow.outcome == where.outcome)
        if where.since is not None:
            query = query.where(EventLogRow.received_at >= where.since)
        if where.until is not None:
            query = query.where(EventLogRow.received_at < where.until)
        if before_id is not None:
            query = query.where(EventLogRow.id < before_id)
        if after_id is not None:
            query = query.where(EventLogRow.id > after_id).order_by(EventLogRow.id)
        else:
            query = query.order_by(EventLogRow.id.desc())
        with self._engine.connect() as db:
            return [_log_entry(row) for row in db.execute(query.limit(limit))]

    def open_sessions(self, kind: str, *, used_since: datetime) -> int:
        query = select(func.count()).where(
            SessionRow.kind == kind, SessionRow.last_used_at >= used_since
        )
        with self._engine.connect() as db:
            return int(db.scalar(query) or 0)

    def outcome_counts(self, *, since: datetime) -> dict[str, int]:
        query = (
            select(EventLogRow.outcome, func.count())
            .where(EventLogRow.received_at >= since)
            .group_by(EventLogRow.outcome)
        )
        with self._engine.connect() as db:
            return {outcome: int(count) for outcome, count in db.execute(query)}

    def parameter_changes(self, limit: int = 100) -> list[ParameterChangeView]:
        return self._newest(ParameterChangeView, ParameterChangeRow, limit)

    def imports(self, limit: int = 20) -> list[ImportRunView]:
        return self._newest(ImportRunView, ImportRunRow, limit)

    def _newest(self, view: type[V], row: Any, limit: int) -> list[V]:
        """The newest rows of a table with an ``id``, as records of the same field names."""
        query = select(*_columns(view, row)).order_by(row.id.desc()).limit(limit)
        with self._engine.connect() as db:
            return [view(*r) for r in db.execute(query)]


def _groups_of(db: Connection, logins: Sequence[str]) -> dict[str, list[str]]:
    """Group ids per login."""
    found: dict[str, list[str]] = defaultdict(list)
    if logins:
        query = (
            select(GroupMemberRow.users_uid, GroupMemberRow.group_id)
            .where(GroupMemberRow.users_uid.in_(logins))
            .order_by(GroupMemberRow.group_id)
        )
        for login, group_id in db.execute(query):
            found[login].append(group_id)
    return found


def _user(row: Any, groups: list[str]) -> UserView:
    values = row._asdict()
    values.update(
        admin=bool(values["admin"]),
        dnd=bool(values["dnd"]),
        phone_numbers=tuple(values["phone_numbers"] or ()),
        groups=tuple(groups),
    )
    return UserView(**values)


def _notes(stored: Any) -> tuple[Note, ...]:
    """The stored notes; () for rows written before notes existed or by a newer version."""
    try:
        return tuple(Note.from_json(n) for n in stored or () if isinstance(n, dict))
    except (KeyError, ValueError):
        return ()


def _log_entry(row: Any) -> LogEntryView:
    notes = _notes(row.notes)
    return LogEntryView(
        id=row.id,
        received_at=row.received_at,
        source=row.source,
        event_id=row.event_id,
        type=row.type,
        login=row.login,
        group_id=row.group_id,
        occurred_at=row.occurred_at,
        outcome=row.outcome,
        reason=row.reason,
        notes=notes,
    )
