"""The simulated PBX rendered as the STARFACE REST API's JSON bodies, cached per state version.

Large PBXs are served without per-request O(N) work: a rendered body is kept until the PBX
changes (its :attr:`~.state.SimulatedPbx.version` moves), and group details are spliced from
per-user fragments rendered once per version.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager

from .records import (
    CALL_SERVICE_ID,
    PERMISSIONS,
    JsonObject,
    SimNumber,
    SimUser,
    dumps,
    permission_info,
)
from .state import PbxView, SimulatedPbx

__all__ = ["RestRenderer"]


class RestRenderer:
    """Renders one :class:`SimulatedPbx`; every ``render_*`` answers one REST endpoint.

    Thread-safe: caches are read and written only while the PBX lock is held (inside
    :meth:`SimulatedPbx.view`). Methods return None where the endpoint has no such resource.
    """

    def __init__(self, pbx: SimulatedPbx) -> None:
        self._pbx = pbx
        self._version = -1
        self._cache: dict[Hashable, bytes] = {}
        self._fragments: dict[tuple[int, bool], bytes] = {}
        self._group_numbers: dict[int, list[SimNumber]] | None = None

    @contextmanager
    def _current(self) -> Iterator[PbxView]:
        """Lock the PBX and drop whatever was rendered from an older version."""
        with self._pbx.view() as view:
            if view.version != self._version:
                self._cache.clear()
                self._fragments.clear()
                self._group_numbers = None
                self._version = view.version
            yield view

    def _cached(self, key: Hashable, build: Callable[[PbxView], object]) -> bytes:
        with self._current() as view:
            data = self._cache.get(key)
            if data is None:
                data = self._cache[key] = dumps(build(view))
            return data

    @staticmethod
    def _users_sorted(view: PbxView) -> list[SimUser]:
        return sorted(view.users.values(), key=lambda u: u.id)

    def _numbers_by_group(self, view: PbxView) -> dict[int, list[SimNumber]]:
        """Group numbers per group id, built once per state version (callers hold the lock)."""
        index = self._group_numbers
        if index is None:
            index = {}
            for num in sorted(view.numbers.values(), key=lambda n: n.id):
                if num.group_id is not None:
                    index.setdefault(num.group_id, []).append(num)
            self._group_numbers = index
        return index

    # ----------------------------------------------------------------- users
    def render_users(self, search_term: str | None) -> bytes:
        """``GET /users``: all users, or those whose name, login or e-mail contain the term."""
        if not search_term:
            return self._cached("users", lambda v: [u.rest() for u in self._users_sorted(v)])
        term = search_term.casefold()
        with self._current() as view:
            found = [
                u.rest()
                for u in self._users_sorted(view)
                if any(
                    term in text.casefold()
                    for text in (u.first_name, u.family_name, u.login, u.email)
                )
            ]
        return dumps(found)

    def render_user(self, user_id: int) -> bytes | None:
        """``GET /users/{userId}``; None if unknown."""
        with self._current() as view:
            user = view.users.get(user_id)
            return None if user is None else dumps(user.rest())

    # ----------------------------------------------------------------- groups
    def render_groups(self) -> bytes:
        """``GET /groups``: ``GroupListItem`` objects."""

        def build(view: PbxView) -> list[JsonObject]:
            by_group = self._numbers_by_group(view)
            items = []
            for group in sorted(view.groups.values(), key=lambda g: g.id):
                item: JsonObject = {"id": group.id, "groupname": group.name}
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
        with self._current() as view:
            group = view.groups.get(group_id)
            if group is None:
                return None
            key = ("group", group_id, list_unassigned)
            cached = self._cache.get(key)
            if cached is not None:
                return cached
            numbers = self._numbers_by_group(view).get(group_id, [])
            head = dumps(
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
                entries = [self._fragment(view, uid, uid in members) for uid in sorted(view.users)]
            else:
                entries = [self._fragment(view, uid, True) for uid in sorted(members)]
            body = head[:-1] + b',"assignableUsers":[' + b",".join(entries) + b"]}"
            self._cache[key] = body
            return body

    def _fragment(self, view: PbxView, user_id: int, assigned: bool) -> bytes:
        """A user's ``AssignableUser`` JSON, rendered once per state version."""
        key = (user_id, assigned)
        fragment = self._fragments.get(key)
        if fragment is None:
            user = view.users[user_id]
            entry = {
                "id": user.id,
                "firstname": user.first_name,
                "lastname": user.family_name,
                "assigned": assigned,
            }
            fragment = self._fragments[key] = dumps(entry)
        return fragment

    # ----------------------------------------------------------------- permissions
    def render_permissions(self) -> bytes:
        """``GET /permissions``: the ``PermissionInfo`` catalogue."""
        return self._cached("permissions", lambda _: [permission_info(*p) for p in PERMISSIONS])

    def render_permission_users(self, permission_id: int) -> bytes | None:
        """``GET /permissions/{permissionId}/users``: ``User`` objects; None if unknown."""
        with self._current() as view:
            if permission_id not in view.grants:
                return None
            return self._cached(
                ("permission-users", permission_id),
                lambda v: [v.users[uid].rest() for uid in sorted(v.grants[permission_id])],
            )

    def render_user_permissions(self, user_id: int) -> bytes | None:
        """``GET /permissions/users/{userId}``: ``PermissionInfo`` objects; None if unknown."""
        with self._current() as view:
            if user_id not in view.users:
                return None
            return dumps(
                [
                    permission_info(pid, name, desc)
                    for pid, name, desc in PERMISSIONS
                    if user_id in view.grants[pid]
                ]
            )

    # ----------------------------------------------------------------- phone numbers
    def render_phone_numbers(self, number_type: str | None, assigned: bool | None) -> bytes:
        """``GET /phonenumbers`` with the optional ``type`` and ``assigned`` filters."""

        def build(view: PbxView) -> list[JsonObject]:
            out = []
            for num in sorted(view.numbers.values(), key=lambda n: n.id):
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
        with self._current() as view:
            if user_id not in view.users:
                return None
            return dumps(
                [
                    {"accountId": user_id, "phoneNumberId": n.id, "serviceId": CALL_SERVICE_ID}
                    for n in sorted(view.numbers.values(), key=lambda n: n.id)
                    if n.user_id == user_id
                ]
            )
