"""The full import from STARFACE, end to end: a real simulator on 127.0.0.1, real databases.

Every test runs on SQLite, PostgreSQL and MariaDB (the ``engine`` fixture) except the CLI
tests, which run the command as a subprocess on an SQLite file. Nothing is mocked: the PBX is
:mod:`starface_connector.simulation` served by uvicorn, read by the real
:class:`StarfaceClient`, and the connector is the real app where an HTTP API is involved.

What "writes nothing" means here: every table is compared row by row before and after, except
the import's own bookkeeping, which records every run by design (``import_runs``: one row per
run, also for dry runs, listed by ``GET /api/v1/imports``; ``batch_lock``: the write-lock
counter every locked transaction bumps) and, where the jtel API is used in between, the
``sessions`` table (API tokens slide their ``last_used_at``). The bookkeeping rows a run leaves
are asserted explicitly where it matters.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, delete, func, select

from starface_connector.api.app import create_app
from starface_connector.bootstrap import Container
from starface_connector.domain.model import Profile, UserUpdate
from starface_connector.domain.pbx import PbxSnapshot, PbxUser
from starface_connector.service.errors import ImportBusy, ImportRefused
from starface_connector.service.importer import Importer, ImportReport
from starface_connector.service.scheduler import ImportScheduler
from starface_connector.serving import run_in_thread
from starface_connector.simulation import (
    SimulatedPbx,
    SimulatorControl,
    create_simulator_app,
)
from starface_connector.starface.client import StarfaceClient
from starface_connector.starface.errors import StarfaceUnreachable
from starface_connector.storage.tables import Base, EventLogRow, ImportRunRow, UserRow
from tests.conftest import Connector, MovableClock, open_container, reset, settings_for

P = "Portal.WebServices.Starface."
ADMIN_IGNORED = f"{P}IgnoreUserSecurity"
PBX_LOGIN = "api-import"
PBX_PASSWORD = "Geheim-Passwort-42"
FOLLOW_ALL = {
    "IgnoreGroupUpdate": "0",
    "IgnoreUserDeletes": "0",
    "IgnoreUserSecurity": "0",
    "IgnoreUserStatus": "0",
}
BOOKKEEPING = frozenset({"import_runs", "batch_lock"})
ROOT = Path(__file__).resolve().parents[2]


# ---- a simulated PBX on a real port ----------------------------------------------------------


@dataclass
class Sim:
    pbx: SimulatedPbx
    url: str
    control: SimulatorControl

    def client(self, **options: Any) -> StarfaceClient:
        options.setdefault("backoff_base", 0.002)
        return StarfaceClient(self.url, PBX_LOGIN, PBX_PASSWORD, **options)

    def fetch(self) -> PbxSnapshot:
        with self.client() as client:
            return client.fetch_snapshot()

    def id_of(self, login: str) -> int:
        return self.pbx.user_id_for_login(login)


@pytest.fixture
def simulator() -> Iterator[Callable[..., Sim]]:
    with ExitStack() as stack:

        def make(users: int = 30, groups: int = 4, seed: int = 1, **options: Any) -> Sim:
            pbx = SimulatedPbx.generate(users, groups, seed)
            app = create_simulator_app(pbx, login=PBX_LOGIN, password=PBX_PASSWORD, **options)
            url = stack.enter_context(run_in_thread(app))
            return Sim(pbx, url, app.state.control)

        yield make


@pytest.fixture
def db(container: Container) -> Container:
    """The connector on a clean jtel store with standard parameters (and no import history)."""
    reset(container.engine)
    with container.engine.begin() as connection:
        connection.execute(delete(ImportRunRow))
    return container


@pytest.fixture
def make_jtel(db: Container) -> Iterator[Callable[..., Connector]]:
    """Start a connector app of our own (the shared ``server_url`` has no PBX configured)."""
    # The client closes first, so no idle keep-alive connection holds a server's shutdown up.
    with ExitStack() as servers, httpx.Client(timeout=60) as http:

        def make(fetch: Callable[[], PbxSnapshot] | None = None) -> Connector:
            url = servers.enter_context(run_in_thread(create_app(replace(db, pbx=fetch))))
            return Connector(url, http)

        yield make


# ---- reading the jtel store ------------------------------------------------------------------


def dump(engine: Engine, skip: frozenset[str] = BOOKKEEPING) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (but ``skip``), in primary-key order."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            if table.name in skip:
                continue
            rows = connection.execute(select(table).order_by(*table.primary_key.columns))
            tables[table.name] = [tuple(row) for row in rows]
    return tables


def jtel_users(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(select(UserRow.__table__))
        return {row.users_uid: row._asdict() for row in rows}


def jtel_profiles(engine: Engine) -> dict[str, tuple[Any, ...]]:
    return {
        login: (
            u["first_name"],
            u["last_name"],
            u["email"],
            u["language"],
            tuple(u["phone_numbers"]),
        )
        for login, u in jtel_users(engine).items()
    }


def jtel_admins(engine: Engine) -> dict[str, bool]:
    return {login: bool(u["admin"]) for login, u in jtel_users(engine).items()}


def jtel_groups(c: Connector) -> dict[str, tuple[str, tuple[str, ...]]]:
    response = c.admin("GET", "/api/v1/groups")
    assert response.status_code == 200, response.text
    return {g["id"]: (g["name"], tuple(sorted(g["members"]))) for g in response.json()}


def db_groups(container: Container) -> dict[str, tuple[str, tuple[str, ...]]]:
    return {g.id: (g.name, tuple(sorted(g.members))) for g in container.views.groups()}


def log_after(engine: Engine, after_id: int) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(EventLogRow.__table__).where(EventLogRow.id > after_id).order_by(EventLogRow.id)
        )
        return [row._asdict() for row in rows]


def max_log_id(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.coalesce(func.max(EventLogRow.id), 0))) or 0)


def import_runs(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(select(ImportRunRow.__table__).order_by(ImportRunRow.id))
        return [row._asdict() for row in rows]


def set_params(container: Container, **values: str) -> None:
    for name, value in values.items():
        container.admin.set_parameter(P + name, value, actor="test")


# ---- what the PBX says ---------------------------------------------------------------------


def pbx_profiles(snapshot: PbxSnapshot) -> dict[str, tuple[Any, ...]]:
    return {
        u.login: (u.first_name, u.family_name, u.email, u.language, tuple(u.phone_numbers))
        for u in snapshot.users
    }


def pbx_admins(snapshot: PbxSnapshot) -> dict[str, bool]:
    return {u.login: u.admin for u in snapshot.users}


def pbx_groups(snapshot: PbxSnapshot) -> dict[str, tuple[str, tuple[str, ...]]]:
    return {str(g.id): (g.name, tuple(sorted(g.member_logins))) for g in snapshot.groups}


def _comparable(user: PbxUser) -> PbxUser:
    return replace(user, id=0)


def expected_difference(before: PbxSnapshot, after: PbxSnapshot) -> dict[str, Any]:
    """The import's report when every change is followed (all Ignore* parameters 0)."""
    old, new = before.user_by_login(), after.user_by_login()
    both = set(old) & set(new)
    updated = sorted(x for x in both if _comparable(old[x]) != _comparable(new[x]))
    # A deleted user leaves jtel's groups with the deletion itself: that is no group update.
    gone = set(old) - set(new)
    old_groups = {
        gid: (name, tuple(m for m in members if m not in gone))
        for gid, (name, members) in pbx_groups(before).items()
    }
    new_groups = pbx_groups(after)
    common = set(old_groups) & set(new_groups)
    groups_updated = sorted(g for g in common if old_groups[g] != new_groups[g])
    return {
        "users": {
            "created": sorted(set(new) - set(old)),
            "updated": updated,
            "deleted": sorted(set(old) - set(new)),
            "unchanged": len(both) - len(updated),
        },
        "groups": {
            "created": sorted(set(new_groups) - set(old_groups)),
            "updated": groups_updated,
            "unchanged": len(common) - len(groups_updated),
        },
    }


