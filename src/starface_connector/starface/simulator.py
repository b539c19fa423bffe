"""A STARFACE PBX simulator: the REST endpoints the connector uses, served over real HTTP.

The connector must be developed and tested without a PBX, and the import of 10,000 users has
to be measurable. This module keeps a PBX state in memory (:class:`SimulatedPbx`), renders it
exactly as the STARFACE REST API 6.7.0.22 specification describes (Swagger 2.0, paths under
``/rest``) and serves it with Starlette (:func:`create_simulator_app`), including the nonce
login, ``authToken`` checks, and injected faults and latency for resilience tests.

Where the specification is silent or odd, the simulator chooses the documented option:

* ``GET /groups/{groupid}`` for an unknown group answers 500 (the only documented error).
* ``GET /users/{userId}`` for an unknown user answers 404 with a body that satisfies the
  documented ``User`` schema (all required strings empty).
* ``GET /users/{userId}/phonenumberconfig/phonenumbers/`` for an unknown user answers 400
  with an empty ``PhoneNumberAssignment`` array, as documented.
* ``POST /login`` with wrong credentials or a used nonce answers 400 with an ``AuthToken``
  whose ``token`` is empty, as documented.
* Optional integer fields such as ``PhoneNumber.assignedUserAccountId`` are left out instead
  of being ``null``, because the schema types them as plain integers.

Two behaviours are deliberately outside the specification, as real PBXs and proxies do it:
requests without a valid ``authToken`` get 401, and injected faults answer 500 or 503 with the
header ``X-Simulator-Fault: injected`` so tests can tell them from real answers. An
``X-Version`` header other than 1 or 2 is refused with 400.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import re
import secrets
import threading
import unicodedata
import uuid
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from starface_connector.domain.pbx import PbxGroup, PbxSnapshot, PbxUser

__all__ = [
    "ADMIN_PERMISSION",
    "FAULT_HEADER",
    "SUPPORTED_API_VERSIONS",
    "SimulatedPbx",
    "SimulatorControl",
    "compute_internal_secret",
    "create_simulator_app",
]

#: Name (``PermissionInfo.permission``) of the permission that makes a user an administrator.
ADMIN_PERMISSION = "administration"
#: ``X-Version`` header values the simulator accepts (a missing header is accepted too).
SUPPORTED_API_VERSIONS = frozenset({"1", "2"})
#: Header marking injected faults so tests can tell them from real answers.
FAULT_HEADER = "X-Simulator-Fault"

# Permission catalogue: (id, permission, description). The administration permission does not
# have the first id on purpose, so clients must look it up by name.
_PERMISSIONS: tuple[tuple[int, str, str], ...] = (
    (1, "callList", "Access to the call list"),
    (2, "phoneBook", "Access to the phone book"),
    (3, "fax", "Send and receive faxes"),
    (4, "voicemail", "Use voicemail boxes"),
    (5, "ucc", "Use the UCC client"),
    (6, "conference", "Manage conferences"),
    (7, ADMIN_PERMISSION, "Administration of the STARFACE"),
    (8, "ifmc", "Use iFMC"),
)
_ADMIN_PERMISSION_ID = 7
_DEFAULT_PERMISSION_IDS = (1, 2, 5)
_CALL_SERVICE_ID = 1
_INTERNAL_BLOCK_ID = 1
_EXTERNAL_BLOCK_ID = 2

_FIRST_NAMES: dict[str, tuple[str, ...]] = {
    "de": (
        "Jürgen", "Jörg", "Björn", "Günther", "Käthe", "Sören", "Bärbel", "Dörte",
        "Maximilian", "Lukas", "Sophie", "Hannah", "Uwe", "Anneliese", "Matthias", "Ursula",
    ),
    "en": (
        "James", "Olivia", "Emily", "Oliver", "Charlotte", "William", "Grace", "Harry",
        "Amelia", "Jack", "Siobhán", "Eleanor", "George", "Isla", "Thomas", "Ruby",
    ),
    "fr": (
        "Amélie", "Benoît", "Chloé", "Élodie", "François", "Hélène", "Jérôme", "Léa",
        "Noël", "Zoé", "Gaëlle", "Loïc", "Anaïs", "Cédric", "Mathéo", "Renée",
    ),
}  # fmt: skip
_FAMILY_NAMES: dict[str, tuple[str, ...]] = {
    "de": (
        "Müller", "Schröder", "Weiß", "Groß", "Bäcker", "Köhler", "Schäfer", "Hoffmann",
        "Wagner", "Becker", "Krüger", "Lührs", "Fuchs", "Öztürk", "Jäger", "Schmidt",
    ),
    "en": (
        "Smith", "Johnson", "Brown", "Taylor", "Wilson", "O'Brien", "Walker", "Clarke",
        "Hughes", "Wright", "Evans", "Roberts", "Green", "Hall", "Wood", "Turner",
    ),
    "fr": (
        "Lefèvre", "Dubois", "Moreau", "Girard", "Bélanger", "Côté", "Fontaine", "Leroy",
        "Gauthier", "Mercier", "Brûlé", "Lemaître", "Faure", "Rousseau", "Châtelain", "Périer",
    ),
}  # fmt: skip
_GROUP_NAMES: tuple[str, ...] = (
    "Vertrieb", "Support", "Service client", "Buchhaltung", "Hotline", "Sales", "Technik",
    "Réception", "Kundenservice", "Marketing", "Logistik", "Comptabilité", "Einkauf",
    "Personalabteilung", "Direction", "Helpdesk",
)  # fmt: skip
_LANGUAGES = ("de", "en", "fr")
_TRANSLIT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe"})


def _ascii_mail_part(name: str) -> str:
    """Fold a name into the ASCII local part of an e-mail address (Jürgen -> juergen)."""
    folded = unicodedata.normalize("NFKD", name.translate(_TRANSLIT).replace("Ü", "Ue"))
    ascii_only = folded.encode("ascii", "ignore").decode("ascii").lower()
    return "".join(ch for ch in ascii_only if ch.isalnum() or ch in ".-")


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, as a PBX would send it (one shared encoder: cheap for small values)."""
    return _ENCODER.encode(value).encode("utf-8")


