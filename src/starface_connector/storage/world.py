"""Moves the rules' working set between the database and memory, in bulk, with Core SQL.

Plain rows and prebuilt statements only: loading ORM objects costs several times as much,
and this is the event path.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, bindparam, delete, insert, select, tuple_, update

from ..domain.model import AcdStatus, GroupState, PhoneStatus, Profile, UserState
from ..domain.rules import World
from .cache import Remembered, WorldCache
from .rows import Rows, db_json, from_db_json, from_db_time
from .tables import BatchLockRow, GroupMemberRow, GroupRow, SeenEventRow, TombstoneRow, UserRow

T = TypeVar("T")
CHUNK = 500  # keeps IN lists well below every backend's parameter limit

users = UserRow.__table__.c
groups = GroupRow.__table__.c
members = GroupMemberRow.__table__.c
tombstones = TombstoneRow.__table__.c
seen_events = SeenEventRow.__table__.c

STATE_COLUMNS = (
    users.users_uid,
    users.first_name,
    users.last_name,
    users.email,
    users.language,
    users.phone_numbers,
    users.admin,
    users.acd_status,
    users.phone_status,
    users.profile_at,
    users.acd_at,
    users.phone_at,
    users.dnd,
    users.dnd_at,
    users.acd_paused_by_pbx,
)
_ACD = {status.value: status for status in AcdStatus}
_PHONE = {status.value: status for status in PhoneStatus}

# executemany: the SET clause comes from the keys of the parameter rows ("key" is the row's).
_UPDATE_GROUP = update(GroupRow).where(groups.group_id == bindparam("key"))
_TAKE_LOCK = "UPDATE batch_lock SET batches = batches + 1 WHERE id = 1"


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


#: the statement that reads users' states, and its order of columns (see :func:`user_state`)
_READ_USERS = "SELECT " + ", ".join(c.name for c in STATE_COLUMNS) + " FROM jtel_users"
_READ_GRAVES = "SELECT users_uid, deleted_at FROM user_tombstones"


def user_state(row: Any) -> UserState:
    """From a row of :data:`STATE_COLUMNS` as the driver gives it (a plain tuple)."""
    (login, first, last, email, language, numbers, admin, acd, phone) = row[:9]
    return UserState(
        login=login,
        profile=Profile(first, last, email, language, tuple(from_db_json(numbers) or ())),
        admin=bool(admin),
        acd_status=_ACD[acd],
        phone_status=_PHONE[phone],
        profile_at=from_db_time(row[9]),
        acd_at=from_db_time(row[10]),
        phone_at=from_db_time(row[11]),
        dnd=bool(row[12]),
        dnd_at=from_db_time(row[13]),
        acd_paused_by_pbx=bool(row[14]),
    )


#: a user's state columns (not key, password or bookkeeping times), in :func:`user_values`' order
USER_STATE = (
    "first_name",
    "last_name",
    "email",
    "language",
    "phone_numbers",
    "admin",
    "acd_status",
    "phone_status",
    "profile_at",
    "acd_at",
    "phone_at",
    "dnd",
    "dnd_at",
    "acd_paused_by_pbx",
)


def user_values(state: UserState, rows: Rows) -> tuple[Any, ...]:
    """A user's state as the driver takes it, in the order of :data:`USER_STATE`."""
    profile = state.profile
    return (
        profile.first_name,
        profile.last_name,
        profile.email,
        profile.language,
        db_json(list(profile.phone_numbers)),
        state.admin,
        state.acd_status.value,
        state.phone_status.value,
        rows.time(state.profile_at),
        rows.time(state.acd_at),
        rows.time(state.phone_at),
        state.dnd,
        rows.time(state.dnd_at),
        state.acd_paused_by_pbx,
    )


def take_write_lock(connection: Connection) -> None:
    """Lock the one row every writer locks first.

    Taking a row lock as the first statement serialises writers on all three databases (and
    on SQLite makes the transaction a writer before it reads), so no batch works from state
    another batch is about to change.
    """
    connection.exec_driver_sql(_TAKE_LOCK)