def mutate(pbx: SimulatedPbx) -> None:
    """One change of every kind a PBX administrator makes."""
    snapshot = pbx.snapshot()
    users = list(snapshot.users)
    pbx.update_user(users[0].id, email="neue.adresse@example.org")
    pbx.update_user(users[1].id, family_name="Lefèvre-Öztürk")
    pbx.update_user(users[2].id, phone_numbers=["+49 721 5550001", "29999"])
    other_language = next(x for x in ("de", "en", "fr") if x != users[3].language)
    pbx.update_user(users[3].id, language=other_language)
    pbx.set_admin(users[4].id, not users[4].admin)
    pbx.delete_user(users[5].id)
    pbx.delete_user(users[6].id)
    pbx.add_user(first_name="Zoé", family_name="Châtelain", language="fr")
    pbx.add_user(
        first_name="Jürgen", family_name="Weiß", admin=True, phone_numbers=["+49 30 1234567"]
    )
    group_ids = pbx.group_ids()
    pbx.set_group_members(group_ids[0], [u.id for u in users[7:12]])
    pbx.add_group("Neue Gruppe", [u.id for u in users[12:15]])


def report_sections(report: ImportReport) -> dict[str, Any]:
    data = report.as_json()
    return {"users": data["users"], "groups": data["groups"]}


def run_import(container: Container, sim: Sim, **options: Any) -> ImportReport:
    return container.importer.run(sim.fetch, **options)


def another_importer(container: Container) -> Importer:
    """An importer as a second instance on the same database would have it."""
    return Importer(container.uow, container.clock, container.hasher)


def assert_jtel_mirrors(engine: Engine, snapshot: PbxSnapshot) -> None:
    assert jtel_profiles(engine) == pbx_profiles(snapshot)
    assert jtel_admins(engine) == pbx_admins(snapshot)


# ---- report contents and event log -----------------------------------------------------------


def test_report_counts_match_the_pbx_changes_and_every_change_is_logged(
    engine: Engine, db: Container, simulator: Callable[..., Sim]
) -> None:
    sim = simulator(users=40, groups=6, seed=11)
    set_params(db, **FOLLOW_ALL)
    first = sim.pbx.snapshot()
    start = max_log_id(engine)  # after the parameter changes, which the log holds too
    report = run_import(db, sim)
    logins = sorted(u.login for u in first.users)
    group_ids = sorted(str(g.id) for g in first.groups)
    assert report_sections(report) == {
        "users": {"created": logins, "updated": [], "deleted": [], "unchanged": 0},
        "groups": {"created": group_ids, "updated": [], "unchanged": 0},
    }
    assert report.changes == 40 + 6
    assert not report.ignored and not report.stale and not report.rejected
    assert_jtel_mirrors(engine, first)
    assert db_groups(db) == pbx_groups(first)
    # The event log holds exactly the import's changes, each with source "import".
    rows = log_after(engine, start)
    assert {r["source"] for r in rows} == {"import"}
    assert {r["outcome"] for r in rows} == {"applied"}
    assert sorted(r["login"] for r in rows if r["type"] == "USER_UPDATE") == logins
    assert sorted(r["group_id"] for r in rows if r["type"] == "GROUP_UPDATE") == group_ids
    assert len(rows) == 40 + 6
    assert all(r["reason"].startswith("created user") for r in rows if r["type"] == "USER_UPDATE")
    assert all(r["occurred_at"] == report.taken_at for r in rows)

    mutate(sim.pbx)
    second = sim.pbx.snapshot()
    expected = expected_difference(first, second)
    assert len(expected["users"]["created"]) == 2 and len(expected["users"]["deleted"]) == 2
    assert len(expected["users"]["updated"]) == 5 and expected["groups"]["created"]
    mark = max_log_id(engine)
    report = run_import(db, sim)
    assert report_sections(report) == expected
    assert_jtel_mirrors(engine, second)
    assert db_groups(db) == pbx_groups(second)
    rows = log_after(engine, mark)
    assert {r["source"] for r in rows} == {"import"}
    assert {r["outcome"] for r in rows} == {"applied"}
    by_type: dict[str, list[str]] = {}
    for r in rows:
        by_type.setdefault(r["type"], []).append(r["group_id"] or r["login"])
    assert sorted(by_type.pop("USER_UPDATE")) == sorted(
        expected["users"]["created"] + expected["users"]["updated"]
    )
    assert sorted(by_type.pop("USER_DELETE")) == expected["users"]["deleted"]
    assert sorted(by_type.pop("GROUP_UPDATE")) == sorted(
        expected["groups"]["created"] + expected["groups"]["updated"]
    )
    assert by_type == {}
    deleted_reasons = [r["reason"] for r in rows if r["type"] == "USER_DELETE"]
    assert all(f"{P}IgnoreUserDeletes=0" in reason for reason in deleted_reasons)


def admins_in(sim: Sim) -> int:
    """PBX users holding the administration permission."""
    return sum(1 for user in sim.pbx.snapshot().users if user.admin)


@pytest.mark.parametrize("params", [FOLLOW_ALL, {}], ids=["follow-all", "standard-params"])
def test_second_import_reports_no_change_and_writes_nothing(
    engine: Engine,
    db: Container,
    simulator: Callable[..., Sim],
    params: dict[str, str],
) -> None:
    sim = simulator(users=40, groups=5, seed=12)
    set_params(db, **params)
    run_import(db, sim)
    # PBX changes of every kind; under the standard parameters some are ignored every time.
    mutate(sim.pbx)
    applied = run_import(db, sim)
    assert applied.changes > 0
    before, log_mark = dump(engine), max_log_id(engine)
    updated_at = {login: u["updated_at"] for login, u in jtel_users(engine).items()}
    runs_before = len(import_runs(engine))

    again = run_import(db, sim)

    snapshot = sim.pbx.snapshot()
    assert again.changes == 0
    assert (again.created, again.updated, again.deleted) == ([], [], [])
    assert (again.groups_created, again.groups_updated) == ([], [])
    assert not again.stale and not again.rejected
    if params:
        assert again.unchanged == len(snapshot.users)
        assert again.groups_unchanged == len(snapshot.groups)
        assert not again.ignored
    else:
        # PBX administrators stay non-admin in jtel: reported as ignored on every run
        assert admins_in(sim) > 0
        assert again.ignored == {
            f"{P}IgnoreUserDeletes": 2,
            f"{P}IgnoreGroupUpdate": len(snapshot.groups),
            ADMIN_IGNORED: admins_in(sim),
        }
        assert again.unchanged == len(snapshot.users)
    assert max_log_id(engine) == log_mark
    assert {login: u["updated_at"] for login, u in jtel_users(engine).items()} == updated_at
    assert dump(engine) == before
    runs = import_runs(engine)
    assert len(runs) == runs_before + 1
    assert runs[-1]["status"] == "done" and runs[-1]["summary"]["changes"] == 0