def compute_internal_secret(login: str, nonce: str, password: str) -> str:
    """The ``Internal`` login secret: ``login:SHA512hex(login + nonce + SHA512hex(password))``."""
    pw_hash = hashlib.sha512(password.encode("utf-8")).hexdigest()
    digest = hashlib.sha512(f"{login}{nonce}{pw_hash}".encode()).hexdigest()
    return f"{login}:{digest}"


@dataclass
class _SimUser:
    id: int
    login: str
    first_name: str
    family_name: str
    email: str
    language: str
    person_id: str

    def rest(self) -> dict[str, Any]:
        """The user as a spec ``User`` object (``password`` is never sent back)."""
        return {
            "id": self.id,
            "login": self.login,
            "firstName": self.first_name,
            "familyName": self.family_name,
            "email": self.email,
            "language": self.language,
            "personId": self.person_id,
            "missedCallReport": False,
            "faxCoverPage": False,
            "faxEmailJournal": False,
        }


@dataclass
class _SimGroup:
    id: int
    name: str
    member_ids: set[int] = field(default_factory=set)


@dataclass
class _SimNumber:
    id: int
    number: str
    type: str
    user_id: int | None = None
    group_id: int | None = None

    def rest(self) -> dict[str, Any]:
        """The number as a spec ``PhoneNumber``; unassigned ids are omitted, never null."""
        internal = self.type == "INTERNAL"
        out: dict[str, Any] = {
            "id": self.id,
            "number": self.number,
            "type": self.type,
            "numberBlockId": _INTERNAL_BLOCK_ID if internal else _EXTERNAL_BLOCK_ID,
        }
        if not internal:
            out.update(exitCode="0", nationalPrefix="49", localPrefix="721")
        if self.user_id is not None:
            out["assignedUserAccountId"] = self.user_id
            out["assignedServiceId"] = _CALL_SERVICE_ID
        if self.group_id is not None:
            out["assignedGroupAccountId"] = self.group_id
        return out


