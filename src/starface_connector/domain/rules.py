"""What a STARFACE event does to jtel, under which parameters, and why.

``decide`` is the whole rule book: a pure function from (event, current state, parameters) to a
:class:`Decision` that names its outcome, its reason and the changes it asks for. ``apply``
folds a decision into the in-memory working set so the next event of the same batch sees it.
Neither does any I/O; the service layer loads the working set and persists the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import assert_never

from .model import (
    AcdStatus,
    Aspect,
    Change,
    Clock,
    CreateUser,
    Decision,
    DeleteUser,
    DndStatusChange,
    Event,
    GroupState,
    GroupUpdate,
    LoginStatus,
    Outcome,
    PasswordPolicy,
    PhoneStatus,
    PhoneStatusChange,
    Profile,
    SetAcdStatus,
    SetAdmin,
    SetDnd,
    SetPhoneStatus,
    UpdateProfile,
    UpsertGroup,
    UserDelete,
    UserState,
    UserStatusChange,
    UserUpdate,
)
from .parameters import (
    DND_PAUSES_AGENT,
    IGNORE_GROUP_UPDATE,
    IGNORE_USER_DELETES,
    IGNORE_USER_SECURITY,
    IGNORE_USER_STATUS,
    USER_PASSWORD_SET_UID,
    Parameters,
)
from .reasons import Note, PauseKept, Why, note

PROFILE_FIELDS: tuple[tuple[str, str], ...] = (
    ("first_name", "firstName"),
    ("last_name", "lastName"),
    ("email", "email"),
    ("language", "language"),
    ("phone_numbers", "phoneNumbers"),
)


@dataclass
class World:
    """The part of jtel's state a batch of events can touch, held in memory while deciding."""

    users: dict[str, UserState] = field(default_factory=dict)
    deleted_at: dict[str, datetime] = field(default_factory=dict)
    groups: dict[str, GroupState] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)

    def copy(self) -> World:
        """A copy to diff against after a batch (the states in it are immutable)."""
        return World(dict(self.users), dict(self.deleted_at), dict(self.groups), set(self.seen))


#: the standard for :attr:`Limits.max_group_members`
MAX_GROUP_MEMBERS = 5000


@dataclass(frozen=True)
class Limits:
    """How much one event may ask to write: the connector's settings, not jtel parameters
    (``STARFACE_CONNECTOR_MAX_GROUP_MEMBERS``), handed to the rules like the parameters."""

    max_group_members: int = MAX_GROUP_MEMBERS


STANDARD_LIMITS = Limits()


def decide(
    event: Event, world: World, params: Parameters, limits: Limits = STANDARD_LIMITS
) -> Decision:
    """Decide what ``event`` does; reads ``world`` and never changes it."""
    if event.event_id in world.seen:
        return Decision(Outcome.DUPLICATE, (note(Why.DUPLICATE, event_id=event.event_id),))
    match event:
        case UserUpdate():
            return _user_update(event, world, params)
        case UserDelete():
            return _user_delete(event, world, params)
        case GroupUpdate():
            return _group_update(event, world, params, limits)
        case UserStatusChange():
            return _user_status(event, world, params)
        case PhoneStatusChange():
            return _phone_status(event, world, params)
        case DndStatusChange():
            return _dnd_status(event, world, params)
        case _:
            assert_never(event)


def apply(world: World, event: Event, decision: Decision) -> None:
    """Fold an outcome into the working set: the event is seen, its changes take effect."""
    world.seen.add(event.event_id)
    if decision.outcome is not Outcome.APPLIED:
        return
    for change in decision.changes:
        _apply_change(world, change, event.occurred_at)
    for clock in (decision.clock, decision.acd_clock):
        if clock is not None:
            _advance_clock(world, clock)


# ---- the rules per event type -------------------------------------------------------------


RESERVED_LOGINS = frozenset({"sysadmin"})


