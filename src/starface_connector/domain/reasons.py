"""Why an event had its outcome, as data: one :class:`Note` per statement.

The rules say *why* in notes (a code and its arguments), never in prose. The English
rendering here is the contract's ``reason`` text; the web console renders the same notes in
German and French from its message catalogs, and the import counts from them, so no caller
ever has to parse a sentence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import assert_never

from .text import login_problem_text


class Why(StrEnum):
    DUPLICATE = "duplicate"
    RESERVED_LOGIN = "reserved_login"
    UNKNOWN_USER = "unknown_user"
    IGNORED = "ignored"
    STALE = "stale"
    STALE_DELETED = "stale_deleted"
    MALFORMED = "malformed"
    UNSTORABLE = "unstorable"
    INVALID_LOGIN = "invalid_login"
    REFUSED = "refused"
    TOO_FAR_AHEAD = "too_far_ahead"
    USER_CREATED = "user_created"
    PASSWORD_UID = "password_uid"
    PASSWORD_RANDOM = "password_random"
    ADMIN_NOT_TAKEN = "admin_not_taken"
    ADMIN_TAKEN = "admin_taken"
    NO_CHANGE = "no_change"
    PROFILE_UPDATED = "profile_updated"
    ADMIN_NOT_CHANGED = "admin_not_changed"
    ADMIN_GRANTED = "admin_granted"
    ADMIN_REVOKED = "admin_revoked"
    USER_DELETED = "user_deleted"
    GROUP_CREATED = "group_created"
    GROUP_UPDATED = "group_updated"
    GROUP_UNCHANGED = "group_unchanged"
    UNKNOWN_MEMBERS = "unknown_members"
    TOO_MANY_MEMBERS = "too_many_members"
    ACD_KEPT_PAUSE = "acd_kept_pause"
    ACD_UNCHANGED = "acd_unchanged"
    ACD_CHANGED = "acd_changed"
    PHONE_UNCHANGED = "phone_unchanged"
    PHONE_CHANGED = "phone_changed"
    ACD_SET_BY = "acd_set_by"
    PARAMETER_SET_BY = "parameter_set_by"
    RESYNC = "resync"
    ACD_PAUSED = "acd_paused"
    ACD_RESUMED = "acd_resumed"
    ACD_PAUSE_KEPT = "acd_pause_kept"
    ACD_NOT_PAUSED = "acd_not_paused"
    ACD_NOT_CHANGED = "acd_not_changed"
    ACD_NEWER = "acd_newer"
    DND_CHANGED = "dnd_changed"
    DND_UNCHANGED = "dnd_unchanged"
    THROTTLED_ADDRESS = "throttled_address"
    THROTTLED_ACCOUNT = "throttled_account"


class PauseKept(StrEnum):
    """Why a pause stayed when STARFACE would have changed it."""

    BY_PBX = "by_pbx"
    IN_JTEL = "in_jtel"
    SET_IN_JTEL = "set_in_jtel"
    OTHER_HOLDS = "other_holds"


PAUSE_KEPT = {
    PauseKept.BY_PBX: "STARFACE already paused it",
    PauseKept.IN_JTEL: "already paused in jtel",
    PauseKept.SET_IN_JTEL: "the pause was set in jtel",
    PauseKept.OTHER_HOLDS: "{other} still holds",
}


@dataclass(frozen=True)
class Note:
    """One statement of a reason: a code and its arguments (all text, as shown)."""

    why: Why
    args: tuple[tuple[str, str], ...] = ()

    def __getitem__(self, key: str) -> str:
        for name, value in self.args:
            if name == key:
                return value
        raise KeyError(key)

    def get(self, key: str, default: str = "") -> str:
        try:
            return self[key]
        except KeyError:
            return default

    @property
    def arguments(self) -> dict[str, str]:
        return dict(self.args)

    def as_json(self) -> dict[str, object]:
        return {"why": self.why.value, "args": dict(self.args)}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Note:
        args = data.get("args")
        pairs = tuple((str(k), str(v)) for k, v in args.items()) if isinstance(args, dict) else ()
        return cls(Why(str(data["why"])), pairs)


def note(why: Why, **args: object) -> Note:
    return Note(why, tuple((key, str(value)) for key, value in args.items()))


def english(notes: Iterable[Note]) -> str:
    """The contract's ``reason``: the notes in English, joined by '; '."""
    return "; ".join(_english(n) for n in notes)


