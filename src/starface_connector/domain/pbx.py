"""What the connector reads from a STARFACE PBX, and the events that would bring jtel to it.

They carry no I/O so the connector core can compare, store and test them freely. Ordering is
fixed here (users and groups by id, phone numbers and member logins sorted as strings) so two
snapshots of the same PBX state are equal no matter in which order the PBX listed things.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from .model import Event, GroupUpdate, Profile, UserDelete, UserUpdate


@dataclass(frozen=True, slots=True)
class PbxUser:
    """One STARFACE user as the connector needs it.

    ``login`` is the STARFACE Login-ID, the key shared with jtel (UsersUID). ``admin`` means
    the user holds the STARFACE administration permission. ``phone_numbers`` are the
    ``number`` values of the phone numbers assigned to the user, sorted.
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
class PbxSnapshot:
    """Everything the connector imports from the PBX at one point in time.

    ``users`` and ``groups`` are ordered by id.
    """

    users: tuple[PbxUser, ...]
    groups: tuple[PbxGroup, ...]

    def user_by_login(self) -> dict[str, PbxUser]:
        """Index users by Login-ID, the key the jtel side uses."""
        return {user.login: user for user in self.users}


def snapshot_events(snapshot: PbxSnapshot, jtel_logins: Sequence[str], at: datetime) -> list[Event]:
    """The events that would bring jtel to the PBX's state: every PBX user an update, every
    jtel user the PBX lacks a deletion, every group an update; ids name the moment."""
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
    for login in sorted(set(jtel_logins) - pbx_logins):
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
