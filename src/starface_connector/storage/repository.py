"""Moves the rules' working set between the database and memory, in bulk."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import delete, insert, select, tuple_, update
from sqlalchemy.orm import Session

from ..domain.model import AcdStatus, GroupState, PhoneStatus, Profile, UserState
from ..domain.parameters import Parameters
from ..domain.rules import World
from .tables import (
    GroupMemberRow,
    GroupRow,
    ParameterRow,
    SeenEventRow,
    TombstoneRow,
    UserRow,
)

T = TypeVar("T")
CHUNK = 500  # keeps IN lists well below every backend's parameter limit


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def load_parameters(session: Session) -> Parameters:
    rows = session.execute(select(ParameterRow.name, ParameterRow.value))
    return Parameters.from_strings({name: value for name, value in rows})


_ACD = {status.value: status for status in AcdStatus}
_PHONE = {status.value: status for status in PhoneStatus}
_users = UserRow.__table__.c
# Core columns, not ORM attributes: plain rows load several times faster than entities.
STATE_COLUMNS = (
    _users.users_uid,
    _users.first_name,
    _users.last_name,
    _users.email,
    _users.language,
    _users.phone_numbers,
    _users.admin,
    _users.acd_status,
    _users.phone_status,
    _users.profile_at,
    _users.acd_at,
    _users.phone_at,
)


def user_state(row: Any) -> UserState:
    """From a row of STATE_COLUMNS (plain rows: loading ORM objects costs 4x as much)."""
    return UserState(
        login=row.users_uid,
        profile=Profile(
            first_name=row.first_name,
            last_name=row.last_name,
            email=row.email,
            language=row.language,
            phone_numbers=tuple(row.phone_numbers or ()),
        ),
        admin=bool(row.admin),
        acd_status=_ACD[row.acd_status],
        phone_status=_PHONE[row.phone_status],
        profile_at=row.profile_at,
        acd_at=row.acd_at,
        phone_at=row.phone_at,
    )


def user_columns(state: UserState) -> dict[str, object]:
    """Column values for a user's state (not password, not bookkeeping times)."""
    return {
        "users_uid": state.login,
        "first_name": state.profile.first_name,
        "last_name": state.profile.last_name,
        "email": state.profile.email,
        "language": state.profile.language,
        "phone_numbers": list(state.profile.phone_numbers),
        "admin": state.admin,
        "acd_status": state.acd_status.value,
        "phone_status": state.phone_status.value,
        "profile_at": state.profile_at,
        "acd_at": state.acd_at,
        "phone_at": state.phone_at,
    }


def load_world(
    session: Session,
    *,
    event_ids: Iterable[str],
    logins: Iterable[str],
    group_ids: Iterable[str],
    all_users: bool = False,
    all_groups: bool = False,
) -> World:
    """Load what a batch can touch: its users, tombstones, groups and already-seen ids."""
    world = World()
    ids = sorted(set(event_ids))
    for part in chunks(ids):
        world.seen.update(
            session.scalars(select(SeenEventRow.event_id).where(SeenEventRow.event_id.in_(part)))
        )
    wanted = sorted(set(logins))
    if all_users:
        for row in session.execute(select(*STATE_COLUMNS)):
            world.users[row.users_uid] = user_state(row)
        for login, deleted_at in session.execute(
            select(TombstoneRow.users_uid, TombstoneRow.deleted_at)
        ):
            world.deleted_at[login] = deleted_at
    else:
        for part in chunks(wanted):
            for row in session.execute(select(*STATE_COLUMNS).where(_users.users_uid.in_(part))):
                world.users[row.users_uid] = user_state(row)
            for login, deleted_at in session.execute(
                select(TombstoneRow.users_uid, TombstoneRow.deleted_at).where(
                    TombstoneRow.users_uid.in_(part)
                )
            ):
                world.deleted_at[login] = deleted_at
    groups = sorted(set(group_ids))
    selected: list[GroupRow] = []
    if all_groups:
        selected = list(session.scalars(select(GroupRow)))
    else:
        for part in chunks(groups):
            selected.extend(session.scalars(select(GroupRow).where(GroupRow.group_id.in_(part))))
    members: dict[str, list[str]] = {row.group_id: [] for row in selected}
    for part in chunks(sorted(members)):
        for group_id, login in session.execute(
            select(GroupMemberRow.group_id, GroupMemberRow.users_uid).where(
                GroupMemberRow.group_id.in_(part)
            )
        ):
            members[group_id].append(login)
    for row in selected:
        world.groups[row.group_id] = GroupState(
            row.group_id, row.name, tuple(sorted(members[row.group_id])), row.occurred_at
        )
    return world


