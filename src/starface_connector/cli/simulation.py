"""``simulate`` and ``demo``: a STARFACE stand-in, and everything at once for a first look."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer
from pydantic import SecretStr

from ..config import Settings
from ..service.importer import PbxReader
from ..service.ports import Source
from ..service.scheduler import ImportScheduler
from ..service.security import random_password
from .common import UserError, check_port_free, console, open_connector
from .importing import print_report


def default_groups(users: int) -> int:
    return max(1, users // 10 if users <= 1000 else users // 50)


def wait_until(duration: float | None) -> None:
    """Block until Ctrl-C, or for ``duration`` seconds (for scripts and tests)."""
    try:
        if duration is None:
            while True:
                time.sleep(3600)
        time.sleep(duration)
    except KeyboardInterrupt:
        console.print("stopping")


def simulate(
    port: Annotated[int, typer.Option(min=0, max=65535, help="0 picks a free port.")] = 8090,
    host: str = "127.0.0.1",
    users: Annotated[int, typer.Option(min=1, max=100_000)] = 50,
    groups: Annotated[int | None, typer.Option(min=0, max=10_000)] = None,
    login: Annotated[str, typer.Option(help="The PBX's REST API login.")] = "admin",
    password: Annotated[str, typer.Option(help="The PBX's REST API password.")] = "starface",
    push_to: Annotated[
        str | None, typer.Option(help="Connector URL to push events to, like the module does.")
    ] = None,
    module_login: Annotated[
        str | None, typer.Option(envvar="STARFACE_CONNECTOR_MODULE_LOGIN")
    ] = None,
    module_password: Annotated[
        str | None, typer.Option(envvar="STARFACE_CONNECTOR_MODULE_PASSWORD", show_default=False)
    ] = None,
    rate: Annotated[float, typer.Option(min=0.0, help="Live events per second.")] = 5.0,
    error_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of REST requests answered 5xx.")
    ] = 0.0,
    latency: Annotated[float, typer.Option(min=0.0, help="Seconds added to each request.")] = 0.0,
    seed: int = 42,
    duration: Annotated[float | None, typer.Option(min=0.0, help="Stop after seconds.")] = None,
) -> None:
    """A STARFACE stand-in: the REST API at /rest, and optionally the module's event pusher."""
    from ..serving import run_in_thread
    from ..simulation import EventPusher, SimulatedPbx, create_simulator_app

    if push_to and not (module_login and module_password):
        raise UserError("--push-to needs --module-login and --module-password")
    if port:
        check_port_free(host, port)
    pbx = SimulatedPbx.generate(users, default_groups(users) if groups is None else groups, seed)
    simulator = create_simulator_app(
        pbx, login=login, password=password, error_rate=error_rate, latency=latency, seed=seed
    )
    with run_in_thread(simulator, host=host, port=port) as base:
        console.print(
            f"STARFACE simulator: [bold]{base}/rest[/]  login {login} / password {password}  "
            f"({users} users, {len(pbx.group_ids())} groups)",
            highlight=False,
        )
        pusher = None
        if push_to and module_login and module_password:
            pusher = EventPusher(push_to, module_login, module_password, pbx, rate=rate, seed=seed)
            pusher.push_initial()
            pusher.start()
            console.print(f"pushing events to {push_to} at {rate:g}/s")
        try:
            wait_until(duration)
        finally:
            if pusher is not None:
                pusher.stop()
                pusher.close()


def demo(
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8080,
    users: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    rate: Annotated[float, typer.Option(min=0.0)] = 5.0,
    duration: Annotated[float | None, typer.Option(min=0.0, help="Stop after seconds.")] = None,
) -> None:
    """Everything at once: a fresh connector, a simulated PBX with live traffic, an import."""
    from ..api.app import create_app
    from ..serving import run_in_thread
    from ..simulation import EventPusher, SimulatedPbx, create_simulator_app

    check_port_free("127.0.0.1", port)
    folder = Path(tempfile.mkdtemp(prefix="starface-connector-demo-"))
    database_url = f"sqlite:///{folder / 'connector.db'}"
    module_login, module_password = "starface-module", random_password()[:20]
    admin_password = random_password()[:20]
    pbx = SimulatedPbx.generate(users, default_groups(users), seed=7)
    pbx_login, pbx_password = "admin", random_password()[:16]
    simulator = create_simulator_app(pbx, login=pbx_login, password=pbx_password)
    with run_in_thread(simulator) as pbx_url:
        chosen = Settings(
            database_url=database_url,
            port=port,
            module_login=module_login,
            module_password=SecretStr(module_password),
            admin_password=SecretStr(admin_password),
            starface_url=pbx_url,
            starface_login=pbx_login,
            starface_password=SecretStr(pbx_password),
        )
        container = open_connector(chosen)
        fetch: PbxReader | None = container.pbx
        assert fetch is not None
        container.accounts.ensure_credentials(
            module_login=module_login,
            module_password=module_password,
            admin_password=admin_password,
        )
        # The standard values ignore login status and groups; the demo follows both so the
        # agents' board moves.
        for name in ("IgnoreUserStatus", "IgnoreGroupUpdate"):
            container.admin.set_parameter(name, "0", actor="demo", source=Source.CLI)
        print_report(container.importer.run(fetch, trigger="demo"))
        # The first import ran above; reconcile every 15 minutes from now on.
        scheduler = ImportScheduler(container.importer, fetch, 15 * 60, run_at_start=False)
        scheduler.start()
        with run_in_thread(create_app(container), port=port) as url:
            pusher = EventPusher(url, module_login, module_password, pbx, rate=rate, seed=7)
            pusher.start()
            first = pbx.snapshot().users[0].login
            console.print(
                "\n[bold]Starface Connector demo is running[/]\n"
                f"  web console       {url}/   (the agent board: sign in as sysadmin)\n"
                f"  connector API     {url}   (interactive docs: {url}/docs)\n"
                f"  jtel sysadmin     login sysadmin  password {admin_password}\n"
                f"  STARFACE module   login {module_login}  password {module_password}\n"
                f"  an agent          login {first}  password {first} (UserPasswordSetUID=1; "
                "in the console: own status)\n"
                f"  STARFACE (sim.)   {pbx_url}/rest  login {pbx_login}  password {pbx_password}\n"
                f"  live traffic      {rate:g} events/s from {users} simulated users\n\n"
                "The other commands (params, users, events, status ...) work on this demo's\n"
                "database once you paste this line into your shell:\n"
                f"  export STARFACE_CONNECTOR_DATABASE_URL={database_url}\n\n"
                "Try:\n"
                f"  TOKEN=$(curl -s -X POST {url}/api/v1/auth/login -H 'content-type: "
                f'application/json\' -d \'{{"username":"sysadmin","password":'
                f"\"{admin_password}\"}}' | python3 -c 'import sys,json;"
                'print(json.load(sys.stdin)["token"])\')\n'
                f'  curl -s {url}/api/v1/users?limit=5 -H "Authorization: Bearer $TOKEN"\n'
                f'  curl -s "{url}/api/v1/events?limit=5" -H "Authorization: Bearer $TOKEN"\n'
                "Ctrl-C stops the demo.",
                highlight=False,
                soft_wrap=True,
            )
            try:
                wait_until(duration)
            finally:
                pusher.stop()
                pusher.close()
                scheduler.stop()
        container.close()
