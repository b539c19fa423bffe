"""Benchmark: full import of a simulated STARFACE (10,000 users, 200 groups), then a no-change one.

Run: ``.venv/bin/python -m bench.bench_import [--users 10000 --groups 200 --repeat 5
--database-url URL] [--list-unassigned] [--profile]``. See ``bench/README.md`` for what is
measured and why.

Every repetition gets a fresh database and measures, in this order:

* ceiling (a), the HTTP floor: plain httpx requests for the same simulator endpoints the client
  uses (login, users, permissions, admin holders, assigned numbers, groups, every group's
  details, logout), bodies read but not decoded, one request after the other;
* ceiling (b): a plain SQLAlchemy Core bulk insert of one row per user into a bare table with
  the columns of ``jtel_users``, plus one row per group membership into a bare two-column table,
  in one transaction, in a database of its own of the same kind;
* the full import end to end, exactly as ``starface-connector import`` does it (a client that
  logs in, fetches the snapshot and logs out, then ``Importer.run``), with IgnoreGroupUpdate=0
  and IgnoreUserDeletes=0 so groups are imported;
* a plain ``SELECT`` of all rows of ``jtel_users`` (part of the no-change ceiling);
* the following no-change import, which must report 0 changes.

The simulator runs in this process (a uvicorn thread), like the ceilings' peers: client and
server share the GIL in the import and in ceiling (a) alike.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import Column, Engine, MetaData, String, Table, insert, select

from starface_connector.bootstrap import Container, bootstrap
from starface_connector.config import Settings
from starface_connector.domain.parameters import IGNORE_GROUP_UPDATE, IGNORE_USER_DELETES
from starface_connector.domain.pbx import PbxSnapshot
from starface_connector.service.importer import ImportReport
from starface_connector.service.security import LIGHT
from starface_connector.serving import run_in_thread
from starface_connector.simulation import (
    ADMIN_PERMISSION,
    SimulatedPbx,
    create_simulator_app,
)
from starface_connector.starface.client import API_VERSION, StarfaceClient, compute_secret
from starface_connector.storage.db import make_engine
from starface_connector.storage.tables import UserRow

from .common import (
    RESULTS,
    Clock,
    ScratchDatabases,
    Timing,
    environment,
    loadavg,
    median,
    print_table,
    publish,
    summary,
    write_results,
)

PBX_LOGIN = "admin"
PBX_PASSWORD = "starface"
BUDGET_FULL_S = 10.0
BUDGET_NO_CHANGE_S = 3.0


# ----------------------------------------------------------------- ceilings
def raw_transfer(rest_url: str) -> tuple[Timing, int, int]:
    """Ceiling (a): the client's requests as plain httpx GETs. Returns (time, bytes, requests).

    Only the small lists needed to build the next URLs (login template, permissions, group
    ids) are decoded; the big bodies are read as bytes.
    """
    clock = Clock()
    received = requests = 0
    with httpx.Client(
        base_url=rest_url,
        headers={"X-Version": API_VERSION, "Accept": "application/json"},
        timeout=60,
    ) as http:

        def get(path: str, **kwargs: Any) -> httpx.Response:
            nonlocal received, requests
            response = http.get(path, **kwargs)
            response.raise_for_status()
            received += len(response.content)
            requests += 1
            return response

        template = get("/login").json()
        secret = compute_secret(template["loginType"], PBX_LOGIN, template["nonce"], PBX_PASSWORD)
        body = {"loginType": template["loginType"], "nonce": template["nonce"], "secret": secret}
        response = http.post("/login", json=body)
        response.raise_for_status()
        requests += 1
        auth = {"authToken": response.json()["token"]}
        get("/users", headers=auth)
        me = get("/users/me", headers=auth).json()
        get(f"/permissions/users/{me['id']}", headers=auth)
        permissions = get("/permissions", headers=auth).json()
        admin_id = next(p["id"] for p in permissions if p["permission"] == ADMIN_PERMISSION)
        get(f"/permissions/{admin_id}/users", headers=auth)
        get("/phonenumbers", params={"assigned": "true"}, headers=auth)
        for item in get("/groups", headers=auth).json():
            get(f"/groups/{item['id']}", headers=auth)
        http.delete("/login", headers=auth).raise_for_status()
        requests += 1
    return clock.stop(), received, requests


def bulk_insert(engine: Engine, snapshot: PbxSnapshot) -> tuple[Timing, int, int]:
    """Ceiling (b): Core bulk insert of the users and memberships into bare tables.

    The user table has exactly the columns and types of ``jtel_users`` (so the same width
    and the same bind processing for JSON and UTC timestamps) but nothing else; the member
    table has the two key columns and no foreign keys. Rows are built before the clock starts.
    Returns (seconds, user rows, member rows).
    """
    metadata = MetaData()
    users = Table(
        "bench_bare_users",
        metadata,
        *(Column(c.name, c.type, primary_key=c.primary_key) for c in UserRow.__table__.c),
    )
    members = Table(
        "bench_bare_members",
        metadata,
        Column("group_id", String(128), primary_key=True),
        Column("users_uid", String(128), primary_key=True),
    )
    metadata.create_all(engine)
    now = datetime.now(UTC)
    password_hash = LIGHT.hash("x" * 8)  # the same profile and length as the import's hashes
    user_rows = [
        {
            "users_uid": u.login,
            "first_name": u.first_name,
            "last_name": u.family_name,
            "email": u.email,
            "language": u.language,
            "phone_numbers": list(u.phone_numbers),
            "admin": u.admin,
            "password_hash": password_hash,
            "acd_status": "LOGGED_OFF",
            "phone_status": "OFFLINE",
            "profile_at": now,
            "acd_at": None,
            "phone_at": None,
            "created_at": now,
            "updated_at": now,
        }
        for u in snapshot.users
    ]
    member_rows = [
        {"group_id": str(g.id), "users_uid": login}
        for g in snapshot.groups
        for login in g.member_logins
    ]
    clock = Clock()
    with engine.begin() as connection:
        connection.execute(insert(users), user_rows)
        connection.execute(insert(members), member_rows)
    return clock.stop(), len(user_rows), len(member_rows)


def select_all_users(engine: Engine) -> tuple[Timing, int]:
    """Part of the no-change ceiling: every column of every ``jtel_users`` row, fetched."""
    clock = Clock()
    with engine.connect() as connection:
        rows = connection.execute(select(UserRow.__table__)).all()
    return clock.stop(), len(rows)


# ----------------------------------------------------------------- the import itself
def timed_import(
    connector: Container, sim_url: str, profiler: cProfile.Profile | None = None
) -> tuple[Timing, float, ImportReport]:
    """One import as the CLI runs it; returns (total time, fetch wall seconds, report)."""
    fetch_s = 0.0

    def fetch() -> PbxSnapshot:
        nonlocal fetch_s
        started = time.perf_counter()
        with StarfaceClient(sim_url, PBX_LOGIN, PBX_PASSWORD) as client:
            snapshot = client.fetch_snapshot()
        fetch_s = time.perf_counter() - started
        return snapshot

    clock = Clock()
    if profiler is not None:
        profiler.enable()
    try:
        report = connector.importer.run(fetch, trigger="bench")
    finally:
        if profiler is not None:
            profiler.disable()
    return clock.stop(), fetch_s, report


def prepare(url: str) -> Container:
    """The connector as ``serve`` builds it, following group updates and deletions."""
    connector = bootstrap(Settings(database_url=url))
    connector.admin.set_parameter(IGNORE_GROUP_UPDATE, "0", actor="bench")
    connector.admin.set_parameter(IGNORE_USER_DELETES, "0", actor="bench")
    return connector


def check_full(report: ImportReport, users: int, groups: int) -> None:
    problems = []
    if len(report.created) != users:
        problems.append(f"created {len(report.created)} users, expected {users}")
    if len(report.groups_created) != groups:
        problems.append(f"created {len(report.groups_created)} groups, expected {groups}")
    if report.rejected or report.stale or report.deleted or report.updated:
        problems.append(
            f"unexpected outcomes: rejected={len(report.rejected)} stale={len(report.stale)} "
            f"deleted={len(report.deleted)} updated={len(report.updated)}"
        )
    if problems:
        raise SystemExit("full import went wrong: " + "; ".join(problems))


def check_no_change(report: ImportReport) -> None:
    if report.changes or report.rejected or report.stale:
        raise SystemExit(
            f"no-change import changed something: {report.changes} changes, "
            f"{len(report.rejected)} rejected, {len(report.stale)} stale"
        )


def one_repetition(
    dbs: ScratchDatabases, sim_url: str, snapshot: PbxSnapshot, users: int, groups: int
) -> dict[str, Any]:
    """Ceilings and both imports, each on a fresh database; seconds (wall and CPU) by name."""
    rep: dict[str, Any] = {"loadavg_before": loadavg()}

    def record(name: str, timing: Timing) -> None:
        rep[f"{name}_s"] = timing.wall
        rep[f"{name}_cpu_s"] = timing.cpu

    timing, rep["raw_bytes"], rep["raw_requests"] = raw_transfer(sim_url + "/rest")
    record("raw_transfer", timing)
    with dbs.fresh() as url:
        engine = make_engine(url)
        try:
            timing, rep["bulk_user_rows"], rep["bulk_member_rows"] = bulk_insert(engine, snapshot)
            record("bulk_insert", timing)
        finally:
            engine.dispose()
    with dbs.fresh() as url:
        connector = prepare(url)
        try:
            timing, rep["full_fetch_s"], report = timed_import(connector, sim_url)
            record("full", timing)
            check_full(report, users, groups)
            timing, rep["select_rows"] = select_all_users(connector.engine)
            record("select_all", timing)
            timing, rep["no_change_fetch_s"], report = timed_import(connector, sim_url)
            record("no_change", timing)
            check_no_change(report)
        finally:
            connector.close()
    rep["full_apply_s"] = rep["full_s"] - rep["full_fetch_s"]
    rep["no_change_apply_s"] = rep["no_change_s"] - rep["no_change_fetch_s"]
    for suffix in ("s", "cpu_s"):
        rep[f"ceiling_full_{suffix}"] = rep[f"raw_transfer_{suffix}"] + rep[f"bulk_insert_{suffix}"]
        rep[f"ceiling_no_change_{suffix}"] = (
            rep[f"raw_transfer_{suffix}"] + rep[f"select_all_{suffix}"]
        )
    rep["loadavg_after"] = loadavg()
    return rep


def profile_once(dbs: ScratchDatabases, sim_url: str) -> None:
    """Profile one extra full and no-change import (main thread; the fetch runs in threads)."""
    with dbs.fresh() as url:
        connector = prepare(url)
        try:
            for label in ("full", "no_change"):
                profiler = cProfile.Profile()
                timing, fetch_s, _ = timed_import(connector, sim_url, profiler)
                path = RESULTS / f"import-{label}.prof"
                RESULTS.mkdir(exist_ok=True)
                profiler.dump_stats(path)
                out = io.StringIO()
                stats = pstats.Stats(profiler, stream=out)
                stats.sort_stats("cumulative").print_stats(30)
                stats.sort_stats("tottime").print_stats(25)
                print(
                    f"\n=== profile: {label} import, {timing.wall:.2f} s under cProfile "
                    f"(fetch {fetch_s:.2f} s), saved to {path}"
                )
                print(out.getvalue())
        finally:
            connector.close()


def fmt(seconds: float) -> str:
    return f"{seconds:.3f}"


ROWS = (
    ("full", "full import, end to end"),
    ("full_fetch", "  of which fetch (client)"),
    ("full_apply", "  of which lease+diff+apply"),
    ("no_change", "no-change import, end to end"),
    ("no_change_fetch", "  of which fetch (client)"),
    ("no_change_apply", "  of which lease+diff+apply"),
    ("raw_transfer", "(a) raw HTTP transfer"),
    ("bulk_insert", "(b) bulk insert users+members"),
    ("select_all", "(c) SELECT all user rows"),
    ("ceiling_full", "ceiling full = (a)+(b)"),
    ("ceiling_no_change", "ceiling no-change = (a)+(c)"),
)
RATIOS = (
    ("full / ceiling full", "full", "ceiling_full"),
    ("no-change / ceiling no-change", "no_change", "ceiling_no_change"),
    ("full: fetch / (a)", "full_fetch", "raw_transfer"),
    ("full: lease+diff+apply / (b)", "full_apply", "bulk_insert"),
    ("no-change: fetch / (a)", "no_change_fetch", "raw_transfer"),
    ("no-change: lease+diff+apply / (c)", "no_change_apply", "select_all"),
)


def report_results(
    config: dict[str, Any], env: dict[str, Any], reps: list[dict[str, Any]]
) -> dict[str, Any]:
    """Print medians (min/max) and ratios; return everything for the JSON file."""
    wall = {key: summary([r[f"{key}_s"] for r in reps]) for key, _ in ROWS}
    cpu = {
        key: summary([r[f"{key}_cpu_s"] for r in reps])
        for key, _ in ROWS
        if f"{key}_cpu_s" in reps[0]
    }
    print()
    print_table(
        ["seconds (wall)", "median", "min", "max", "cpu median"],
        [
            (
                label,
                fmt(wall[key]["median"]),
                fmt(wall[key]["min"]),
                fmt(wall[key]["max"]),
                fmt(cpu[key]["median"]) if key in cpu else "-",
            )
            for key, label in ROWS
        ],
    )
    ratios = {
        name: {
            "wall": wall[num]["median"] / wall[den]["median"],
            "cpu": cpu[num]["median"] / cpu[den]["median"] if num in cpu and den in cpu else None,
        }
        for name, num, den in RATIOS
    }
    print()
    print_table(
        ["ratio import / ceiling (of medians)", "wall", "cpu"],
        [
            (name, f"{r['wall']:.2f}", "-" if r["cpu"] is None else f"{r['cpu']:.2f}")
            for name, r in ratios.items()
        ],
    )
    per_rep = {
        "full": median([r["full_s"] / r["ceiling_full_s"] for r in reps]),
        "no_change": median([r["no_change_s"] / r["ceiling_no_change_s"] for r in reps]),
    }
    print(
        f"median of per-repetition wall ratios: full {per_rep['full']:.2f}, "
        f"no-change {per_rep['no_change']:.2f}"
    )
    budgets = {}
    print()
    for key, budget, label in (
        ("full", BUDGET_FULL_S, "full import     "),
        ("no_change", BUDGET_NO_CHANGE_S, "no-change import"),
    ):
        passed = wall[key]["median"] <= budget
        budgets[key] = {"budget_s": budget, "median_s": wall[key]["median"], "pass": passed}
        print(
            f"budget {label} <= {budget:4.1f} s: median {wall[key]['median']:.2f} s "
            f"(max {wall[key]['max']:.2f} s) -> {'PASS' if passed else 'FAIL'}"
        )
    return {
        "benchmark": "import",
        "config": config,
        "environment": {**env, "loadavg_at_end": loadavg()},
        "wall_s": wall,
        "cpu_s": cpu,
        "ratios_of_medians": ratios,
        "median_of_per_repetition_wall_ratios": per_rep,
        "budgets": budgets,
        "repetitions": reps,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_import", description=__doc__)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL or MariaDB server URL (a scratch database is created and dropped "
        "per repetition); default: a fresh SQLite file per repetition",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after the measured repetitions, run one more import pair under cProfile",
    )
    parser.add_argument(
        "--list-unassigned",
        action="store_true",
        help="the simulator lists every user in each group's assignableUsers (assigned: "
        "false for non-members), as a real PBX probably does",
    )
    args = parser.parse_args(argv)

    env = environment()
    print(
        f"import benchmark: {args.users} users, {args.groups} groups, {args.repeat} repetitions"
        f"{', every user in every group listing' if args.list_unassigned else ''}; "
        f"python {env['python']}, {env['cpus']} CPUs, load {env['loadavg_at_start']}; "
        f"code {env['code']}"
    )
    started = time.perf_counter()
    pbx = SimulatedPbx.generate(args.users, args.groups, seed=args.seed)
    snapshot = pbx.snapshot()
    memberships = sum(len(g.member_logins) for g in snapshot.groups)
    print(
        f"simulator generated in {time.perf_counter() - started:.1f} s; {memberships} memberships"
    )
    with (
        ScratchDatabases(args.database_url) as dbs,
        run_in_thread(
            create_simulator_app(
                pbx,
                login=PBX_LOGIN,
                password=PBX_PASSWORD,
                list_unassigned_users=args.list_unassigned,
            )
        ) as sim_url,
    ):
        print(f"database: {dbs.describe()}; simulator at {sim_url}/rest")
        # Warm-up, not measured: fills the simulator's render caches and this process's code.
        raw_transfer(sim_url + "/rest")
        with StarfaceClient(sim_url, PBX_LOGIN, PBX_PASSWORD) as client:
            client.fetch_snapshot()
        reps: list[dict[str, Any]] = []
        for index in range(args.repeat):
            rep = one_repetition(dbs, sim_url, snapshot, args.users, args.groups)
            reps.append(rep)
            print(
                f"rep {index + 1}/{args.repeat}: full {rep['full_s']:.2f} s "
                f"(fetch {rep['full_fetch_s']:.2f}), no-change {rep['no_change_s']:.2f} s "
                f"(fetch {rep['no_change_fetch_s']:.2f}) | (a) {rep['raw_transfer_s']:.2f} "
                f"(b) {rep['bulk_insert_s']:.2f} (c) {rep['select_all_s']:.2f}",
                flush=True,
            )
        config = {
            "users": args.users,
            "groups": args.groups,
            "memberships": memberships,
            "repeat": args.repeat,
            "seed": args.seed,
            "list_unassigned": args.list_unassigned,
            "database": dbs.backend,
            "database_url": dbs.describe(),
            "command": " ".join(
                [
                    ".venv/bin/python -m bench.bench_import",
                    *(sys.argv[1:] if argv is None else argv),
                ]
            ),
        }
        results = report_results(config, env, reps)
        if args.profile:
            profile_once(dbs, sim_url)
    database = results["config"]["database"]
    if args.list_unassigned and not args.profile:  # a variant: keep the reference results
        path = write_results(f"import-{database}-list-unassigned.json", results)
        print(f"\nresults written to {path} (import.json left as it was)")
        return 0
    if args.profile:  # a diagnostic run: keep the reference results of plain runs
        path = write_results(f"import-{database}-profile-run.json", results)
        print(f"\nresults written to {path} (import.json left as it was)")
    else:
        publish("import", database, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
