"""Read side: plain queries for lists and details, not through the rules' model."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from .tables import AuditRow, GroupMemberRow, GroupRow, ImportRunRow, ParameterChangeRow, UserRow


def _user_json(row: UserRow, groups: list[str]) -> dict[str, Any]:
    return {
        "usersUid": row.users_uid,
        "firstName": row.first_name,
        "lastName": row.last_name,
        "email": row.email,
        "language": row.language,
        "admin": row.admin,
        "phoneNumbers": list(row.phone_numbers or []),
        "acdStatus": row.acd_status,
        "phoneStatus": row.phone_status,
        "groups": groups,
        "createdAt": _iso(row.created_at),
        "updatedAt": _iso(row.updated_at),
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _groups_of(session: Session, logins: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    if logins:
        rows = session.execute(
            select(GroupMemberRow.users_uid, GroupMemberRow.group_id)
            .where(GroupMemberRow.users_uid.in_(logins))
            .order_by(GroupMemberRow.group_id)
        )
        for login, group_id in rows:
            found[login].append(group_id)
    return found


def list_users(session: Session, *, search: str, limit: int, offset: int) -> dict[str, Any]:
    query = select(UserRow)
    if search:
        # the search text is literal: '_' and '%' are not wildcards
        literal = search.lower().replace("/", "//").replace("%", "/%").replace("_", "/_")
        pattern = f"%{literal}%"
        query = query.where(
            or_(
                func.lower(UserRow.users_uid).like(pattern, escape="/"),
                func.lower(UserRow.first_name).like(pattern, escape="/"),
                func.lower(UserRow.last_name).like(pattern, escape="/"),
                func.lower(UserRow.email).like(pattern, escape="/"),
            )
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(session.scalars(query.order_by(UserRow.users_uid).limit(limit).offset(offset)))
    groups = _groups_of(session, [row.users_uid for row in rows])
    return {"items": [_user_json(r, groups[r.users_uid]) for r in rows], "total": total}


def get_user(session: Session, users_uid: str) -> dict[str, Any] | None:
    row = session.get(UserRow, users_uid)
    if row is None:
        return None
    return _user_json(row, _groups_of(session, [users_uid])[users_uid])


def list_groups(session: Session) -> list[dict[str, Any]]:
    members: dict[str, list[str]] = defaultdict(list)
    for group_id, login in session.execute(
        select(GroupMemberRow.group_id, GroupMemberRow.users_uid).order_by(GroupMemberRow.users_uid)
    ):
        members[group_id].append(login)
    return [
        {
            "id": row.group_id,
            "name": row.name,
            "members": members[row.group_id],
            "updatedAt": _iso(row.updated_at),
        }
        for row in session.scalars(select(GroupRow).order_by(GroupRow.group_id))
    ]


def list_events(
    session: Session,
    *,
    login: str | None = None,
    event_type: str | None = None,
    outcome: str | None = None,
    limit: int = 100,
    after_id: int | None = None,
) -> list[dict[str, Any]]:
    """Newest first, or oldest first after ``after_id`` (for following the log)."""
    query = select(AuditRow)
    if login:
        query = query.where(AuditRow.login == login)
    if event_type:
        query = query.where(AuditRow.type == event_type)
    if outcome:
        query = query.where(AuditRow.outcome == outcome)
    if after_id is not None:
        query = query.where(AuditRow.id > after_id).order_by(AuditRow.id)
    else:
        query = query.order_by(AuditRow.id.desc())
    return [
        {
            "id": row.id,
            "receivedAt": _iso(row.received_at),
            "source": row.source,
            "eventId": row.event_id,
            "type": row.type,
            "login": row.login,
            "groupId": row.group_id,
            "occurredAt": _iso(row.occurred_at),
            "outcome": row.outcome,
            "reason": row.reason,
        }
        for row in session.scalars(query.limit(limit))
    ]


def list_parameter_changes(session: Session, limit: int = 100) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(ParameterChangeRow).order_by(ParameterChangeRow.id.desc()).limit(limit)
    )
    return [
        {
            "changedAt": _iso(r.changed_at),
            "name": r.name,
            "oldValue": r.old_value,
            "newValue": r.new_value,
            "actor": r.actor,
        }
        for r in rows
    ]


def list_imports(session: Session, limit: int = 20) -> list[dict[str, Any]]:
    rows = session.scalars(select(ImportRunRow).order_by(ImportRunRow.id.desc()).limit(limit))
    return [
        {
            "id": r.id,
            "startedAt": _iso(r.started_at),
            "finishedAt": _iso(r.finished_at),
            "trigger": r.trigger,
            "dryRun": r.dry_run,
            "status": r.status,
            "summary": r.summary,
        }
        for r in rows
    ]