class SimulatedPbx:
    """In-memory PBX state: users, groups, permissions and phone numbers.

    Thread-safe: the HTTP server reads it from its event-loop thread while tests or an event
    pusher mutate it from others. Rendered JSON is cached and dropped on every mutation, so
    large PBXs are served without per-request O(N) work. User ids and group ids share one
    account-id space, as on STARFACE, where both are accounts.
    """

    def __init__(self, *, seed: int = 42) -> None:
        self._lock = threading.RLock()
        self._rng = random.Random(seed)
        self._users: dict[int, _SimUser] = {}
        self._user_by_login: dict[str, int] = {}
        self._groups: dict[int, _SimGroup] = {}
        self._numbers: dict[int, _SimNumber] = {}
        self._grants: dict[int, set[int]] = {pid: set() for pid, _, _ in _PERMISSIONS}
        self._next_account_id = 100
        self._next_login = 1001
        self._next_number_id = 1
        self._next_extension = 20000
        self._next_group_extension = 80000
        self._version = 0
        self._cache: dict[Any, bytes] = {}
        self._group_number_index: dict[int, list[_SimNumber]] | None = None
        self._fragments: dict[tuple[int, bool], bytes] = {}

    # ----------------------------------------------------------------- generation
    @classmethod
    def generate(cls, users: int, groups: int, seed: int = 42) -> SimulatedPbx:
        """Build a deterministic PBX: same arguments, same data.

        Names mix German, English and French first and family names (with umlauts and
        accents); logins are "1001", "1002", ...; about 10% of users are administrators; every
        user has an internal number and about half also an external one; each user is in 0-2
        of the ``groups`` groups. A few spare and group numbers exercise filters.
        """
        if users < 0 or groups < 0:
            raise ValueError("users and groups must not be negative")
        pbx = cls(seed=seed)
        rng = pbx._rng
        with pbx._lock:
            group_ids = [
                pbx._new_group(
                    _GROUP_NAMES[j % len(_GROUP_NAMES)]
                    + ("" if j < len(_GROUP_NAMES) else f" {j // len(_GROUP_NAMES) + 1}")
                )
                for j in range(groups)
            ]
            for _ in range(users):
                first = rng.choice(_FIRST_NAMES[rng.choice(_LANGUAGES)])
                family = rng.choice(_FAMILY_NAMES[rng.choice(_LANGUAGES)])
                numbers = [pbx._take_extension()]
                if rng.random() < 0.5:
                    numbers.append(f"{5550000 + pbx._next_login}")
                user_id = pbx._add_user_locked(
                    first_name=first,
                    family_name=family,
                    email=None,
                    language=rng.choice(_LANGUAGES),
                    login=None,
                    admin=rng.random() < 0.1,
                    phone_numbers=numbers,
                )
                if group_ids:
                    roll = rng.random()
                    count = 0 if roll < 0.1 else (1 if roll < 0.7 else 2)
                    for gid in rng.sample(group_ids, min(count, len(group_ids))):
                        pbx._groups[gid].member_ids.add(user_id)
            for _ in range(max(1, users // 50)):  # spare, unassigned numbers
                pbx._new_number(pbx._take_extension(), user_id=None)
            pbx._touch()
        return pbx

    def _new_group(self, name: str) -> int:
        gid = self._take_account_id()
        self._groups[gid] = _SimGroup(id=gid, name=name)
        number = str(self._next_group_extension)
        self._next_group_extension += 1
        num = self._new_number(number, user_id=None)
        num.group_id = gid
        return gid

    def _take_account_id(self) -> int:
        # Gaps between ids, as on a PBX where accounts were deleted over time.
        account_id = self._next_account_id
        self._next_account_id += 2
        return account_id

    def _take_extension(self) -> str:
        ext = str(self._next_extension)
        self._next_extension += 1
        return ext

    def _new_number(self, number: str, *, user_id: int | None) -> _SimNumber:
        kind = "EXTERNAL" if number.startswith(("+", "0")) or len(number) > 6 else "INTERNAL"
        num = _SimNumber(id=self._next_number_id, number=number, type=kind, user_id=user_id)
        self._next_number_id += 1
        self._numbers[num.id] = num
        return num

    def _touch(self) -> None:
        self._version += 1
        self._cache.clear()
        self._group_number_index = None
        self._fragments.clear()

    # ----------------------------------------------------------------- reading
    @property
    def version(self) -> int:
        """Increases on every mutation; lets pollers notice changes cheaply."""
        with self._lock:
            return self._version

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
            return set(self._grants[_ADMIN_PERMISSION_ID])

    def snapshot(self) -> PbxSnapshot:
        """The ground truth a correct client must reproduce from the REST API."""
        with self._lock:
            numbers_by_user: dict[int, list[str]] = {}
            for num in self._numbers.values():
                if num.user_id is not None:
                    numbers_by_user.setdefault(num.user_id, []).append(num.number)
            admins = self._grants[_ADMIN_PERMISSION_ID]
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
        EXTERNAL, others INTERNAL.
        """
        with self._lock:
            numbers = [self._take_extension()] if phone_numbers is None else list(phone_numbers)
            user_id = self._add_user_locked(
                first_name=first_name,
                family_name=family_name,
                email=email,
                language=language,
                login=login,
                admin=admin,
                phone_numbers=numbers,
            )
            self._touch()
            return user_id

    def _add_user_locked(
        self,
        *,
        first_name: str,
        family_name: str,
        email: str | None,
        language: str,
        login: str | None,
        admin: bool,
        phone_numbers: Iterable[str],
    ) -> int:
        if login is None:
            login = str(self._next_login)
            self._next_login += 1
        self._check_login_free(login, None)
        user_id = self._take_account_id()
        if email is None:
            email = (
                f"{_ascii_mail_part(first_name)}.{_ascii_mail_part(family_name)}"
                f".{login}@example.com"
            )
        person_id = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        self._users[user_id] = _SimUser(
            user_id, login, first_name, family_name, email, language, person_id
        )
        self._user_by_login[login] = user_id
        for number in phone_numbers:
            self._new_number(number, user_id=user_id)
        for pid in _DEFAULT_PERMISSION_IDS:
            self._grants[pid].add(user_id)
        if admin:
            self._grants[_ADMIN_PERMISSION_ID].add(user_id)
        return user_id

    def _check_login_free(self, login: str, owner: int | None) -> None:
        if not login:
            raise ValueError("login must not be empty")
        holder = self._user_by_login.get(login)
        if holder is not None and holder != owner:
            raise ValueError(f"login {login!r} is already used by user {holder}")

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

    def _drop_numbers_of(self, user_id: int) -> None:
        for num_id in [n.id for n in self._numbers.values() if n.user_id == user_id]:
            del self._numbers[num_id]

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
            holders = self._grants[_ADMIN_PERMISSION_ID]
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
            gid = self._new_group(name)
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

    # ----------------------------------------------------------------- REST rendering
    def _cached(self, key: Any, build: Callable[[], Any]) -> bytes:
        with self._lock:
            data = self._cache.get(key)
            if data is None:
                data = _dumps(build())
                self._cache[key] = data
            return data

    def _numbers_by_group(self) -> dict[int, list[_SimNumber]]:
        """Group numbers per group id, built once per state version (callers hold the lock)."""
        index = self._group_number_index
        if index is None:
            index = {}
            for num in sorted(self._numbers.values(), key=lambda n: n.id):
                if num.group_id is not None:
                    index.setdefault(num.group_id, []).append(num)
            self._group_number_index = index
        return index

    def _users_sorted(self) -> list[_SimUser]:
        return sorted(self._users.values(), key=lambda u: u.id)

    def render_users(self, search_term: str | None) -> bytes:
        """``GET /users``: all users, or those whose name, login or e-mail contain the term."""
        if not search_term:
            return self._cached("users", lambda: [u.rest() for u in self._users_sorted()])
        term = search_term.casefold()
        with self._lock:
            found = [
                u.rest()
                for u in self._users_sorted()
                if any(
                    term in text.casefold()
                    for text in (u.first_name, u.family_name, u.login, u.email)
                )
            ]
        return _dumps(found)

    def render_user(self, user_id: int) -> bytes | None:
        """``GET /users/{userId}``; None if unknown."""
        with self._lock:
            user = self._users.get(user_id)
            return None if user is None else _dumps(user.rest())

    def render_groups(self) -> bytes:
        """``GET /groups``: ``GroupListItem`` objects."""

        def build() -> list[dict[str, Any]]:
            by_group = self._numbers_by_group()
            items = []
            for group in sorted(self._groups.values(), key=lambda g: g.id):
                item: dict[str, Any] = {"id": group.id, "groupname": group.name}
                if by_group.get(group.id):
                    item["groupinternalnumber"] = by_group[group.id][0].number
                items.append(item)
            return items

        return self._cached("groups", build)

    def render_group(self, group_id: int, list_unassigned: bool) -> bytes | None:
        """``GET /groups/{groupid}``: a ``Group``; None if unknown.

        ``assignableUsers`` lists the members with ``assigned: true``; with
        ``list_unassigned`` every other user follows with ``assigned: false``, like the
        assignment dialog of a PBX does.
        """

        with self._lock:
            group = self._groups.get(group_id)
            if group is None:
                return None
            key = ("group", group_id, list_unassigned)
            cached = self._cache.get(key)
            if cached is not None:
                return cached
            numbers = self._numbers_by_group().get(group_id, [])
            head = _dumps(
                {
                    "id": group.id,
                    "groupId": str(group.id),
                    "name": group.name,
                    "chatGroup": False,
                    "voicemail": False,
                    "assignableNumbers": [
                        {"id": n.id, "assigned": True, "extension": n.number, "intern": True}
                        for n in numbers
                    ],
                }
            )
            # Splice pre-rendered user entries in: with list_unassigned a 10k-user PBX would
            # otherwise build and encode 10k dicts per group.
            members = group.member_ids
            if list_unassigned:
                entries = [self._fragment(uid, uid in members) for uid in sorted(self._users)]
            else:
                entries = [self._fragment(uid, True) for uid in sorted(members)]
            body = head[:-1] + b',"assignableUsers":[' + b",".join(entries) + b"]}"
            self._cache[key] = body
            return body

    def _fragment(self, user_id: int, assigned: bool) -> bytes:
        """A user's ``AssignableUser`` JSON, rendered once per state version."""
        key = (user_id, assigned)
        fragment = self._fragments.get(key)
        if fragment is None:
            user = self._users[user_id]
            entry = {
                "id": user.id,
                "firstname": user.first_name,
                "lastname": user.family_name,
                "assigned": assigned,
            }
            fragment = self._fragments[key] = _dumps(entry)
        return fragment

    def render_permissions(self) -> bytes:
        """``GET /permissions``: the ``PermissionInfo`` catalogue."""
        return self._cached(
            "permissions",
            lambda: [
                {"id": pid, "permission": name, "description": desc}
                for pid, name, desc in _PERMISSIONS
            ],
        )

    def render_permission_users(self, permission_id: int) -> bytes | None:
        """``GET /permissions/{permissionId}/users``: ``User`` objects; None if unknown."""
        with self._lock:
            if permission_id not in self._grants:
                return None
            return self._cached(
                ("permission-users", permission_id),
                lambda: [self._users[uid].rest() for uid in sorted(self._grants[permission_id])],
            )

    def render_user_permissions(self, user_id: int) -> bytes | None:
        """``GET /permissions/users/{userId}``: ``PermissionInfo`` objects; None if unknown."""
        with self._lock:
            if user_id not in self._users:
                return None
            return _dumps(
                [
                    {"id": pid, "permission": name, "description": desc}
                    for pid, name, desc in _PERMISSIONS
                    if user_id in self._grants[pid]
                ]
            )

    def render_phone_numbers(self, number_type: str | None, assigned: bool | None) -> bytes:
        """``GET /phonenumbers`` with the optional ``type`` and ``assigned`` filters."""

        def build() -> list[dict[str, Any]]:
            out = []
            for num in sorted(self._numbers.values(), key=lambda n: n.id):
                if number_type is not None and num.type != number_type:
                    continue
                is_assigned = num.user_id is not None or num.group_id is not None
                if assigned is not None and is_assigned != assigned:
                    continue
                out.append(num.rest())
            return out

        return self._cached(("phonenumbers", number_type, assigned), build)

    def render_number_assignments(self, user_id: int) -> bytes | None:
        """``GET /users/{userId}/phonenumberconfig/phonenumbers/``; None if unknown."""
        with self._lock:
            if user_id not in self._users:
                return None
            return _dumps(
                [
                    {"accountId": user_id, "phoneNumberId": n.id, "serviceId": _CALL_SERVICE_ID}
                    for n in sorted(self._numbers.values(), key=lambda n: n.id)
                    if n.user_id == user_id
                ]
            )


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
            while len(self._nonces) > 10_000:
                self._nonces.popitem(last=False)
        return nonce

    def try_login(self, login_type: Any, nonce: Any, secret: Any) -> str | None:
        """Check a login (consuming the nonce); return a new token or None."""
        if not all(isinstance(v, str) for v in (login_type, nonce, secret)):
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

    def reset_counters(self) -> None:
        """Zero the request statistics (not the sessions)."""
        with self._lock:
            self.requests.clear()
            self.api_versions.clear()
            self.faults_injected = 0
            self.logins_succeeded = 0
            self.logins_failed = 0
            self.max_in_flight = self.in_flight


_JSON = "application/json"
_CONVERTER = re.compile(r":\w+}")
Handler = Callable[[Request], Awaitable[Response]]


def _json(body: bytes, status: int = 200) -> Response:
    return Response(content=body, status_code=status, media_type=_JSON)


def _parse_bool(raw: str | None) -> bool | None:
    if raw is None:
        return None
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    raise ValueError(raw)


def create_simulator_app(
    pbx: SimulatedPbx,
    *,
    login: str = "admin",
    password: str = "starface",
    error_rate: float = 0.0,
    latency: float = 0.0,
    seed: int = 42,
    list_unassigned_users: bool = False,
) -> Starlette:
    """Build the ASGI app serving ``pbx`` under ``/rest``.

    ``login``/``password`` is the one API account that may log in. ``error_rate`` is the share
    of requests answered 500 or 503 (seeded by ``seed``), ``latency`` seconds are added to every
    request. ``list_unassigned_users`` makes group details list all users, not only members.
    """
    control = SimulatorControl(
        login=login,
        password=password,
        error_rate=error_rate,
        latency=latency,
        seed=seed,
        list_unassigned_users=list_unassigned_users,
    )

    def guarded(method: str, template: str, handler: Handler, *, auth: bool = True) -> Route:
        """Wrap a handler with counting, latency, fault injection, version and token checks."""
        key = method + " " + _CONVERTER.sub("}", template)  # spec path template as key

        async def endpoint(request: Request) -> Response:
            version = request.headers.get("x-version")
            control.enter(key, version)
            try:
                if control.latency:
                    await asyncio.sleep(control.latency)
                fault = control.draw_fault()
                if fault is not None:
                    body = _dumps({"message": f"simulated fault {fault}"})
                    response = _json(body, fault)
                    response.headers[FAULT_HEADER] = "injected"
                    return response
                if version is not None and version not in SUPPORTED_API_VERSIONS:
                    return _json(_dumps({"message": f"unsupported X-Version {version}"}), 400)
                if auth and not control.token_valid(request.headers.get("authtoken")):
                    return _json(_dumps({"message": "authToken missing or invalid"}), 401)
                return await handler(request)
            finally:
                control.leave()

        return Route("/rest" + template, endpoint, methods=[method])

    async def get_login(request: Request) -> Response:
        return _json(_dumps({"loginType": "Internal", "nonce": control.new_nonce()}))

    async def post_login(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        token = None
        if isinstance(body, dict):
            token = control.try_login(body.get("loginType"), body.get("nonce"), body.get("secret"))
        if token is None:
            return _json(_dumps({"token": ""}), 400)
        return _json(_dumps({"token": token}))

    async def delete_login(request: Request) -> Response:
        token = request.headers.get("authtoken")
        if token is None:
            return _json(_dumps({"message": "authToken header missing"}), 401)
        control.logout(token)
        return Response(status_code=204)

    async def get_users(request: Request) -> Response:
        return _json(pbx.render_users(request.query_params.get("searchTerm")))

    async def get_user(request: Request) -> Response:
        body = pbx.render_user(request.path_params["userId"])
        if body is None:
            empty_user = {"email": "", "familyName": "", "firstName": "", "language": ""}
            return _json(_dumps({**empty_user, "login": ""}), 404)
        return _json(body)

    async def get_groups(request: Request) -> Response:
        return _json(pbx.render_groups())

    async def get_group(request: Request) -> Response:
        body = pbx.render_group(request.path_params["groupid"], control.list_unassigned_users)
        if body is None:
            return _json(_dumps({"message": "group not found"}), 500)
        return _json(body)

    async def get_permissions(request: Request) -> Response:
        return _json(pbx.render_permissions())

    async def get_permission_users(request: Request) -> Response:
        body = pbx.render_permission_users(request.path_params["permissionId"])
        if body is None:
            return _json(_dumps({"message": "permission not found"}), 404)
        return _json(body)

    async def get_user_permissions(request: Request) -> Response:
        body = pbx.render_user_permissions(request.path_params["userId"])
        if body is None:
            return _json(_dumps({"message": "user not found"}), 404)
        return _json(body)

    async def get_phone_numbers(request: Request) -> Response:
        try:
            assigned = _parse_bool(request.query_params.get("assigned"))
        except ValueError:
            return _json(_dumps({"message": "assigned must be true or false"}), 500)
        return _json(pbx.render_phone_numbers(request.query_params.get("type"), assigned))

    async def get_number_assignments(request: Request) -> Response:
        body = pbx.render_number_assignments(request.path_params["userId"])
        if body is None:
            return _json(b"[]", 400)
        return _json(body)

    routes = [
        guarded("GET", "/login", get_login, auth=False),
        guarded("POST", "/login", post_login, auth=False),
        guarded("DELETE", "/login", delete_login, auth=False),
        guarded("GET", "/users", get_users),
        guarded("GET", "/users/{userId:int}", get_user),
        guarded(
            "GET", "/users/{userId:int}/phonenumberconfig/phonenumbers/", get_number_assignments
        ),
        guarded("GET", "/groups", get_groups),
        guarded("GET", "/groups/{groupid:int}", get_group),
        guarded("GET", "/permissions", get_permissions),
        guarded("GET", "/permissions/users/{userId:int}", get_user_permissions),
        guarded("GET", "/permissions/{permissionId:int}/users", get_permission_users),
        guarded("GET", "/phonenumbers", get_phone_numbers),
    ]
    app = Starlette(routes=routes)
    app.state.control = control
    app.state.pbx = pbx
    return app
