"""The simulated PBX's state: users, groups, permissions and phone numbers, in memory.

:class:`SimulatedPbx` is what tests and the event pusher change and what the HTTP app serves
(through :class:`~.render.RestRenderer`). Every mutation, or :meth:`~SimulatedPbx.batch` of
mutations, raises :attr:`SimulatedPbx.version`, so renderers and pollers notice changes cheaply.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence, Set
from contextlib import contextmanager
from dataclasses import dataclass

from ..domain.pbx import PbxGroup, PbxSnapshot, PbxUser
from .datagen import Numbering, mail_address, populate
from .records import (
    ADMIN_PERMISSION_ID,
    DEFAULT_PERMISSION_IDS,
    PERMISSIONS,
    SimGroup,
    SimNumber,
    SimUser,
    parse_number,
)

__all__ = ["PbxView", "SimulatedPbx"]


@dataclass(frozen=True)
class PbxView:
    """Read access to the records at one state version; valid only inside :meth:`view`."""

    version: int
    users: Mapping[int, SimUser]
    groups: Mapping[int, SimGroup]
    numbers: Mapping[int, SimNumber]
    #: Per permission id, the ids of the users holding it.
    grants: Mapping[int, Set[int]]


class SimulatedPbx:
    """In-memory PBX state: users, groups, permissions and phone numbers.

    Thread-safe: the HTTP server reads it from its event-loop thread while tests or an event
    pusher mutate it from others. User ids and group ids share one account-id space, as on
    STARFACE, where both are accounts.
    """

    def __init__(self, *, seed: int = 42) -> None:
        self._lock = threading.RLock()
        self._rng = random.Random(seed)
        self._numbering = Numbering()
        self._users: dict[int, SimUser] = {}
        self._user_by_login: dict[str, int] = {}
        self._groups: dict[int, SimGroup] = {}
        self._numbers: dict[int, SimNumber] = {}
        self._grants: dict[int, set[int]] = {pid: set() for pid, _, _ in PERMISSIONS}
        self._version = 0
        self._batch_depth = 0
        self._batch_changed = False

    @classmethod
    def generate(cls, users: int, groups: int, seed: int = 42) -> SimulatedPbx:
        """Build a deterministic PBX: same arguments, same data (see :func:`.datagen.populate`).

        Names mix German, English and French first and family names (with umlauts and
        accents); logins are "1001", "1002", ...; about 10% of users are administrators; every
        user has an internal number and about half also an external one; each user is in 0-2
        of the ``groups`` groups. A few spare and group numbers exercise filters.
        """
        pbx = cls(seed=seed)
        populate(pbx, users, groups)
        return pbx

    @property
    def rng(self) -> random.Random:
        """The seeded random source that generated data and person ids draw from, in order."""
        return self._rng

    # ----------------------------------------------------------------- reading
    @property
    def version(self) -> int:
        """Increases on every mutation; lets pollers notice changes cheaply."""
        with self._lock:
            return self._version

    @contextmanager
    def view(self) -> Iterator[PbxView]:
        """Hold the lock and read the records; no mutation happens until the block ends."""
        with self._lock:
            yield PbxView(self._version, self._users, self._groups, self._numbers, self._grants)

    def user_ids(self) -> list[int]:
        """All user ids, ascending."""
        with self._lock:
            return sorted(self._users)

    def group_ids(self) -> list[int]:
        """All group ids, ascending."""
        with self._lock:
            return sorted(self._groups)

    def user_id_for_login(self, login: str) -> int:
        """Map a Login-ID to the user id; KeyError if unknown."""
        with self._lock:
            return self._user_by_login[login]

    def admin_ids(self) -> set[int]:
        """Ids of users holding the administration permission."""
        with self._lock:
            return set(self._grants[ADMIN_PERMISSION_ID])

    def snapshot(self) -> PbxSnapshot:
        """The ground truth a correct client must reproduce from the REST API."""
        with self._lock:
            numbers_by_user: dict[int, list[str]] = {}
            for num in self._numbers.values():
                if num.user_id is not None:
                    numbers_by_user.setdefault(num.user_id, []).append(num.full)
            admins = self._grants[ADMIN_PERMISSION_ID]
            users = tuple(
                PbxUser(
                    id=u.id,
                    login=u.login,
                    first_name=u.first_name,
                    family_name=u.family_name,
                    email=u.email,
                    language=u.language,
                    admin=u.id in admins,
                    phone_numbers=tuple(sorted(numbers_by_user.get(u.id, ()))),
                )
                for u in sorted(self._users.values(), key=lambda u: u.id)
            )
            groups = tuple(
                PbxGroup(
                    id=g.id,
                    name=g.name,
                    member_logins=tuple(sorted(self._users[m].login for m in g.member_ids)),
                )
                for g in sorted(self._groups.values(), key=lambda g: g.id)
            )
        return PbxSnapshot(users=users, groups=groups)

    # ----------------------------------------------------------------- mutations
    @contextmanager
    def batch(self) -> Iterator[None]:
        """Make the mutations inside the block count as one.

        The lock is held throughout, so other threads see all of them at once, and
        :attr:`version` moves by one step at the end (read nothing cached inside the block).
        """
        with self._lock:
            self._batch_depth += 1
            try:
                yield
            finally:
                self._batch_depth -= 1
                if not self._batch_depth and self._batch_changed:
                    self._batch_changed = False
                    self._version += 1

    def new_login(self) -> str:
        """Reserve the next Login-ID that :meth:`add_user` would assign by default."""
        with self._lock:
            return self._numbering.login()

    def new_extension(self) -> str:
        """Reserve the next free internal extension (no number is created yet)."""
        with self._lock:
            return self._numbering.extension()

    def add_user(
        self,
        *,
        first_name: str,
        family_name: str,
        email: str | None = None,
        language: str = "de",
        login: str | None = None,
        admin: bool = False,
        phone_numbers: Sequence[str] | None = None,
    ) -> int:
        """Create a user and return its id.

        ``login`` defaults to the next free Login-ID; ``phone_numbers`` defaults to one new
        internal extension. Numbers starting with "+" or "0" or longer than six digits are
        EXTERNAL, others INTERNAL; "+49 721 5551001" is stored in its parts, bare digits
        ("5551001") belong to this PBX's own block (see :func:`.records.parse_number`).
        """
        with self._lock:
            numbers = (
                [self._numbering.extension()] if phone_numbers is None else list(phone_numbers)
            )
            if login is None:
                login = self._numbering.login()
            self._check_login_free(login, None)
            user_id = self._numbering.account_id()
            if email is None:
                email = mail_address(first_name, family_name, login)
            person_id = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
            self._users[user_id] = SimUser(
                user_id, login, first_name, family_name, email, language, person_id
            )
            self._user_by_login[login] = user_id
            for number in numbers:
                self._new_number(number, user_id=user_id)
            for pid in DEFAULT_PERMISSION_IDS:
                self._grants[pid].add(user_id)
            if admin:
                self._grants[ADMIN_PERMISSION_ID].add(user_id)
            self._touch()
            return user_id

    def update_user(
        self,
        user_id: int,
        *,
        first_name: str | None = None,
        family_name: str | None = None,
        email: str | None = None,
        language: str | None = None,
        login: str | None = None,
        phone_numbers: Sequence[str] | None = None,
    ) -> None:
        """Change the given fields of a user; ``phone_numbers`` replaces all its numbers."""
        with self._lock:
            user = self._users[user_id]
            if login is not None:
                self._check_login_free(login, user_id)
                del self._user_by_login[user.login]
                self._user_by_login[login] = user_id
                user.login = login
            if first_name is not None:
                user.first_name = first_name
            if family_name is not None:
                user.family_name = family_name
            if email is not None:
                user.email = email
            if language is not None:
                user.language = language
            if phone_numbers is not None:
                self._drop_numbers_of(user_id)
                for number in phone_numbers:
                    self._new_number(number, user_id=user_id)
            self._touch()

    def delete_user(self, user_id: int) -> None:
        """Remove a user with its group memberships, permissions and phone numbers."""
        with self._lock:
            user = self._users.pop(user_id)
            del self._user_by_login[user.login]
            for group in self._groups.values():
                group.member_ids.discard(user_id)
            for holders in self._grants.values():
                holders.discard(user_id)
            self._drop_numbers_of(user_id)
            self._touch()

    def set_admin(self, user_id: int, admin: bool) -> None:
        """Grant or revoke the administration permission."""
        with self._lock:
            if user_id not in self._users:
                raise KeyError(user_id)
            holders = self._grants[ADMIN_PERMISSION_ID]
            if admin:
                holders.add(user_id)
            else:
                holders.discard(user_id)
            self._touch()

    def set_group_members(self, group_id: int, member_ids: Iterable[int]) -> None:
        """Replace the members of a group by the given user ids."""
        with self._lock:
            group = self._groups[group_id]
            members = set(member_ids)
            unknown = members - self._users.keys()
            if unknown:
                raise KeyError(f"unknown user ids: {sorted(unknown)}")
            group.member_ids = members
            self._touch()

    def add_group(self, name: str, member_ids: Iterable[int] = ()) -> int:
        """Create a group (with its own internal number) and return its id."""
        with self._lock:
            gid = self._numbering.account_id()
            self._groups[gid] = SimGroup(id=gid, name=name)
            self._new_number(self._numbering.group_extension(), user_id=None).group_id = gid
            self._touch()
        if member_ids:
            self.set_group_members(gid, member_ids)
        return gid

    def delete_group(self, group_id: int) -> None:
        """Remove a group and its group numbers."""
        with self._lock:
            del self._groups[group_id]
            for num_id in [n.id for n in self._numbers.values() if n.group_id == group_id]:
                del self._numbers[num_id]
            self._touch()

    def add_number(self, number: str | None = None) -> int:
        """Create an unassigned phone number (default: the next free extension); return its id."""
        with self._lock:
            created = self._new_number(
                self._numbering.extension() if number is None else number, user_id=None
            )
            self._touch()
            return created.id

    # ----------------------------------------------------------------- internals
    def _check_login_free(self, login: str, owner: int | None) -> None:
        if not login:
            raise ValueError("login must not be empty")
        holder = self._user_by_login.get(login)
        if holder is not None and holder != owner:
            raise ValueError(f"login {login!r} is already used by user {holder}")

    def _new_number(self, number: str, *, user_id: int | None) -> SimNumber:
        num_id = self._numbering.number_id()
        kind, exit_code, national, local, digits = parse_number(number)
        num = SimNumber(num_id, digits, kind, user_id, None, exit_code, national, local)
        self._numbers[num.id] = num
        return num

    def _drop_numbers_of(self, user_id: int) -> None:
        for num_id in [n.id for n in self._numbers.values() if n.user_id == user_id]:
            del self._numbers[num_id]

    def _touch(self) -> None:
        if self._batch_depth:
            self._batch_changed = True
        else:
            self._version += 1