def _user_update(event: UserUpdate, world: World, params: Parameters) -> Decision:
    if event.login in RESERVED_LOGINS:
        return Decision(Outcome.REJECTED, (note(Why.RESERVED_LOGIN, login=event.login),))
    clock = Clock(Aspect.PROFILE, event.login, event.occurred_at)
    withheld = (IGNORE_USER_SECURITY,) if params.ignore_user_security else ()
    user = world.users.get(event.login)
    if user is None:
        stale = _before_deletion(event.login, event.occurred_at, world)
        if stale:
            return stale
        admin = False if params.ignore_user_security else event.admin
        policy = PasswordPolicy.USERS_UID if params.user_password_set_uid else PasswordPolicy.RANDOM
        password_note = (
            note(Why.PASSWORD_UID, parameter=USER_PASSWORD_SET_UID)
            if policy is PasswordPolicy.USERS_UID
            else note(Why.PASSWORD_RANDOM, parameter=USER_PASSWORD_SET_UID)
        )
        admin_note = (
            note(Why.ADMIN_NOT_TAKEN, parameter=IGNORE_USER_SECURITY)
            if params.ignore_user_security
            else note(
                Why.ADMIN_TAKEN, admin="yes" if admin else "no", parameter=IGNORE_USER_SECURITY
            )
        )
        return Decision(
            Outcome.APPLIED,
            (note(Why.USER_CREATED, login=event.login), password_note, admin_note),
            (CreateUser(event.login, event.profile, admin, policy),),
            clock,
            withheld=withheld if event.admin else (),
        )
    stale = _stale(Aspect.PROFILE, user.profile_at, event.occurred_at)
    if stale:
        return stale
    changes: list[Change] = []
    changed = profile_differences(user.profile, event.profile)
    if changed:
        changes.append(UpdateProfile(event.login, event.profile, changed))
    notes = [note(Why.PROFILE_UPDATED, fields=", ".join(changed))] if changed else []
    admin_withheld: tuple[str, ...] = ()
    if event.admin != user.admin:
        if params.ignore_user_security:
            notes.append(note(Why.ADMIN_NOT_CHANGED, parameter=IGNORE_USER_SECURITY))
            admin_withheld = withheld
        else:
            changes.append(SetAdmin(event.login, event.admin))
            granted = Why.ADMIN_GRANTED if event.admin else Why.ADMIN_REVOKED
            notes.append(note(granted, parameter=IGNORE_USER_SECURITY))
    if not changes:
        notes.insert(0, note(Why.NO_CHANGE))
    return Decision(Outcome.APPLIED, tuple(notes), tuple(changes), clock, admin_withheld)


def _user_delete(event: UserDelete, world: World, params: Parameters) -> Decision:
    user = world.users.get(event.login)
    if user is None:
        return _unknown_user(event.login)
    if params.ignore_user_deletes:
        return _ignored(IGNORE_USER_DELETES)
    stale = _stale(Aspect.PROFILE, user.profile_at, event.occurred_at)
    if stale:
        return stale
    return Decision(
        Outcome.APPLIED,
        (note(Why.USER_DELETED, login=event.login, parameter=IGNORE_USER_DELETES),),
        (DeleteUser(event.login),),
        Clock(Aspect.PROFILE, event.login, event.occurred_at),
    )


def _group_update(event: GroupUpdate, world: World, params: Parameters, limits: Limits) -> Decision:
    wanted = sorted(set(event.members))
    if len(wanted) > limits.max_group_members:  # whatever the parameters: the sender must know
        return Decision(
            Outcome.REJECTED,
            (
                note(
                    Why.TOO_MANY_MEMBERS,
                    group_id=event.group_id,
                    members=len(wanted),
                    limit=limits.max_group_members,
                ),
            ),
        )
    if params.ignore_group_update:
        return _ignored(IGNORE_GROUP_UPDATE)
    group = world.groups.get(event.group_id)
    if group is not None:
        stale = _stale(Aspect.GROUP, group.updated_at, event.occurred_at)
        if stale:
            return stale
    members = tuple(login for login in wanted if login in world.users)
    unknown = [login for login in wanted if login not in world.users]
    clock = Clock(Aspect.GROUP, event.group_id, event.occurred_at)
    changes: tuple[Change, ...] = ()
    if group is None:
        notes = [
            note(
                Why.GROUP_CREATED,
                group_id=event.group_id,
                name=event.name,
                members=len(members),
                parameter=IGNORE_GROUP_UPDATE,
            )
        ]
        changes = (UpsertGroup(event.group_id, event.name, members, created=True),)
    else:
        differences: dict[str, str] = {}
        if group.name != event.name:
            differences["old_name"] = group.name
        added = sorted(set(members) - set(group.members))
        removed = sorted(set(group.members) - set(members))
        if added:
            differences["added"] = ", ".join(added)
        if removed:
            differences["removed"] = ", ".join(removed)
        if differences:
            notes = [
                note(
                    Why.GROUP_UPDATED,
                    group_id=event.group_id,
                    name=event.name,
                    **differences,
                    parameter=IGNORE_GROUP_UPDATE,
                )
            ]
            changes = (UpsertGroup(event.group_id, event.name, members, created=False),)
        else:
            notes = [note(Why.GROUP_UNCHANGED, parameter=IGNORE_GROUP_UPDATE)]
    if unknown:
        notes.append(note(Why.UNKNOWN_MEMBERS, logins=", ".join(unknown)))
    return Decision(Outcome.APPLIED, tuple(notes), changes, clock)


