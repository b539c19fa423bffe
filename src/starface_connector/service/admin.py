"""Administrative use cases: parameters and manual ACD status, each logged."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from ..domain.model import AcdStatus, ManualChange, Outcome
from ..domain.parameters import (
    SPECS,
    ParameterSpec,
    StoredValueProblem,
    read_parameters,
    spec_for,
)
from ..domain.reasons import Note, Why, english, note
from .parameters import ParameterCache
from .ports import Clock, LogEntry, ParameterChange, Source, UnitOfWorkFactory


@dataclass(frozen=True)
class ParameterView:
    spec: ParameterSpec
    value: str

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def default(self) -> str:
        return self.spec.default

    @property
    def description(self) -> str:
        return self.spec.description


class Administration:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, parameters: ParameterCache) -> None:
        self._uow = uow
        self._clock = clock
        self._parameters = parameters

    def list_parameters(self) -> list[ParameterView]:
        """The parameters as stored (a corrupt value is shown as it is stored)."""
        with self._uow() as uow:
            stored = uow.parameters.values()
        return [ParameterView(spec, stored.get(spec.name, spec.default)) for spec in SPECS]

    def parameter_problems(self) -> tuple[StoredValueProblem, ...]:
        """Stored values that do not validate (their standard values are in use)."""
        with self._uow() as uow:
            return read_parameters(uow.parameters.values())[1]

    def set_parameter(
        self, name: str, raw_value: str, *, actor: str, source: str = Source.API
    ) -> tuple[str, str]:
        """Validate and store; raises InvalidParameter. Returns (old, new).

        A change goes into the parameter's history and into the event log, so the log says
        why events were treated differently from that moment on."""
        spec = spec_for(name)
        value = spec.validate(raw_value)
        with self._uow(locked=True) as uow:
            old = uow.parameters.values().get(spec.name, spec.default)
            uow.parameters.put(spec.name, value)
            if old != value:
                now = self._clock()
                uow.parameters.record(ParameterChange(now, spec.name, old, value, actor))
                why = note(
                    Why.PARAMETER_SET_BY, parameter=spec.name, old=old, new=value, actor=actor
                )
                uow.log.append(
                    [manual_entry(now, source, ManualChange.PARAMETER_SET, None, (why,))]
                )
            uow.commit()
        self._parameters.forget()
        return old, value

    def set_acd_status(
        self, users_uid: str, status: AcdStatus, *, actor: str, source: str = Source.API
    ) -> bool:
        """Set an agent's ACD status by hand.

        The ACD clock is left alone: it runs on the PBX's time, and the connector's own clock
        may be ahead of it, so a LOGGED_OUT sent just after a manual change must still apply
        (an agent wrongly logged off is safe; one wrongly routed to is not).
        """
        with self._uow(locked=True) as uow:
            world = uow.world.load(event_ids=(), logins=(users_uid,), group_ids=())
            user = world.users.get(users_uid)
            if user is None:
                return False
            now = self._clock()
            after = world.copy()
            # A status set by a person is no pause STARFACE may end.
            after.users[users_uid] = replace(user, acd_status=status, acd_paused_by_pbx=False)
            uow.world.persist(world, after, password_hashes={}, now=now)
            notes = (note(Why.ACD_SET_BY, old=user.acd_status, new=status, actor=actor),)
            uow.log.append(
                [manual_entry(now, source, ManualChange.ACD_STATUS_SET, users_uid, notes)]
            )
            uow.commit()
        return True


def manual_entry(
    now: datetime, source: str, change: ManualChange, login: str | None, notes: tuple[Note, ...]
) -> LogEntry:
    """An event log entry for a change a person made."""
    return LogEntry(
        received_at=now,
        source=source,
        event_id=None,
        type=change,
        login=login,
        group_id=None,
        occurred_at=now,
        outcome=Outcome.APPLIED,
        notes=notes,
        reason=english(notes),
    )
