"""What the connector reads from a STARFACE PBX, and the events that would bring jtel to it.

They carry no I/O so the connector core can compare, store and test them freely. Ordering is
fixed here (users and groups by id, phone numbers and member logins sorted as strings) so two
snapshots of the same PBX state are equal no matter in which order the PBX listed things.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from .model import Event, GroupUpdate, Profile, UserDelete, UserUpdate


@dataclass(frozen=True, slots=True)
class PbxUser:
    """One STARFACE user as the connector needs it.

    ``login`` is the STARFACE Login-ID, the key shared with jtel (UsersUID). ``admin`` means
    the user holds the STARFACE administration permission. ``phone_numbers`` are the numbers
    assigned to the user, sorted: internal ones as their extension, external ones dialable in
    full (see ``starface.client.dialable``).
    """

    id: int
    login: str
    first_name: str
    family_name: str
    email: str
    language: str
    admin: bool
    phone_numbers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PbxGroup:
    """One STARFACE group with the Login-IDs of its members, sorted."""

    id: int
    name: str
    member_logins: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SkippedRecord:
    """A user or group record the PBX sent but that could not be read; it was left out.

    ``login`` is known when the record had a readable Login-ID: that jtel user is then never
    deleted by the import. ``id`` is None when even the id was unreadable.
    """

    kind: str  # "user" or "group"
    id: int | None
    login: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class PbxSnapshot:
    """Everything the connector imports from the PBX at one point in time.

    ``users`` and ``groups`` are ordered by id. ``taken_at`` is the PBX's own time when it was
    read (its HTTP ``Date``), None when the PBX did not say. ``incomplete`` says why the user
    list may miss users (e.g. a REST account without the administration right): then the
    import deletes nobody. ``skipped`` are records that could not be read, ``groups_gone``
    groups deleted on the PBX while it was read.
    """

    users: tuple[PbxUser, ...]
    groups: tuple[PbxGroup, ...]
    taken_at: datetime | None = field(default=None, compare=False)
    incomplete: str = ""
    skipped: tuple[SkippedRecord, ...] = ()
    groups_gone: tuple[int, ...] = ()

    def user_by_login(self) -> dict[str, PbxUser]:
        """Index users by Login-ID, the key the jtel side uses."""
        return {user.login: user for user in self.users}

    @property
    def why_no_deletes(self) -> str:
        """Why this snapshot must delete nobody ("" when its user list is complete)."""
        if self.incomplete:
            return self.incomplete
        unknown = [s for s in self.skipped if s.kind == "user" and s.login is None]
        if unknown:
            return (
                f"{len(unknown)} user record(s) without a readable Login-ID were skipped, so "
                "any jtel user could be one of them"
            )
        return ""

    @property
    def kept_logins(self) -> frozenset[str]:
        """Logins of skipped user records: their jtel users are never deleted."""
        return frozenset(s.login for s in self.skipped if s.kind == "user" and s.login)


def snapshot_events(snapshot: PbxSnapshot, jtel_logins: Sequence[str], at: datetime) -> list[Event]:
    """The events that would bring jtel to the PBX's state: every PBX user an update, every
    jtel user the PBX lacks a deletion (none from an incomplete list, never a skipped user),
    every group an update; ids name the moment."""
    stamp = at.strftime("%Y%m%dT%H%M%S.%f")
    events: list[Event] = []
    pbx_logins = set()
    for user in snapshot.users:
        pbx_logins.add(user.login)
        profile = Profile(
            user.first_name, user.family_name, user.email, user.language, user.phone_numbers
        )
        events.append(
            UserUpdate(f"import:{stamp}:user:{user.login}", at, user.login, profile, user.admin)
        )
    if not snapshot.why_no_deletes:
        for login in sorted(set(jtel_logins) - pbx_logins - snapshot.kept_logins):
            events.append(UserDelete(f"import:{stamp}:delete:{login}", at, login))
    for group in snapshot.groups:
        events.append(
            GroupUpdate(
                f"import:{stamp}:group:{group.id}",
                at,
                str(group.id),
                group.name,
                group.member_logins,
            )
        )
    return events