# ---- dry run --------------------------------------------------------------------------------


def test_dry_run_writes_nothing_and_reports_what_the_import_then_applies(
    engine: Engine, db: Container, simulator: Callable[..., Sim]
) -> None:
    sim = simulator(users=40, groups=5, seed=13)
    set_params(db, **FOLLOW_ALL)
    # On an empty jtel first, then on an existing state with PBX changes of every kind.
    for stage in ("first", "changes"):
        before_snapshot = (
            PbxSnapshot(users=(), groups=()) if stage == "first" else sim.pbx.snapshot()
        )
        if stage == "changes":
            mutate(sim.pbx)
        expected = expected_difference(before_snapshot, sim.pbx.snapshot())
        before = dump(engine)
        runs_before = len(import_runs(engine))

        dry = run_import(db, sim, dry_run=True)

        assert dump(engine) == before, stage
        runs = import_runs(engine)
        assert len(runs) == runs_before + 1
        assert bool(runs[-1]["dry_run"]) is True
        assert report_sections(dry) == expected, stage
        assert dry.dry_run and dry.changes > 0

        real = run_import(db, sim)

        assert not real.dry_run
        dry_json, real_json = dry.as_json(), real.as_json()
        for key in ("dryRun", "takenAt"):
            dry_json.pop(key), real_json.pop(key)
        assert real_json == dry_json, stage
        assert_jtel_mirrors(engine, sim.pbx.snapshot())


# ---- every parameter at 0 and at 1 -----------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "1"])
def test_user_password_set_uid(
    engine: Engine,
    db: Container,
    simulator: Callable[..., Sim],
    make_jtel: Callable[..., Connector],
    value: str,
) -> None:
    sim = simulator(users=20, groups=2, seed=21)
    set_params(db, UserPasswordSetUID=value)
    report = run_import(db, sim)
    assert len(report.created) == 20
    c = make_jtel()
    for login in report.created[:3]:
        response = c.login(login, login)
        if value == "1":
            assert response.status_code == 200, response.text
            me = c.as_token(response.json()["token"], "GET", "/api/v1/me")
            assert me.status_code == 200 and me.json()["usersUid"] == login
        else:
            assert response.status_code == 401, response.text
    reasons = [r["reason"] for r in log_after(engine, 0) if r["type"] == "USER_UPDATE"]
    assert len(reasons) == 20
    note = "password = UsersUID" if value == "1" else "random password"
    assert all(f"{note}" in r and f"{P}UserPasswordSetUID={value}" in r for r in reasons)


@pytest.mark.parametrize("value", ["0", "1"])
def test_ignore_user_security_at_creation(
    engine: Engine, db: Container, simulator: Callable[..., Sim], value: str
) -> None:
    sim = simulator(users=40, groups=2, seed=22)
    snapshot = sim.pbx.snapshot()
    admins = {login for login, admin in pbx_admins(snapshot).items() if admin}
    assert 0 < len(admins) < 40
    set_params(db, IgnoreUserSecurity=value)
    run_import(db, sim)
    expected = {login: admin and value == "0" for login, admin in pbx_admins(snapshot).items()}
    assert jtel_admins(engine) == expected
    assert any(expected.values()) is (value == "0")
    reasons = {r["login"]: r["reason"] for r in log_after(engine, 0)}
    for login in admins:
        assert f"{P}IgnoreUserSecurity={value}" in reasons[login]


@pytest.mark.parametrize("value", ["0", "1"])
def test_ignore_user_security_on_later_change_of_the_admin_permission(
    engine: Engine,
    db: Container,
    simulator: Callable[..., Sim],
    make_jtel: Callable[..., Connector],
    value: str,
) -> None:
    sim = simulator(users=30, groups=2, seed=23)
    set_params(db, IgnoreUserSecurity="0")  # admin flags are taken at creation
    run_import(db, sim)
    snapshot = sim.pbx.snapshot()
    admin = next(u.login for u in snapshot.users if u.admin)
    plain = next(u.login for u in snapshot.users if not u.admin)
    c = make_jtel()
    admin_token, plain_token = c.token(admin, admin), c.token(plain, plain)
    assert c.as_token(admin_token, "GET", "/api/v1/users").status_code == 200
    assert c.as_token(plain_token, "GET", "/api/v1/users").status_code == 403

    set_params(db, IgnoreUserSecurity=value)
    sim.pbx.set_admin(sim.id_of(admin), False)
    sim.pbx.set_admin(sim.id_of(plain), True)
    mark = max_log_id(engine)
    before = dump(engine, BOOKKEEPING | {"sessions"})
    report = run_import(db, sim)

    flags = jtel_admins(engine)
    if value == "0":
        assert report.updated == sorted([admin, plain])
        assert report.unchanged == 28
        assert (flags[admin], flags[plain]) == (False, True)
        # Rights follow at once, also for tokens issued before the import.
        assert c.as_token(admin_token, "GET", "/api/v1/users").status_code == 403
        assert c.as_token(plain_token, "GET", "/api/v1/users").status_code == 200
        reasons = {r["login"]: r["reason"] for r in log_after(engine, mark)}
        assert reasons == {
            admin: f"admin flag revoked ({P}IgnoreUserSecurity=0)",
            plain: f"admin flag granted ({P}IgnoreUserSecurity=0)",
        }
    else:
        assert report.changes == 0 and report.unchanged == 30
        assert (flags[admin], flags[plain]) == (True, False)
        assert c.as_token(admin_token, "GET", "/api/v1/users").status_code == 200
        assert c.as_token(plain_token, "GET", "/api/v1/users").status_code == 403
        assert dump(engine, BOOKKEEPING | {"sessions"}) == before


def test_a_pbx_that_lists_no_users_deletes_nobody(
    engine: Engine, db: Container, simulator: Callable[..., Sim]
) -> None:
    """An empty user list is far likelier missing REST rights than an empty PBX."""
    sim = simulator(users=12, groups=2, seed=33)
    set_params(db, IgnoreUserDeletes="0")
    run_import(db, sim)
    for user in sim.pbx.snapshot().users:
        sim.pbx.delete_user(user.id)
    before = dump(engine)
    with pytest.raises(ImportRefused, match="refusing to delete all 12 jtel users"):
        run_import(db, sim)
    assert dump(engine) == before
    assert len(jtel_users(engine)) == 12