def _user_status(event: UserStatusChange, world: World, params: Parameters) -> Decision:
    user = world.users.get(event.login)
    if user is None:
        return _unknown_user(event.login)
    if params.ignore_user_status:
        return _ignored(IGNORE_USER_STATUS)
    stale = _before_deletion(event.login, event.occurred_at, world) or _stale(
        Aspect.ACD_STATUS, user.acd_at, event.occurred_at
    )
    if stale:
        return stale
    clock = Clock(Aspect.ACD_STATUS, event.login, event.occurred_at)
    first = _resync_note(event.resync)
    if event.status is LoginStatus.LOGGED_IN:
        if user.acd_status is AcdStatus.PAUSE:
            return Decision(
                Outcome.APPLIED,
                (*first, note(Why.ACD_KEPT_PAUSE, parameter=IGNORE_USER_STATUS)),
                (),
                clock,
            )
        target = AcdStatus.CALLS_AND_MEDIA
    else:
        target = AcdStatus.LOGGED_OFF
    if user.acd_status is target:
        return Decision(
            Outcome.APPLIED,
            (*first, note(Why.ACD_UNCHANGED, status=target, parameter=IGNORE_USER_STATUS)),
            (),
            clock,
        )
    return Decision(
        Outcome.APPLIED,
        (
            *first,
            note(
                Why.ACD_CHANGED,
                old=user.acd_status,
                new=target,
                status=event.status,
                parameter=IGNORE_USER_STATUS,
            ),
        ),
        (SetAcdStatus(event.login, user.acd_status, target),),
        clock,
    )


def _phone_status(event: PhoneStatusChange, world: World, params: Parameters) -> Decision:
    user = world.users.get(event.login)
    if user is None:
        return _unknown_user(event.login)
    stale = _before_deletion(event.login, event.occurred_at, world) or _stale(
        Aspect.PHONE_STATUS, user.phone_at, event.occurred_at
    )
    if stale:
        return stale
    clock = Clock(Aspect.PHONE_STATUS, event.login, event.occurred_at)
    original = {"original": event.original} if event.original else {}
    notes = list(_resync_note(event.resync))
    changes: list[Change] = []
    if user.phone_status is event.status:
        notes.append(note(Why.PHONE_UNCHANGED, status=event.status, **original))
    else:
        notes.append(note(Why.PHONE_CHANGED, old=user.phone_status, new=event.status, **original))
        changes.append(SetPhoneStatus(event.login, user.phone_status, event.status))
    paused = event.status is PhoneStatus.QUEUE_PAUSE
    was_paused = user.phone_status is PhoneStatus.QUEUE_PAUSE
    effect = _pbx_pause(
        event,
        user,
        params,
        cause=PhoneStatus.QUEUE_PAUSE.value,
        pausing=paused and not was_paused,
        resuming=was_paused and not paused,
        other_holds=user.dnd and params.dnd_pauses_agent and not params.ignore_user_status,
        withholding=IGNORE_USER_STATUS if params.ignore_user_status else None,
    )
    return Decision(
        Outcome.APPLIED,
        (*notes, *effect.notes),
        (*changes, *effect.changes),
        clock,
        effect.withheld,
        effect.acd_clock,
    )