class SqlWorldRepository:
    """``cache`` is given to write transactions (they hold the lock): they read users' states
    from it where it is trusted, and add what they wrote once they committed."""

    def __init__(self, connection: Connection, cache: WorldCache | None = None) -> None:
        self._db = connection
        self._cache = cache
        self._basis: Remembered | None = None
        self._written: dict[str, UserState | None] = {}

    def writers(self) -> int | None:
        return self._db.scalar(select(BatchLockRow.batches).where(BatchLockRow.id == 1))

    def load(
        self, *, event_ids: Iterable[str], logins: Iterable[str], group_ids: Iterable[str]
    ) -> World:
        """Load what a batch can touch: its users, tombstones, groups and already-seen ids."""
        world, rows = World(), Rows(self._db)
        for part in chunks(sorted(set(event_ids))):
            found = rows.select("SELECT event_id FROM seen_events", "event_id", part)
            world.seen.update(event_id for (event_id,) in found)
        wanted = sorted(set(logins))
        remembered = self._remembered()
        unknown = []
        for login in wanted:
            state = None if remembered is None else remembered.get(login)
            if state is None:
                unknown.append(login)
            else:
                world.users[login] = state
        for part in chunks(unknown):
            self._read_users(world, part)
        if remembered is not None:  # what was read is remembered too, once committed
            self._written.update((login, world.users.get(login)) for login in unknown)
        for part in chunks(wanted):
            self._read_graves(world, part)
        self._read_groups(world, sorted(set(group_ids)))
        return world

    def _remembered(self) -> Remembered | None:
        if self._cache is not None and self._basis is None:
            version = self.writers()
            if version is not None:
                self._basis = self._cache.trusted(version)
        return self._basis

    def committed(self) -> None:
        """The transaction committed: what it wrote is the database's now."""
        if self._cache is not None and self._basis is not None:
            self._cache.remember(self._basis, self._written)

    def load_all(self) -> World:
        world = World()
        self._read_users(world, None)
        self._read_graves(world, None)
        self._read_groups(world, None)
        return world

    def _read_users(self, world: World, logins: Sequence[str] | None) -> None:
        rows, key = Rows(self._db), None if logins is None else "users_uid"
        for row in rows.select(_READ_USERS, key, logins or ()):
            world.users[row[0]] = user_state(row)

    def _read_graves(self, world: World, logins: Sequence[str] | None) -> None:
        rows, key = Rows(self._db), None if logins is None else "users_uid"
        for login, deleted_at in rows.select(_READ_GRAVES, key, logins or ()):
            moment = from_db_time(deleted_at)
            assert moment is not None
            world.deleted_at[login] = moment

    def _read_groups(self, world: World, wanted: list[str] | None) -> None:
        query = select(groups.group_id, groups.name, groups.occurred_at)
        rows: list[Any] = []
        if wanted is None:
            rows = list(self._db.execute(query))
        else:
            for part in chunks(wanted):
                rows.extend(self._db.execute(query.where(groups.group_id.in_(part))))
        found: dict[str, list[str]] = {row.group_id: [] for row in rows}
        for part in chunks(sorted(found)):
            for group_id, login in self._db.execute(
                select(members.group_id, members.users_uid).where(members.group_id.in_(part))
            ):
                found[group_id].append(login)
        for row in rows:
            world.groups[row.group_id] = GroupState(
                row.group_id, row.name, tuple(sorted(found[row.group_id])), row.occurred_at
            )

    def persist(
        self, before: World, after: World, *, password_hashes: Mapping[str, str], now: datetime
    ) -> None:
        """Write the difference between two working sets.

        ``password_hashes`` holds a hash for every user (re)created in the batch; a user in
        both sets who was re-created gets a new password and creation time.
        """
        db, rows = self._db, Rows(self._db)
        stamp = rows.time(now)
        if self._basis is not None:  # for the cache once committed: every state it wrote
            self._written.update(
                (login, after.users.get(login))
                for login, state in before.users.items()
                if after.users.get(login) != state or login in password_hashes
            )
            self._written.update(
                (login, state) for login, state in after.users.items() if login not in before.users
            )
        gone = [login for login in before.users if login not in after.users]
        recreated = [login for login in password_hashes if login in before.users]
        for part in chunks(sorted(set(gone) | set(recreated))):
            db.execute(delete(UserRow).where(users.users_uid.in_(part)))
        rows.insert(
            "jtel_users",
            ("users_uid", *USER_STATE, "password_hash", "created_at", "updated_at"),
            [
                (login, *user_values(state, rows), password_hashes[login], stamp, stamp)
                for login, state in after.users.items()
                if login not in before.users or login in password_hashes
            ],
        )
        rows.update(
            "jtel_users",
            (*USER_STATE, "updated_at"),
            "users_uid",
            [
                (*user_values(state, rows), stamp, login)
                for login, state in after.users.items()
                if login in before.users
                and login not in password_hashes
                and before.users[login] != state
            ],
        )

        graves = {
            login: at
            for login, at in after.deleted_at.items()
            if before.deleted_at.get(login) != at
        }
        for part in chunks(sorted(graves)):
            db.execute(delete(TombstoneRow).where(tombstones.users_uid.in_(part)))
        if graves:
            db.execute(
                insert(TombstoneRow),
                [{"users_uid": login, "deleted_at": at} for login, at in graves.items()],
            )
        self._persist_groups(before, after, password_hashes, now)
        rows.insert(
            "seen_events",
            ("event_id", "seen_at"),
            [(event_id, stamp) for event_id in sorted(after.seen - before.seen)],
        )

    def _persist_groups(
        self, before: World, after: World, password_hashes: Mapping[str, str], now: datetime
    ) -> None:
        db = self._db
        changed = [
            group
            for group_id, group in after.groups.items()
            if before.groups.get(group_id) != group
            or any(login in password_hashes and login in before.users for login in group.members)
        ]
        created = [g for g in changed if g.group_id not in before.groups]
        if created:
            db.execute(
                insert(GroupRow),
                [
                    {
                        "group_id": g.group_id,
                        "name": g.name,
                        "occurred_at": g.updated_at,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for g in created
                ],
            )
        kept = [g for g in changed if g.group_id in before.groups]
        if kept:
            db.execute(
                _UPDATE_GROUP,
                [
                    {
                        "key": g.group_id,
                        "name": g.name,
                        "occurred_at": g.updated_at,
                        "updated_at": now,
                    }
                    for g in kept
                ],
            )
        # Memberships change by difference only: a group loaded for this batch may have
        # members the batch never loaded, and those rows must stay as they are.
        gone_rows: list[tuple[str, str]] = []
        new_rows: list[dict[str, str]] = []
        for group in changed:
            old = (
                set(before.groups[group.group_id].members)
                if group.group_id in before.groups
                else set()
            )
            new = set(group.members)
            gone_rows.extend((group.group_id, login) for login in sorted(old - new))
            # a re-created user's membership went with the old row (ON DELETE CASCADE)
            again = {login for login in new & old if login in password_hashes}
            new_rows.extend(
                {"group_id": group.group_id, "users_uid": login}
                for login in sorted(new - old | again)
            )
        for part in chunks(gone_rows):
            db.execute(
                delete(GroupMemberRow).where(tuple_(members.group_id, members.users_uid).in_(part))
            )
        if new_rows:
            db.execute(insert(GroupMemberRow), new_rows)