@pytest.mark.parametrize("value", ["0", "1"])
def test_ignore_user_deletes(
    engine: Engine,
    db: Container,
    simulator: Callable[..., Sim],
    make_jtel: Callable[..., Connector],
    value: str,
) -> None:
    sim = simulator(users=30, groups=3, seed=24)
    set_params(db, IgnoreUserDeletes=value)
    run_import(db, sim)
    gone = sorted(u.login for u in sim.pbx.snapshot().users[3:6])
    for login in gone:
        sim.pbx.delete_user(sim.id_of(login))
    mark = max_log_id(engine)
    before = dump(engine, BOOKKEEPING | {"sessions"})

    report = run_import(db, sim)

    c = make_jtel()
    remaining = set(jtel_users(engine))
    # PBX administrators stay non-admin (IgnoreUserSecurity=1): reported as ignored each time
    admins = {ADMIN_IGNORED: n} if (n := admins_in(sim)) else {}
    if value == "0":
        assert report.deleted == gone
        assert report.unchanged == 27
        assert report.ignored == {f"{P}IgnoreGroupUpdate": 3, **admins}
        assert remaining == {u.login for u in sim.pbx.snapshot().users}
        for login in gone:
            assert c.admin("GET", f"/api/v1/users/{login}").status_code == 404
        rows = log_after(engine, mark)
        assert [(r["type"], r["login"], r["source"]) for r in rows] == [
            ("USER_DELETE", login, "import") for login in gone
        ]
    else:
        assert report.deleted == [] and report.changes == 0
        ignored = {
            f"{P}IgnoreGroupUpdate": 3,
            f"{P}IgnoreUserDeletes": 3,
            **admins,
        }
        assert report.ignored == ignored
        assert report.as_json()["ignored"] == ignored
        assert set(gone) <= remaining and len(remaining) == 30
        for login in gone:
            assert c.admin("GET", f"/api/v1/users/{login}").status_code == 200
        assert dump(engine, BOOKKEEPING | {"sessions"}) == before


@pytest.mark.parametrize("value", ["0", "1"])
def test_ignore_group_update_when_groups_are_first_imported(
    engine: Engine, db: Container, simulator: Callable[..., Sim], value: str
) -> None:
    sim = simulator(users=30, groups=5, seed=25)
    set_params(db, IgnoreGroupUpdate=value)
    report = run_import(db, sim)
    snapshot = sim.pbx.snapshot()
    assert len(report.created) == 30
    group_rows = [r for r in log_after(engine, 0) if r["type"] == "GROUP_UPDATE"]
    # PBX administrators are created without the flag (IgnoreUserSecurity=1): counted as ignored
    admins = {ADMIN_IGNORED: n} if (n := admins_in(sim)) else {}
    if value == "0":
        assert db_groups(db) == pbx_groups(snapshot)
        assert any(members for _, members in pbx_groups(snapshot).values())
        assert report.groups_created == sorted(str(g.id) for g in snapshot.groups)
        assert report.ignored == admins
        assert sorted(r["group_id"] for r in group_rows) == report.groups_created
        assert all(r["reason"].startswith("created group") for r in group_rows)
    else:
        assert db_groups(db) == {}
        assert report.groups_created == [] and report.groups_unchanged == 0
        assert report.ignored == {f"{P}IgnoreGroupUpdate": 5, **admins}
        assert group_rows == []


@pytest.mark.parametrize("value", ["0", "1"])
def test_ignore_group_update_on_later_group_changes(
    engine: Engine, db: Container, simulator: Callable[..., Sim], value: str
) -> None:
    sim = simulator(users=30, groups=4, seed=26)
    set_params(db, IgnoreGroupUpdate="0")
    run_import(db, sim)
    first = sim.pbx.snapshot()
    assert db_groups(db) == pbx_groups(first)
    set_params(db, IgnoreGroupUpdate=value)
    users = list(first.users)
    changed = sim.pbx.group_ids()[1]
    sim.pbx.set_group_members(changed, [u.id for u in users[:6]])
    new = sim.pbx.add_group("Qualité", [u.id for u in users[6:9]])
    before = dump(engine)

    report = run_import(db, sim)

    if value == "0":
        assert report.groups_updated == [str(changed)]
        assert report.groups_created == [str(new)]
        assert report.groups_unchanged == 3
        assert db_groups(db) == pbx_groups(sim.pbx.snapshot())
    else:
        assert report.changes == 0
        admins = {ADMIN_IGNORED: n} if (n := admins_in(sim)) else {}
        assert report.ignored == {f"{P}IgnoreGroupUpdate": 5, **admins}
        assert db_groups(db) == pbx_groups(first)
        assert dump(engine) == before


@pytest.mark.parametrize("value", ["0", "1"])
def test_ignore_user_status_import_never_touches_acd_or_phone_status(
    engine: Engine,
    db: Container,
    simulator: Callable[..., Sim],
    make_jtel: Callable[..., Connector],
    value: str,
) -> None:
    sim = simulator(users=20, groups=2, seed=27)
    set_params(db, IgnoreUserStatus=value)
    run_import(db, sim)
    assert {u["acd_status"] for u in jtel_users(engine).values()} == {"LOGGED_OFF"}
    logins = sorted(jtel_users(engine))
    agent, pausing = logins[0], logins[1]
    c = make_jtel()
    now = datetime.now(UTC)
    result = c.one(c.user_status(agent, "LOGGED_IN", at=now))
    if value == "0":
        assert result["outcome"] == "applied", result
    else:
        assert result == {
            "eventId": result["eventId"],
            "outcome": "ignored",
            "reason": f"ignored: {P}IgnoreUserStatus=1",
        }
        response = c.admin(
            "PUT", f"/api/v1/users/{agent}/acd-status", json={"acdStatus": "CALLS_AND_MEDIA"}
        )
        assert response.status_code == 200, response.text
    response = c.admin("PUT", f"/api/v1/users/{pausing}/acd-status", json={"acdStatus": "PAUSE"})
    assert response.status_code == 200, response.text
    assert c.one(c.phone_status(agent, "BUSY", at=now))["outcome"] == "applied"
    status_columns = ("acd_status", "acd_at", "phone_status", "phone_at")
    statuses = {
        login: tuple(u[k] for k in status_columns) for login, u in jtel_users(engine).items()
    }
    assert statuses[agent][0::2] == ("CALLS_AND_MEDIA", "BUSY")
    assert statuses[pausing][0] == "PAUSE"
    # The PBX changes both agents' profiles, so the import rewrites their rows.
    sim.pbx.update_user(sim.id_of(agent), email="agent.neu@example.org")
    sim.pbx.update_user(sim.id_of(pausing), family_name="Périer-Krüger")

    report = run_import(db, sim)

    assert report.updated == sorted([agent, pausing])
    after = jtel_users(engine)
    assert after[agent]["email"] == "agent.neu@example.org"
    assert after[pausing]["last_name"] == "Périer-Krüger"
    assert {login: tuple(u[k] for k in status_columns) for login, u in after.items()} == statuses
    api_view = c.user(agent)
    assert api_view is not None
    assert (api_view["acdStatus"], api_view["phoneStatus"]) == ("CALLS_AND_MEDIA", "BUSY")