def _english(n: Note) -> str:
    a = n.arguments
    match n.why:
        # the commonest first: a match tries its cases in order, for every event
        case Why.PHONE_CHANGED:
            return f"telephone status {a['old']} -> {a['new']}" + _original(a)
        case Why.PHONE_UNCHANGED:
            return f"no change: already {a['status']}" + _original(a)
        case Why.ACD_CHANGED:
            return f"ACD status {a['old']} -> {a['new']} ({a['status']}; {a['parameter']}=0)"
        case Why.ACD_UNCHANGED:
            return f"no change: already {a['status']} ({a['parameter']}=0)"
        case Why.PROFILE_UPDATED:
            return f"updated {a['fields']}"
        case Why.NO_CHANGE:
            return "no change"
        case Why.DUPLICATE:
            return f"duplicate: eventId {a['event_id']!r} was already processed"
        case Why.STALE:
            return (
                f"stale: occurredAt {a['occurred_at']} is older than the last applied "
                f"{a['aspect']} event ({a['last']})"
            )
        case Why.RESERVED_LOGIN:
            return f"rejected: login {a['login']!r} is reserved for jtel's built-in administrator"
        case Why.UNKNOWN_USER:
            return f"rejected: unknown user {a['login']}"
        case Why.IGNORED:
            return f"ignored: {a['parameter']}=1"
        case Why.STALE_DELETED:
            return (
                f"stale: user {a['login']} was deleted at {a['deleted_at']}, "
                f"after this event ({a['occurred_at']})"
            )
        case Why.MALFORMED:
            return f"rejected: malformed event: {a['detail']}"
        case Why.UNSTORABLE:
            return (
                "rejected: malformed event: a text contains a NUL character or an unpaired "
                "surrogate, which cannot be stored"
            )
        case Why.REFUSED:
            return f"rejected: {a['detail']}"
        case Why.INVALID_LOGIN:
            problem = login_problem_text(a["problem"])
            return f"rejected: login {a['login']!r} is not allowed: {problem}"
        case Why.TOO_FAR_AHEAD:
            return (
                f"rejected: occurredAt {a['occurred_at']} is more than 24 h ahead of the "
                "connector's clock; check the STARFACE clock"
            )
        case Why.USER_CREATED:
            return f"created user {a['login']}"
        case Why.PASSWORD_UID:
            return f"password = UsersUID ({a['parameter']}=1)"
        case Why.PASSWORD_RANDOM:
            return f"random password, to be set by the administrator ({a['parameter']}=0)"
        case Why.ADMIN_NOT_TAKEN:
            return f"admin flag not taken ({a['parameter']}=1)"
        case Why.ADMIN_TAKEN:
            return f"admin={a['admin']} ({a['parameter']}=0)"
        case Why.ADMIN_NOT_CHANGED:
            return f"admin flag not changed ({a['parameter']}=1)"
        case Why.ADMIN_GRANTED:
            return f"admin flag granted ({a['parameter']}=0)"
        case Why.ADMIN_REVOKED:
            return f"admin flag revoked ({a['parameter']}=0)"
        case Why.USER_DELETED:
            return f"deleted user {a['login']} ({a['parameter']}=0)"
        case Why.GROUP_CREATED:
            return (
                f"created group {a['group_id']} {a['name']!r} with {a['members']} member(s) "
                f"({a['parameter']}=0)"
            )
        case Why.GROUP_UPDATED:
            parts = []
            if "old_name" in a:
                parts.append(f"name {a['old_name']!r} -> {a['name']!r}")
            if "added" in a:
                parts.append(f"added {a['added']}")
            if "removed" in a:
                parts.append(f"removed {a['removed']}")
            return f"updated group {a['group_id']}: {'; '.join(parts)} ({a['parameter']}=0)"
        case Why.GROUP_UNCHANGED:
            return f"no change ({a['parameter']}=0)"
        case Why.UNKNOWN_MEMBERS:
            return f"unknown login(s) not added: {a['logins']}"
        case Why.TOO_MANY_MEMBERS:
            return (
                f"rejected: group {a['group_id']} has {a['members']} members, more than the "
                f"{a['limit']} one event may set (STARFACE_CONNECTOR_MAX_GROUP_MEMBERS)"
            )
        case Why.ACD_KEPT_PAUSE:
            return f"no change: LOGGED_IN leaves an agent on PAUSE ({a['parameter']}=0)"
        case Why.ACD_SET_BY:
            return f"ACD status {a['old']} -> {a['new']} set by {a['actor']}"
        case Why.PARAMETER_SET_BY:
            return f"{a['parameter']} {a['old']} -> {a['new']} set by {a['actor']}"
        case Why.RESYNC:
            return "resync"
        case Why.ACD_PAUSED:
            return f"ACD status {a['old']} -> PAUSE ({a['cause']}; {a['parameter']}=0)"
        case Why.ACD_RESUMED:
            return (
                f"ACD status PAUSE -> CALLS_AND_MEDIA (end of {a['cause']}, which set the "
                f"pause; {a['parameter']}=0)"
            )
        case Why.ACD_PAUSE_KEPT:
            return "ACD status PAUSE kept: " + PAUSE_KEPT[PauseKept(a["kept"])].format(**a)
        case Why.ACD_NOT_PAUSED:
            return f"ACD status {a['status']} kept: only an agent in CALLS_AND_MEDIA is paused"
        case Why.ACD_NOT_CHANGED:
            return f"ACD status not changed ({a['parameter']}={a['value']})"
        case Why.ACD_NEWER:
            return f"ACD status kept: a newer login status applies ({a['last']})"
        case Why.DND_CHANGED:
            return f"do-not-disturb {'on' if a['enabled'] == 'yes' else 'off'}"
        case Why.DND_UNCHANGED:
            return f"no change: do-not-disturb already {'on' if a['enabled'] == 'yes' else 'off'}"
        case Why.THROTTLED_ADDRESS:
            return (
                f"logins from {a['address']} refused for {a['seconds']} s: {a['failures']} "
                "failed logins"
            )
        case Why.THROTTLED_ACCOUNT:
            return (
                f"logins as {a['login']} refused for {a['seconds']} s: {a['failures']} "
                "failed logins"
            )
        case _:
            assert_never(n.why)


def _original(a: Mapping[str, str]) -> str:
    """The STARFACE state name the module sent, where it differs from the contract's."""
    return f" (STARFACE {a['original']})" if a.get("original") else ""
