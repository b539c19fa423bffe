"""The composition root: the one place that builds the connector from its settings.

:func:`bootstrap` wires the database, the clock, the password hasher, the services and the
STARFACE client into a typed :class:`Container`, once. The API, the web console, the CLI
commands and the tests take what they need from it; nothing else constructs a service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from .config import Settings, secret
from .domain.pbx import PbxSnapshot
from .domain.rules import Limits
from .service.accounts import Accounts
from .service.admin import Administration
from .service.events import EventService
from .service.importer import Importer, PbxReader
from .service.parameters import ParameterCache
from .service.ports import Clock
from .service.retention import Retention
from .service.security import PasswordHasher
from .storage.cache import WorldCache
from .storage.db import describe, make_engine, upgrade
from .storage.unit_of_work import SqlUnitOfWorkFactory
from .storage.views import Views


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Container:
    settings: Settings
    engine: Engine
    clock: Clock
    uow: SqlUnitOfWorkFactory
    hasher: PasswordHasher
    accounts: Accounts
    events: EventService
    admin: Administration
    importer: Importer
    retention: Retention
    views: Views
    #: reads the PBX for imports; None when no STARFACE is configured
    pbx: PbxReader | None
    parameters: ParameterCache

    @property
    def database(self) -> str:
        """The database URL as it may be shown: without its password."""
        return describe(self.engine.url)

    def forget(self) -> None:
        """Drop what this process holds in memory about the database (parameters, module
        sessions, users' states), for when the database was changed behind its back (a
        restore, a test)."""
        self.uow.forget()
        self.parameters.forget()
        self.accounts.forget_sessions()
        self.events.forget_sessions()

    def close(self) -> None:
        self.events.close()
        self.hasher.close()
        self.engine.dispose()


def starface_reader(settings: Settings) -> PbxReader | None:
    """A function that reads a PBX snapshot with a fresh client, or None without a PBX."""
    settings.check_starface()
    url, login, password = (
        settings.starface_url,
        settings.starface_login,
        secret(settings.starface_password),
    )
    if not url or not login or password is None:
        return None
    verify: bool | str = (
        False if settings.starface_insecure else str(settings.starface_ca_bundle or "") or True
    )
    fingerprint = settings.starface_cert_fingerprint
    permission = settings.starface_admin_permission

    def fetch() -> PbxSnapshot:
        from .starface.client import StarfaceClient

        with StarfaceClient(
            url,
            login,
            password,
            verify=verify,
            fingerprint=fingerprint,
            admin_permission=permission,
        ) as client:
            return client.fetch_snapshot()

    return fetch


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Clock = system_clock,
    pbx: PbxReader | None = None,
    migrate: bool = True,
) -> Container:
    """Build the connector. ``pbx`` replaces the STARFACE client the settings describe
    (the demo and tests read a simulator that way)."""
    settings = settings or Settings()
    reader = pbx or starface_reader(settings)
    engine = make_engine(
        settings.resolved_database_url(), timeout=settings.database_timeout_seconds
    )
    if migrate:
        try:
            upgrade(engine)
        except BaseException:
            engine.dispose()
            raise
    uow = SqlUnitOfWorkFactory(engine, WorldCache())
    hasher = PasswordHasher()
    parameters = ParameterCache(uow, clock)
    limits = Limits(max_group_members=settings.max_group_members)
    return Container(
        settings=settings,
        engine=engine,
        clock=clock,
        uow=uow,
        hasher=hasher,
        accounts=Accounts(uow, clock, hasher, parameters),
        events=EventService(uow, clock, hasher, parameters, limits),
        admin=Administration(uow, clock, parameters),
        importer=Importer(
            uow,
            clock,
            hasher,
            max_delete_share=settings.import_max_delete_share,
            clock_tolerance=timedelta(seconds=settings.import_clock_tolerance_seconds),
            limits=limits,
        ),
        retention=Retention(
            uow,
            clock,
            event_log=settings.event_log_retention,
            event_ids=settings.event_id_retention,
        ),
        views=Views(engine),
        pbx=reader,
        parameters=parameters,
    )