def _dnd_status(event: DndStatusChange, world: World, params: Parameters) -> Decision:
    """DND is stored and shown; it pauses the agent only with DndPausesAgent=1 and
    IgnoreUserStatus=0 (STARFACE changes the ACD status only while that is 0)."""
    user = world.users.get(event.login)
    if user is None:
        return _unknown_user(event.login)
    stale = _before_deletion(event.login, event.occurred_at, world) or _stale(
        Aspect.DND, user.dnd_at, event.occurred_at
    )
    if stale:
        return stale
    clock = Clock(Aspect.DND, event.login, event.occurred_at)
    enabled = "yes" if event.enabled else "no"
    notes = list(_resync_note(event.resync))
    changes: list[Change] = []
    if user.dnd is event.enabled:
        notes.append(note(Why.DND_UNCHANGED, enabled=enabled))
    else:
        notes.append(note(Why.DND_CHANGED, enabled=enabled))
        changes.append(SetDnd(event.login, event.enabled))
    withholding = None
    if not params.dnd_pauses_agent:
        withholding = DND_PAUSES_AGENT
    elif params.ignore_user_status:
        withholding = IGNORE_USER_STATUS
    effect = _pbx_pause(
        event,
        user,
        params,
        cause="DND",
        pausing=event.enabled and not user.dnd,
        resuming=user.dnd and not event.enabled,
        other_holds=user.phone_status is PhoneStatus.QUEUE_PAUSE,
        withholding=withholding,
    )
    return Decision(
        Outcome.APPLIED,
        (*notes, *effect.notes),
        (*changes, *effect.changes),
        clock,
        effect.withheld,
        effect.acd_clock,
    )


@dataclass(frozen=True)
class _Effect:
    notes: tuple[Note, ...] = ()
    changes: tuple[Change, ...] = ()
    withheld: tuple[str, ...] = ()
    acd_clock: Clock | None = None


def _pbx_pause(
    event: PhoneStatusChange | DndStatusChange,
    user: UserState,
    params: Parameters,
    *,
    cause: str,
    pausing: bool,
    resuming: bool,
    other_holds: bool,
    withholding: str | None,
) -> _Effect:
    """What entering or leaving a STARFACE pause (QUEUE_PAUSE, DND) does to the ACD status.

    Entering pauses an agent in CALLS_AND_MEDIA and remembers that STARFACE set the pause;
    leaving takes the agent back to CALLS_AND_MEDIA only if STARFACE set it and no other
    STARFACE pause still holds. A pause set in jtel is never ended from STARFACE.
    """
    if not (pausing or resuming):
        return _Effect()
    if withholding is not None:  # STARFACE changes no ACD status now, in either direction
        if pausing and user.acd_status is AcdStatus.CALLS_AND_MEDIA:
            value = "0" if withholding == DND_PAUSES_AGENT else "1"
            return _Effect(
                (note(Why.ACD_NOT_CHANGED, parameter=withholding, value=value),), (), (withholding,)
            )
        return _Effect()
    if user.acd_at is not None and event.occurred_at < user.acd_at:
        return _Effect((note(Why.ACD_NEWER, last=_iso(user.acd_at)),))
    acd_clock = Clock(Aspect.ACD_STATUS, event.login, event.occurred_at)
    if pausing:
        if user.acd_status is AcdStatus.CALLS_AND_MEDIA:
            return _Effect(
                (
                    note(
                        Why.ACD_PAUSED,
                        old=user.acd_status,
                        cause=cause,
                        parameter=IGNORE_USER_STATUS,
                    ),
                ),
                (SetAcdStatus(event.login, user.acd_status, AcdStatus.PAUSE, paused_by_pbx=True),),
                (),
                acd_clock,
            )
        if user.acd_status is AcdStatus.PAUSE:
            kept = PauseKept.BY_PBX if user.acd_paused_by_pbx else PauseKept.IN_JTEL
            return _Effect((note(Why.ACD_PAUSE_KEPT, kept=kept),))
        return _Effect((note(Why.ACD_NOT_PAUSED, status=user.acd_status),))
    if user.acd_status is not AcdStatus.PAUSE:
        return _Effect()
    if not user.acd_paused_by_pbx:
        return _Effect((note(Why.ACD_PAUSE_KEPT, kept=PauseKept.SET_IN_JTEL),))
    if other_holds:
        other = "DND" if cause != "DND" else PhoneStatus.QUEUE_PAUSE.value
        return _Effect((note(Why.ACD_PAUSE_KEPT, kept=PauseKept.OTHER_HOLDS, other=other),))
    return _Effect(
        (note(Why.ACD_RESUMED, cause=cause, parameter=IGNORE_USER_STATUS),),
        (SetAcdStatus(event.login, AcdStatus.PAUSE, AcdStatus.CALLS_AND_MEDIA),),
        (),
        acd_clock,
    )