def snapshot(world: World) -> World:
    """A copy of the working set to diff against after the batch (states are immutable)."""
    return World(
        users=dict(world.users),
        deleted_at=dict(world.deleted_at),
        groups=dict(world.groups),
        seen=set(world.seen),
    )


def persist(
    session: Session,
    before: World,
    after: World,
    *,
    password_hashes: dict[str, str],
    now: datetime,
) -> None:
    """Write the difference between two working sets.

    ``password_hashes`` holds a hash for every user (re)created in the batch; a user in both
    sets who was re-created gets a new password and creation time.
    """
    gone = [login for login in before.users if login not in after.users]
    recreated = [login for login in password_hashes if login in before.users]
    for part in chunks(sorted(set(gone) | set(recreated))):
        session.execute(delete(UserRow).where(UserRow.users_uid.in_(part)))
    inserts = [
        {
            **user_columns(state),
            "password_hash": password_hashes[login],
            "created_at": now,
            "updated_at": now,
        }
        for login, state in after.users.items()
        if login not in before.users or login in password_hashes
    ]
    if inserts:
        session.execute(insert(UserRow.__table__), inserts)
    updates = [
        {**user_columns(state), "updated_at": now}
        for login, state in after.users.items()
        if login in before.users and login not in password_hashes and before.users[login] != state
    ]
    if updates:
        session.execute(update(UserRow), updates)

    tombstones = {
        login: at for login, at in after.deleted_at.items() if before.deleted_at.get(login) != at
    }
    for part in chunks(sorted(tombstones)):
        session.execute(delete(TombstoneRow).where(TombstoneRow.users_uid.in_(part)))
    if tombstones:
        session.execute(
            insert(TombstoneRow.__table__),
            [{"users_uid": login, "deleted_at": at} for login, at in tombstones.items()],
        )

    changed_groups = [
        group
        for group_id, group in after.groups.items()
        if before.groups.get(group_id) != group
        or any(login in password_hashes and login in before.users for login in group.members)
    ]
    new_groups = [g for g in changed_groups if g.group_id not in before.groups]
    if new_groups:
        session.execute(
            insert(GroupRow.__table__),
            [
                {
                    "group_id": g.group_id,
                    "name": g.name,
                    "occurred_at": g.updated_at,
                    "created_at": now,
                    "updated_at": now,
                }
                for g in new_groups
            ],
        )
    old_groups = [g for g in changed_groups if g.group_id in before.groups]
    if old_groups:
        session.execute(
            update(GroupRow),
            [
                {
                    "group_id": g.group_id,
                    "name": g.name,
                    "occurred_at": g.updated_at,
                    "updated_at": now,
                }
                for g in old_groups
            ],
        )
    # Memberships change by difference only: a group loaded for this batch may have members
    # the batch never loaded, and those rows must stay as they are.
    gone_rows: list[tuple[str, str]] = []
    new_rows: list[dict[str, str]] = []
    for group in changed_groups:
        old = (
            set(before.groups[group.group_id].members) if group.group_id in before.groups else set()
        )
        new = set(group.members)
        gone_rows.extend((group.group_id, login) for login in sorted(old - new))
        # a re-created user's membership went with the old row (ON DELETE CASCADE)
        again = {login for login in new & old if login in password_hashes}
        new_rows.extend(
            {"group_id": group.group_id, "users_uid": login} for login in sorted(new - old | again)
        )
    for part in chunks(gone_rows):
        session.execute(
            delete(GroupMemberRow).where(
                tuple_(GroupMemberRow.group_id, GroupMemberRow.users_uid).in_(part)
            )
        )
    if new_rows:
        session.execute(insert(GroupMemberRow.__table__), new_rows)
    new_ids = sorted(after.seen - before.seen)
    if new_ids:
        session.execute(
            insert(SeenEventRow.__table__),
            [{"event_id": event_id, "seen_at": now} for event_id in new_ids],
        )