# ---- resilience, ordering, exclusion ---------------------------------------------------------


def test_pbx_failing_30_percent_of_requests_still_yields_a_complete_correct_import(
    engine: Engine, db: Container, simulator: Callable[..., Sim]
) -> None:
    sim = simulator(users=60, groups=8, seed=31, error_rate=0.3)
    set_params(db, **FOLLOW_ALL)

    def fetch() -> PbxSnapshot:
        # The shipped retry budget: 5xx answers get 2 x 4 retries, each step on its own.
        with sim.client() as client:
            return client.fetch_snapshot()

    importer = another_importer(db)
    report = importer.run(fetch)
    assert sim.control.faults_injected > 0
    snapshot = sim.pbx.snapshot()
    assert len(report.created) == 60 and len(report.groups_created) == 8
    assert_jtel_mirrors(engine, snapshot)
    assert db_groups(db) == pbx_groups(snapshot)

    faults = sim.control.faults_injected
    mutate(sim.pbx)
    expected = expected_difference(snapshot, sim.pbx.snapshot())
    report = importer.run(fetch)
    assert sim.control.faults_injected > faults
    assert report_sections(report) == expected
    assert_jtel_mirrors(engine, sim.pbx.snapshot())
    assert db_groups(db) == pbx_groups(sim.pbx.snapshot())


def test_live_events_newer_than_the_snapshot_are_never_overwritten(
    engine: Engine,
    db: Container,
    simulator: Callable[..., Sim],
    make_jtel: Callable[..., Connector],
) -> None:
    sim = simulator(users=20, groups=2, seed=32)
    # The first snapshot a minute old: the PBX dates snapshots by its Date header, to the
    # second, so a live event between two imports needs room between their stamps.
    a_minute_ago = datetime.now(UTC) - timedelta(minutes=1)
    db.importer.run(lambda: replace(sim.fetch(), taken_at=a_minute_ago))
    snapshot = sim.pbx.snapshot()
    newer, older = snapshot.users[0], snapshot.users[1]
    c = make_jtel()

    def live_update(user: PbxUser, email: str, at: datetime) -> None:
        event = c.user_update(
            user.login,
            at=at,
            firstName=user.first_name,
            familyName=user.family_name,
            email=email,
            language=user.language,
            phoneNumbers=list(user.phone_numbers),
        )
        assert c.one(event)["outcome"] == "applied"

    # Newer than any snapshot the next import can take: the PBX's old email is stale.
    live_update(newer, "live@example.org", datetime.now(UTC) + timedelta(hours=1))
    # Newer than the first import but older than the next snapshot: the PBX wins.
    live_update(older, "older@example.org", datetime.now(UTC) - timedelta(seconds=30))
    mark = max_log_id(engine)

    report = run_import(db, sim)

    assert report.stale == [newer.login]
    assert report.updated == [older.login]
    assert report.unchanged == 18
    assert report.as_json()["stale"] == [newer.login]
    (stale,) = [d for d in report.details if d["outcome"] == "stale"]
    assert stale["subject"] == newer.login and stale["reason"].startswith("stale:")
    users = jtel_users(engine)
    assert users[newer.login]["email"] == "live@example.org"
    assert users[older.login]["email"] == older.email
    rows = log_after(engine, mark)
    assert [(r["login"], r["source"]) for r in rows] == [(older.login, "import")]


def test_two_imports_never_run_at_once(
    engine: Engine, db: Container, simulator: Callable[..., Sim]
) -> None:
    sim = simulator(users=20, groups=2, seed=33)
    entered, release = threading.Event(), threading.Event()

    def blocked_fetch() -> PbxSnapshot:
        entered.set()
        assert release.wait(60)
        return sim.fetch()

    importer = another_importer(db)
    outcome: dict[str, Any] = {}

    def first() -> None:
        try:
            outcome["report"] = importer.run(blocked_fetch)
        except BaseException as exc:  # handed to the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert entered.wait(30)
        with pytest.raises(ImportBusy):
            importer.run(sim.fetch)  # the same importer: its lock
        with pytest.raises(ImportBusy):
            another_importer(db).run(sim.fetch)  # another instance (process): the lease row
        with pytest.raises(ImportBusy):
            another_importer(db).run(sim.fetch, dry_run=True)
        assert jtel_users(engine) == {}
    finally:
        release.set()
        thread.join(60)
    assert "error" not in outcome, outcome.get("error")
    assert len(outcome["report"].created) == 20
    runs = import_runs(engine)
    assert [r["status"] for r in runs] == ["done"]
    # The lease is released: the next import runs (and finds nothing to do).
    assert another_importer(db).run(sim.fetch).changes == 0
    assert [r["status"] for r in import_runs(engine)] == ["done", "done"]


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_scheduler_imports_at_start_then_every_interval_and_survives_failures(
    engine: Engine, db: Container, simulator: Callable[..., Sim]
) -> None:
    sim = simulator(users=20, groups=2, seed=34)
    importer = another_importer(db)
    # At start, even with an interval far longer than the test.
    scheduler = ImportScheduler(importer, sim.fetch, interval_seconds=3600)
    scheduler.start()
    try:
        _wait_for(lambda: len(jtel_users(engine)) == 20, "the import at start")
    finally:
        scheduler.stop()
    assert not scheduler.running  # stop() ended the loop without sitting out the hour
    assert [(r["trigger"], r["status"]) for r in import_runs(engine)] == [("schedule", "done")]

    # Every interval, and a failing PBX only costs one round.
    calls: list[str] = []

    def flaky_fetch() -> PbxSnapshot:
        calls.append("fetch")
        if len(calls) == 1:
            raise StarfaceUnreachable("STARFACE at test is unreachable")
        if len(calls) == 2:
            raise RuntimeError("a bug somewhere")
        return sim.fetch()

    sim.pbx.add_user(first_name="Käthe", family_name="Später", login="7777")
    scheduler = ImportScheduler(importer, flaky_fetch, interval_seconds=0.1, run_at_start=False)
    scheduler.start()
    try:
        _wait_for(lambda: "7777" in jtel_users(engine), "an import at the interval")
        sim.pbx.add_user(first_name="Noël", family_name="Brûlé", login="7778")
        _wait_for(lambda: "7778" in jtel_users(engine), "the next interval")
    finally:
        scheduler.stop()
    statuses = [r["status"] for r in import_runs(engine)]
    assert statuses[:3] == ["done", "failed", "failed"]
    assert set(statuses[3:]) == {"done"} and len(statuses) >= 5