def _resync_note(resync: bool) -> tuple[Note, ...]:
    return (note(Why.RESYNC),) if resync else ()


# ---- helpers ------------------------------------------------------------------------------


def profile_differences(old: Profile, new: Profile) -> tuple[str, ...]:
    """API names of the profile fields that differ."""
    return tuple(
        api_name for attr, api_name in PROFILE_FIELDS if getattr(old, attr) != getattr(new, attr)
    )


def _unknown_user(login: str) -> Decision:
    return Decision(Outcome.REJECTED, (note(Why.UNKNOWN_USER, login=login),))


def _ignored(parameter: str) -> Decision:
    return Decision(Outcome.IGNORED, (note(Why.IGNORED, parameter=parameter),))


def _stale(aspect: Aspect, last: datetime | None, occurred_at: datetime) -> Decision | None:
    if last is not None and occurred_at < last:
        return Decision(
            Outcome.STALE,
            (
                note(
                    Why.STALE,
                    occurred_at=_iso(occurred_at),
                    aspect=aspect,
                    last=_iso(last),
                ),
            ),
        )
    return None


def _before_deletion(login: str, occurred_at: datetime, world: World) -> Decision | None:
    """An event older than the user's deletion belongs to the deleted user, never to a user
    re-created under the same login (the deletion also logged the agent off)."""
    deleted = world.deleted_at.get(login)
    if deleted is not None and occurred_at < deleted:
        return Decision(
            Outcome.STALE,
            (
                note(
                    Why.STALE_DELETED,
                    login=login,
                    deleted_at=_iso(deleted),
                    occurred_at=_iso(occurred_at),
                ),
            ),
        )
    return None


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _apply_change(world: World, change: Change, occurred_at: datetime) -> None:
    match change:
        case CreateUser():
            world.users[change.login] = UserState(change.login, change.profile, change.admin)
        case UpdateProfile():
            world.users[change.login] = replace(world.users[change.login], profile=change.profile)
        case SetAdmin():
            world.users[change.login] = replace(world.users[change.login], admin=change.admin)
        case DeleteUser():
            del world.users[change.login]
            world.deleted_at[change.login] = occurred_at
            for group_id, group in world.groups.items():
                if change.login in group.members:
                    members = tuple(m for m in group.members if m != change.login)
                    world.groups[group_id] = replace(group, members=members)
        case SetAcdStatus():
            world.users[change.login] = replace(
                world.users[change.login],
                acd_status=change.new,
                acd_paused_by_pbx=change.paused_by_pbx,
            )
        case SetPhoneStatus():
            world.users[change.login] = replace(world.users[change.login], phone_status=change.new)
        case SetDnd():
            world.users[change.login] = replace(world.users[change.login], dnd=change.enabled)
        case UpsertGroup():
            previous = world.groups.get(change.group_id)
            world.groups[change.group_id] = GroupState(
                change.group_id,
                change.name,
                change.members,
                previous.updated_at if previous else None,
            )
        case _:
            assert_never(change)


def _advance_clock(world: World, clock: Clock) -> None:
    if clock.aspect is Aspect.GROUP:
        group = world.groups.get(clock.key)
        if group is not None:
            world.groups[clock.key] = replace(group, updated_at=_later(group.updated_at, clock.at))
        return
    user = world.users.get(clock.key)
    if user is None:  # deleted by this event: the tombstone already carries the time
        return
    match clock.aspect:
        case Aspect.PROFILE:
            user = replace(user, profile_at=_later(user.profile_at, clock.at))
        case Aspect.ACD_STATUS:
            user = replace(user, acd_at=_later(user.acd_at, clock.at))
        case Aspect.PHONE_STATUS:
            user = replace(user, phone_at=_later(user.phone_at, clock.at))
        case Aspect.DND:
            user = replace(user, dnd_at=_later(user.dnd_at, clock.at))
        case _:
            assert_never(clock.aspect)
    world.users[clock.key] = user


def _later(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None or candidate > current else current
