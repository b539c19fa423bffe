"""The event path: dedupe, order, decide and persist a batch in one transaction."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from ..domain.model import (
    Change,
    CreateUser,
    Event,
    GroupUpdate,
    Outcome,
    PasswordPolicy,
    UserUpdate,
)
from ..domain.parameters import Parameters
from ..domain.rules import World, apply, decide
from ..storage.db import locked_transaction, utcnow
from ..storage.repository import load_parameters, load_world, persist, snapshot
from ..storage.tables import AuditRow
from .security import hash_initial_password, random_password


@dataclass(frozen=True)
class Malformed:
    """An event that could not be read; it is rejected and audited, the batch goes on."""

    event_id: str | None
    type: str | None
    login: str | None
    reason: str


Incoming = Event | Malformed

UNSTORABLE = (
    "rejected: malformed event: a text contains a NUL character or an unpaired surrogate, "
    "which cannot be stored"
)


@dataclass(frozen=True)
class EventResult:
    event_id: str | None
    outcome: Outcome
    reason: str
    changes: tuple[Change, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def apply_batch(
    factory: sessionmaker[Session], incoming: Sequence[Incoming], *, source: str = "starface"
) -> list[EventResult]:
    """Apply a batch atomically; returns one result per event, in order, after the commit."""
    incoming = [screen(item) for item in incoming]
    with locked_transaction(factory) as session:
        params = load_parameters(session)
        world = load_world(
            session,
            event_ids=(e.event_id for e in incoming if not isinstance(e, Malformed)),
            logins=_logins(incoming),
            group_ids=(e.group_id for e in incoming if isinstance(e, GroupUpdate)),
        )
        return run_batch(session, world, incoming, params, source=source)


MAX_CLOCK_AHEAD = timedelta(hours=24)


def not_too_far_ahead(item: Incoming, latest: datetime) -> Incoming:
    """An event dated far ahead would make every later event of its aspect stale for good,
    freezing the agent; a PBX clock that wrong is an error to fix, so it is rejected."""
    if isinstance(item, Malformed) or item.occurred_at <= latest:
        return item
    return Malformed(
        item.event_id,
        item.type.value,
        getattr(item, "login", None),
        f"rejected: occurredAt {item.occurred_at.isoformat()} is more than 24 h ahead of the "
        "connector's clock; check the STARFACE clock",
    )


def run_batch(
    session: Session,
    world: World,
    incoming: Sequence[Incoming],
    params: Parameters,
    *,
    source: str,
    reconcile: bool = False,
) -> list[EventResult]:
    """Decide every event against ``world`` and write the outcome into ``session``.

    ``reconcile`` is for imports: their events are synthesised from a PBX snapshot, so their
    ids are not remembered, and an event that changes nothing is neither applied (no clock
    moves) nor audited, which makes a second import write nothing at all.
    """
    before = snapshot(world)
    now = utcnow()
    results: list[EventResult] = []
    audit: list[dict[str, object]] = []
    password_hashes: dict[str, str] = {}
    for item in incoming:
        if isinstance(item, Malformed):
            result = EventResult(item.event_id, Outcome.REJECTED, item.reason)
            audit.append(
                _audit(now, source, item.event_id, item.type, item.login, None, None, result)
            )
            results.append(result)
            continue
        decision = decide(item, world, params)
        if not (reconcile and not decision.changes):
            apply(world, item, decision)
        if reconcile:
            world.seen.discard(item.event_id)
        for change in decision.changes:
            if isinstance(change, CreateUser):
                password_hashes[change.login] = _initial_password_hash(change)
        result = EventResult(item.event_id, decision.outcome, decision.reason, decision.changes)
        results.append(result)
        if not reconcile or result.changed:
            audit.append(
                _audit(
                    now,
                    source,
                    item.event_id,
                    item.type.value,
                    getattr(item, "login", None),
                    getattr(item, "group_id", None),
                    item.occurred_at,
                    result,
                )
            )
    persist(session, before, world, password_hashes=password_hashes, now=now)
    if audit:
        session.execute(insert(AuditRow.__table__), audit)
    return results


def screen(item: Incoming) -> Incoming:
    """Reject an event whose text no database can store alike, before it touches one.

    PostgreSQL refuses NUL characters and no driver can encode an unpaired surrogate (JSON
    allows both, as ``\\u0000`` and ``\\ud800``); either would fail the whole batch at commit
    time on some backends and be stored on others.
    """
    if isinstance(item, Malformed):
        texts = (item.event_id, item.type, item.login, item.reason)
        if all(_storable(text) for text in texts if text is not None):
            return item
        reason = item.reason.encode("utf-8", "backslashreplace").decode().replace("\0", "\\x00")
        return Malformed(_kept(item.event_id), _kept(item.type), _kept(item.login), reason)
    if all(_storable(text) for text in _texts(item)):
        return item
    return Malformed(
        _kept(item.event_id), item.type.value, _kept(getattr(item, "login", None)), UNSTORABLE
    )


def _texts(event: Event) -> Iterator[str]:
    yield event.event_id
    if isinstance(event, GroupUpdate):
        yield event.group_id
        yield event.name
        yield from event.members
        return
    yield event.login
    if isinstance(event, UserUpdate):
        p = event.profile
        yield from (p.first_name, p.last_name, p.email, p.language, *p.phone_numbers)


def _storable(text: str) -> bool:
    if "\0" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _kept(text: str | None) -> str | None:
    return text if text is None or _storable(text) else None


def _initial_password_hash(change: CreateUser) -> str:
    if change.password is PasswordPolicy.USERS_UID:
        return hash_initial_password(change.login)
    return hash_initial_password(random_password())


def _logins(incoming: Sequence[Incoming]) -> set[str]:
    logins: set[str] = set()
    for item in incoming:
        if isinstance(item, GroupUpdate):
            logins.update(item.members)
        elif not isinstance(item, Malformed):
            logins.add(item.login)
    return logins


def _audit(
    now: datetime,
    source: str,
    event_id: str | None,
    event_type: str | None,
    login: str | None,
    group_id: str | None,
    occurred_at: datetime | None,
    result: EventResult,
) -> dict[str, object]:
    return {
        "received_at": now,
        "source": source,
        "event_id": event_id,
        "type": event_type,
        "login": login,
        "group_id": group_id,
        "occurred_at": occurred_at,
        "outcome": result.outcome.value,
        "reason": result.reason,
    }