# ---- the API ---------------------------------------------------------------------------------


def test_api_dry_run_returns_the_difference_and_the_import_applies_it(
    engine: Engine,
    db: Container,
    simulator: Callable[..., Sim],
    make_jtel: Callable[..., Connector],
) -> None:
    sim = simulator(users=30, groups=4, seed=41)
    c = make_jtel(sim.fetch)
    assert c.admin("GET", "/api/v1/imports").json() == []
    logins = sorted(u.login for u in sim.pbx.snapshot().users)
    before = dump(engine, BOOKKEEPING | {"sessions"})

    response = c.admin("POST", "/api/v1/import", params={"dryRun": "true"})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["dryRun"] is True
    assert body["users"] == {"created": logins, "updated": [], "deleted": [], "unchanged": 0}
    assert body["changes"] == 30
    admins = {ADMIN_IGNORED: n} if (n := admins_in(sim)) else {}
    assert body["ignored"] == {f"{P}IgnoreGroupUpdate": 4, **admins}
    assert {d["subject"] for d in body["details"]} == set(logins)
    assert dump(engine, BOOKKEEPING | {"sessions"}) == before
    runs = c.admin("GET", "/api/v1/imports").json()
    assert [(r["trigger"], r["dryRun"], r["status"]) for r in runs] == [("api", True, "done")]
    assert runs[0]["summary"]["users"]["created"] == logins

    response = c.admin("POST", "/api/v1/import")

    assert response.status_code == 200, response.text
    applied = response.json()
    assert applied["dryRun"] is False
    for key in ("users", "groups", "ignored", "stale", "rejected", "changes", "details"):
        assert applied[key] == body[key], key
    assert sorted(jtel_users(engine)) == logins
    listing = c.admin("GET", "/api/v1/users", params={"limit": 1000}).json()
    assert listing["total"] == 30
    events = c.admin("GET", "/api/v1/events", params={"limit": 1000}).json()["items"]
    assert len(events) == 30 and {e["source"] for e in events} == {"import"}
    runs = c.admin("GET", "/api/v1/imports").json()
    assert [(r["dryRun"], r["status"]) for r in runs] == [(False, "done"), (True, "done")]


def test_api_import_is_for_administrators_only(
    engine: Engine,
    db: Container,
    simulator: Callable[..., Sim],
    make_jtel: Callable[..., Connector],
) -> None:
    sim = simulator(users=30, groups=2, seed=42)
    set_params(db, IgnoreUserSecurity="0")
    run_import(db, sim)
    snapshot = sim.pbx.snapshot()
    plain = next(u.login for u in snapshot.users if not u.admin)
    admin = next(u.login for u in snapshot.users if u.admin)
    sim.pbx.add_user(first_name="Loïc", family_name="Brûlé")
    c = make_jtel(sim.fetch)
    plain_token, admin_token = c.token(plain, plain), c.token(admin, admin)
    before = dump(engine, BOOKKEEPING | {"sessions"})
    for params in ({"dryRun": "true"}, {}):
        response = c.as_token(plain_token, "POST", "/api/v1/import", params=params)
        assert response.status_code == 403, response.text
    assert c.as_token(plain_token, "GET", "/api/v1/imports").status_code == 403
    assert c.http.post(f"{c.url}/api/v1/import").status_code == 401
    assert dump(engine, BOOKKEEPING | {"sessions"}) == before
    assert len(import_runs(engine)) == 1  # no run was even started
    # A jtel user with the admin flag may import.
    response = c.as_token(admin_token, "POST", "/api/v1/import", params={"dryRun": "true"})
    assert response.status_code == 200, response.text
    assert len(response.json()["users"]["created"]) == 1


def test_api_import_without_a_configured_pbx_is_a_conflict(
    engine: Engine, connector: Connector
) -> None:
    with engine.begin() as connection:
        connection.execute(delete(ImportRunRow))
    response = connector.admin("POST", "/api/v1/import", params={"dryRun": "true"})
    assert response.status_code == 409, response.text
    assert "STARFACE" in response.json()["detail"]
    assert connector.admin("POST", "/api/v1/import").status_code == 409
    assert connector.admin("GET", "/api/v1/imports").json() == []


def test_api_import_with_wrong_pbx_credentials_is_a_bad_gateway(
    engine: Engine,
    db: Container,
    simulator: Callable[..., Sim],
    make_jtel: Callable[..., Connector],
) -> None:
    sim = simulator(users=20, groups=2, seed=43)

    def fetch() -> PbxSnapshot:
        with StarfaceClient(sim.url, PBX_LOGIN, "wrong", backoff_base=0.002) as client:
            return client.fetch_snapshot()

    c = make_jtel(fetch)
    response = c.admin("POST", "/api/v1/import")
    assert response.status_code == 502, response.text
    detail = response.json()["detail"]
    assert "\n" not in detail and "rejected the login" in detail
    assert jtel_users(engine) == {}
    runs = c.admin("GET", "/api/v1/imports").json()
    assert [(r["status"], r["summary"]) for r in runs] == [("failed", None)]


def test_api_refuses_a_second_import_while_one_runs_and_live_events_keep_flowing(
    engine: Engine,
    db: Container,
    simulator: Callable[..., Sim],
    make_jtel: Callable[..., Connector],
) -> None:
    sim = simulator(users=20, groups=2, seed=44)
    entered, release = threading.Event(), threading.Event()

    def blocked_fetch() -> PbxSnapshot:
        entered.set()
        assert release.wait(60)
        return sim.fetch()

    c = make_jtel(blocked_fetch)
    c.admin("GET", "/api/v1/imports")  # log in before the race
    headers = {"Authorization": f"Bearer {c.admin_token}"}
    first: dict[str, httpx.Response] = {}

    def post_import() -> None:
        with httpx.Client(timeout=60) as http:
            first["response"] = http.post(f"{c.url}/api/v1/import", headers=headers)

    thread = threading.Thread(target=post_import)
    thread.start()
    try:
        assert entered.wait(30)
        for params in ({}, {"dryRun": "true"}):
            response = c.admin("POST", "/api/v1/import", params=params)
            assert response.status_code == 409, response.text
            assert "running" in response.json()["detail"]
        # Events are not held up by the import; this one is newer than its snapshot.
        user = sim.pbx.snapshot().users[0]
        event = c.user_update(
            user.login,
            at=datetime.now(UTC) + timedelta(hours=1),
            firstName="Live",
            familyName=user.family_name,
            email=user.email,
            language=user.language,
            phoneNumbers=list(user.phone_numbers),
        )
        assert c.one(event)["outcome"] == "applied"
        assert not release.is_set()  # applied while the import still waits for the PBX
    finally:
        release.set()
        thread.join(60)
    response = first["response"]
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["stale"] == [user.login]
    assert len(body["users"]["created"]) == 19
    assert jtel_users(engine)[user.login]["first_name"] == "Live"
    assert [r["status"] for r in import_runs(engine)] == ["done"]


# ---- the command line (SQLite only) ----------------------------------------------------------


