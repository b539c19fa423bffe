"""Administrative use cases: parameters and manual ACD status, each audited."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from ..domain.model import AcdStatus, Outcome
from ..domain.parameters import DEFAULTS, SPECS, spec_for
from ..storage.db import locked_transaction, utcnow
from ..storage.tables import AuditRow, ParameterChangeRow, ParameterRow, UserRow


@dataclass(frozen=True)
class ParameterView:
    name: str
    value: str
    default: str
    description: str


def list_parameters(factory: sessionmaker[Session]) -> list[ParameterView]:
    with factory() as session:
        stored = {n: v for n, v in session.execute(select(ParameterRow.name, ParameterRow.value))}
    return [
        ParameterView(
            spec.name, stored.get(spec.name, spec.default), spec.default, spec.description
        )
        for spec in SPECS
    ]


def set_parameter(
    factory: sessionmaker[Session], name: str, raw_value: str, *, actor: str
) -> tuple[str, str]:
    """Validate and store; raises InvalidParameter. Returns (old, new)."""
    value = spec_for(name).validate(raw_value)
    with locked_transaction(factory) as session:
        row = session.get(ParameterRow, name)
        old = row.value if row else DEFAULTS[name]
        if row is None:
            session.add(ParameterRow(name=name, value=value))
        else:
            row.value = value
        if old != value:
            session.add(
                ParameterChangeRow(
                    changed_at=utcnow(), name=name, old_value=old, new_value=value, actor=actor
                )
            )
    return old, value


def set_acd_status(
    factory: sessionmaker[Session], users_uid: str, status: AcdStatus, *, actor: str
) -> bool:
    """Set an agent's ACD status by hand.

    The ACD clock is left alone: it runs on the PBX's time, and the connector's own clock may
    be ahead of it, so a LOGGED_OUT sent just after a manual change must still apply (an agent
    wrongly logged off is safe; one wrongly routed to is not).
    """
    with locked_transaction(factory) as session:
        user = session.get(UserRow, users_uid)
        if user is None:
            return False
        now = utcnow()
        old = user.acd_status
        user.acd_status = status.value
        user.updated_at = now
        session.execute(
            insert(AuditRow),
            [
                {
                    "received_at": now,
                    "source": "api",
                    "event_id": None,
                    "type": "ACD_STATUS_SET",
                    "login": users_uid,
                    "group_id": None,
                    "occurred_at": now,
                    "outcome": Outcome.APPLIED.value,
                    "reason": f"ACD status {old} -> {status} set by {actor}",
                }
            ],
        )
    return True