def run_cli(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STARFACE_CONNECTOR_")}
    env.update(PYTHONIOENCODING="utf-8", COLUMNS="160", NO_COLOR="1", TERM="dumb")
    return subprocess.run(
        [sys.executable, "-m", "starface_connector", "import", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=ROOT,
    )


def table_row(output: str, label: str) -> list[int]:
    match = re.search(rf"^\W*{label}\W+(\d+)(?:\W+(\d+))?", output, re.MULTILINE)
    assert match, f"no {label!r} row in:\n{output}"
    return [int(n) for n in match.groups() if n is not None]


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Iterator[tuple[str, Container]]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    container = open_container(settings_for(url))
    yield url, container
    container.close()


def test_cli_dry_run_prints_the_summary_and_writes_nothing(
    simulator: Callable[..., Sim], sqlite_file: tuple[str, Container]
) -> None:
    url, container = sqlite_file
    engine = container.engine
    sim = simulator(users=30, groups=4, seed=51)
    set_params(container, **FOLLOW_ALL)
    run_import(container, sim)
    first = sim.pbx.snapshot()
    mutate(sim.pbx)
    expected = expected_difference(first, sim.pbx.snapshot())
    before = dump(engine)
    engine.dispose()
    pbx_args = [
        "--starface-url", sim.url, "--starface-login", PBX_LOGIN,
        "--starface-password", PBX_PASSWORD, "--database-url", url,
    ]  # fmt: skip

    done = run_cli(*pbx_args, "--dry-run")

    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "Traceback" not in out + done.stderr
    assert "dry run" in out
    users, groups = expected["users"], expected["groups"]
    assert table_row(out, "created") == [len(users["created"]), len(groups["created"])]
    assert table_row(out, "updated") == [len(users["updated"]), len(groups["updated"])]
    assert table_row(out, "deleted") == [len(users["deleted"])]
    assert table_row(out, "unchanged") == [users["unchanged"], groups["unchanged"]]
    changes = sum(len(users[k]) for k in ("created", "updated", "deleted"))
    changes += len(groups["created"]) + len(groups["updated"])
    assert f"{changes} change(s)" in out
    for login in users["updated"] + users["deleted"]:
        assert re.search(rf"^\s*{login}\s", out, re.MULTILINE), login
    assert dump(engine) == before

    done = run_cli(*pbx_args)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "dry run" not in done.stdout and f"{changes} change(s)" in done.stdout
    assert_jtel_mirrors(engine, sim.pbx.snapshot())
    assert [(r["trigger"], r["dry_run"], r["status"]) for r in import_runs(engine)][1:] == [
        ("cli", True, "done"),
        ("cli", False, "done"),
    ]


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_cli_wrong_password_is_one_clear_line(
    simulator: Callable[..., Sim], sqlite_file: tuple[str, Container]
) -> None:
    url, container = sqlite_file
    engine = container.engine
    sim = simulator(users=20, groups=2, seed=52)
    done = run_cli(
        "--starface-url", sim.url, "--starface-login", PBX_LOGIN,
        "--starface-password", "not-the-password", "--database-url", url,
    )  # fmt: skip
    line = _one_error_line(done)
    assert "rejected the login" in line and PBX_LOGIN in line and "password" in line
    assert jtel_users(engine) == {}
    assert sim.control.logins_failed >= 1 and sim.control.logins_succeeded == 0


def test_cli_unreachable_pbx_is_one_clear_line(sqlite_file: tuple[str, Container]) -> None:
    url, container = sqlite_file
    engine = container.engine
    done = run_cli(
        "--starface-url", "http://127.0.0.1:1", "--starface-login", PBX_LOGIN,
        "--starface-password", PBX_PASSWORD, "--database-url", url,
    )  # fmt: skip
    line = _one_error_line(done)
    assert "127.0.0.1:1" in line and "unreachable" in line
    assert jtel_users(engine) == {}


# ---- issue 10: safe against a real STARFACE --------------------------------------------------


def test_an_account_without_the_administration_right_deletes_nobody(
    engine: Engine, db: Container, simulator: Callable[..., Sim]
) -> None:
    sim = simulator(users=30, groups=3, seed=61)
    set_params(db, IgnoreUserDeletes="0", IgnoreGroupUpdate="0")
    run_import(db, sim)
    sim.control.account_admin = False  # GET /users now lists every second user
    visible = sim.pbx.snapshot().users[::2]
    sim.pbx.update_user(visible[0].id, email="sichtbar@example.org")
    groups_before = db_groups(db)

    report = run_import(db, sim)

    assert report.deleted == [] and len(jtel_users(engine)) == 30
    assert report.updated == [visible[0].login]  # creates and updates still happen
    assert report.deletes_withheld == (
        f"the REST account {PBX_LOGIN!r} lacks the 'administration' permission, so STARFACE "
        "may list only some users"
    )
    assert report.partial and report.as_json()["partial"] is True
    # Groups with members the account cannot see are kept as they are, not emptied.
    assert db_groups(db) == groups_before
    assert import_runs(engine)[-1]["status"] == "partial"


def test_a_mass_delete_is_refused_then_allowed_when_asked(
    engine: Engine,
    db: Container,
    simulator: Callable[..., Sim],
    make_jtel: Callable[..., Connector],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim = simulator(users=30, groups=2, seed=62)
    set_params(db, IgnoreUserDeletes="0")
    run_import(db, sim)
    gone = sorted(u.login for u in sim.pbx.snapshot().users[:4])  # 4 of 30: over 10 %
    for login in gone:
        sim.pbx.delete_user(sim.id_of(login))
    before = dump(engine, BOOKKEEPING | {"sessions"})
    refusal = "the import would delete 4 of 30 jtel users, more than 10%"

    with pytest.raises(ImportRefused) as caught:
        run_import(db, sim)
    assert str(caught.value) == (
        f"{refusal} (STARFACE_CONNECTOR_IMPORT_MAX_DELETE_SHARE); nothing was changed. If "
        "that is right, run it with --allow-mass-delete (API: allowMassDelete=true)"
    )
    dry = run_import(db, sim, dry_run=True)  # a dry run shows it instead of refusing
    assert dry.deleted == gone and dry.refusal.startswith(refusal)
    # Scheduled runs never pass the flag: refused, logged, nothing deleted.
    with caplog.at_level(logging.WARNING, logger="starface_connector.import"):
        ImportScheduler(db.importer, sim.fetch, 3600).run_once()
    assert f"scheduled import failed: {refusal}" in caplog.text
    c = make_jtel(sim.fetch)
    response = c.admin("POST", "/api/v1/import")
    assert response.status_code == 409 and response.json()["detail"].startswith(refusal)
    assert dump(engine, BOOKKEEPING | {"sessions"}) == before

    response = c.admin("POST", "/api/v1/import", params={"allowMassDelete": "true"})

    assert response.status_code == 200, response.text
    assert response.json()["users"]["deleted"] == gone
    assert sorted(jtel_users(engine)) == sorted(u.login for u in sim.pbx.snapshot().users)


def test_unreadable_records_are_skipped_reported_and_their_users_never_deleted(
    engine: Engine, db: Container, simulator: Callable[..., Sim]
) -> None:
    sim = simulator(users=30, groups=2, seed=63)
    set_params(db, IgnoreUserDeletes="0")
    run_import(db, sim)
    users = sim.pbx.snapshot().users
    odd, changed = users[0], users[1]
    sim.control.broken_users = {odd.id: {"email": ["not", "text"]}}
    sim.pbx.update_user(changed.id, family_name="Weiterhin-Importiert")
    sim.pbx.delete_user(users[2].id)  # a real deletion is still followed

    report = run_import(db, sim)

    assert report.skipped == [
        {"kind": "user", "id": odd.id, "login": odd.login, "reason": "email is list, not text"}
    ]
    assert report.partial and report.deleted == [users[2].login]
    assert report.updated == [changed.login]
    assert odd.login in jtel_users(engine)  # skipped, so never deleted
    assert import_runs(engine)[-1]["status"] == "partial"
    # Without a readable Login-ID, any jtel user could be that record: nobody is deleted.
    sim.control.broken_users = {users[3].id: {"login": None}}
    sim.pbx.delete_user(users[4].id)
    report = run_import(db, sim)
    assert report.deleted == [] and users[4].login in jtel_users(engine)
    assert report.deletes_withheld.startswith("1 user record(s) without a readable Login-ID")


def test_imports_are_dated_by_the_pbx_clock_so_a_later_starface_change_applies(
    engine: Engine,
    db: Container,
    simulator: Callable[..., Sim],
    make_jtel: Callable[..., Connector],
    clock: MovableClock,
) -> None:
    sim = simulator(users=10, groups=1, seed=64)
    clock.advance(120)  # the connector's clock runs two minutes ahead of the PBX
    report = run_import(db, sim)
    pbx_now = datetime.now(UTC)
    assert abs((report.taken_at - pbx_now).total_seconds()) < 5  # the PBX's time, not ours
    user = sim.pbx.snapshot().users[0]
    c = make_jtel()
    event = c.user_update(
        user.login,
        at=pbx_now + timedelta(seconds=30),  # made in STARFACE 30 s after the import
        firstName="Geändert",
        familyName=user.family_name,
        email=user.email,
        language=user.language,
        phoneNumbers=list(user.phone_numbers),
    )
    result = c.one(event)
    assert result["outcome"] == "applied", result
    assert jtel_users(engine)[user.login]["first_name"] == "Geändert"


def test_the_ignored_count_of_an_admin_under_ignore_user_security_is_the_same_every_time(
    engine: Engine, db: Container, simulator: Callable[..., Sim]
) -> None:
    sim = simulator(users=12, groups=1, seed=65)
    admins = admins_in(sim)
    assert admins > 0
    first, second = run_import(db, sim), run_import(db, sim)
    assert first.created and not second.changes
    assert first.ignored[ADMIN_IGNORED] == second.ignored[ADMIN_IGNORED] == admins


def test_a_live_event_committed_between_plan_and_write_wins_on_every_database(
    engine: Engine, db: Container, simulator: Callable[..., Sim]
) -> None:
    """The import's fallback: a writer between its plan and its write makes it decide again
    in chunks against fresh state, so the newer live change stays."""
    sim = simulator(users=20, groups=2, seed=66)
    run_import(db, sim)
    users = sim.pbx.snapshot().users
    for user in users[:3]:
        sim.pbx.update_user(user.id, first_name="Importiert")
    target = users[0]
    live = UserUpdate(
        "live-between",
        datetime.now(UTC) + timedelta(minutes=10),
        target.login,
        Profile("Live", target.family_name, target.email, target.language, target.phone_numbers),
        False,
    )
    importer = another_importer(db)
    committed: list[Any] = []
    importer.on_planned = lambda: committed.extend(db.events.apply_batch([live]))

    report = importer.run(sim.fetch)

    assert [r.outcome.value for r in committed] == ["applied"]
    assert report.stale == [target.login]
    assert sorted(report.updated) == sorted(u.login for u in users[1:3])
    after = jtel_users(engine)
    assert after[target.login]["first_name"] == "Live"
    assert {after[u.login]["first_name"] for u in users[1:3]} == {"Importiert"}


def test_cli_exit_status_3_for_a_partial_import_and_refusals_in_one_line(
    simulator: Callable[..., Sim], sqlite_file: tuple[str, Container]
) -> None:
    url, container = sqlite_file
    sim = simulator(users=20, groups=2, seed=67)
    set_params(container, IgnoreUserDeletes="0")
    run_import(container, sim)
    container.engine.dispose()
    pbx_args = [
        "--starface-url", sim.url, "--starface-login", PBX_LOGIN,
        "--starface-password", PBX_PASSWORD, "--database-url", url,
    ]  # fmt: skip
    odd = sim.pbx.snapshot().users[0]
    sim.control.broken_users = {odd.id: {"firstName": 7}}

    done = run_cli(*pbx_args)

    assert done.returncode == 3, done.stdout + done.stderr
    assert f"skipped user {odd.id} ({odd.login}): firstName is int, not text" in done.stdout
    assert "partial import (exit status 3)" in done.stdout
    sim.control.broken_users = {}
    for user in sim.pbx.snapshot().users[:5]:
        sim.pbx.delete_user(user.id)
    line = _one_error_line(run_cli(*pbx_args))
    assert "would delete 5 of 20 jtel users" in line and "--allow-mass-delete" in line
    done = run_cli(*pbx_args, "--allow-mass-delete")
    assert done.returncode == 0, done.stdout + done.stderr
    assert table_row(done.stdout, "deleted") == [5]
    line = _one_error_line(run_cli(*pbx_args, "--starface-admin-permission", "Chef"))
    assert "offers no permission named 'Chef'" in line and "administration" in line


def test_the_import_rejects_a_pbx_user_whose_login_no_url_could_reach_and_takes_the_rest(
    db: Container, simulator: Any
) -> None:
    sim = simulator(users=6, groups=1, seed=52)
    set_params(db, IgnoreGroupUpdate="0")
    pbx_users = list(sim.pbx.snapshot().users)
    odd = pbx_users[0]
    sim.control.broken_users = {odd.id: {"login": "12/34"}}
    sim.pbx.set_group_members(sim.pbx.group_ids()[0], [odd.id, pbx_users[1].id])

    report = db.importer.run(sim.fetch)

    assert report.rejected == ["12/34"]
    (detail,) = [d for d in report.details if d["outcome"] == "rejected"]
    assert detail["reason"] == "rejected: login '12/34' is not allowed: it contains '/'"
    assert sorted(report.created) == sorted(u.login for u in pbx_users[1:])
    assert db.views.user("12/34") is None
    (group,) = db.views.groups()
    assert group.members == (pbx_users[1].login,)  # the group came, without the refused login
    assert not report.partial and report.deletes_withheld == ""
