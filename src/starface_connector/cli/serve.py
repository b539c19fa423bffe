"""``serve``: run the connector."""

from __future__ import annotations

import logging
import logging.config
from enum import StrEnum
from typing import Annotated, Any

import typer

from ..bootstrap import Container
from ..config import ConfigurationError, parse_networks, secret, show_duration
from ..service.accounts import GeneratedCredential
from ..service.retention import DailyPurge
from ..service.scheduler import ImportScheduler
from .common import (
    AdminPermission,
    CaBundle,
    DatabaseUrl,
    Fingerprint,
    Insecure,
    StarfaceLogin,
    StarfacePassword,
    StarfaceUrl,
    UserError,
    check_port_free,
    console,
    err,
    open_connector,
    starface_settings,
)

log = logging.getLogger("starface_connector")


class LogFormat(StrEnum):
    text = "text"
    json = "json"


def print_credentials(generated: list[GeneratedCredential]) -> None:
    """Shown once, at first start; kept only as argon2 hashes afterwards."""
    if not generated:
        return
    console.print("[bold]Generated credentials[/] (store them now: shown only this once)")
    for cred in generated:
        who = "STARFACE module account" if cred.role == "module" else "jtel sysadmin"
        console.print(
            f"  {who}: login [bold]{cred.login}[/]  password [bold]{cred.password}[/]",
            soft_wrap=True,
            highlight=False,
        )


def prepare(container: Container) -> None:
    """First-start accounts, and a warning for every stored parameter that does not validate."""
    chosen = container.settings
    print_credentials(
        container.accounts.ensure_credentials(
            module_login=chosen.module_login,
            module_password=secret(chosen.module_password),
            admin_password=secret(chosen.admin_password),
        )
    )
    for problem in container.admin.parameter_problems():
        if chosen.log_format == "json":  # stderr holds JSON lines only
            log.warning("%s", problem)
        else:
            err.print(f"warning: {problem}", style="yellow", highlight=False, markup=False)


def uvicorn_options(host: str, port: int) -> dict[str, Any]:
    """How ``serve`` runs uvicorn (the benchmarks' ceilings run the same way): uvloop and
    httptools where installed (they are dependencies), no access log on the hot path, and
    no rewriting of the client's address from headers."""
    return {
        "host": host,
        "port": port,
        "log_level": "info",
        "access_log": False,
        "loop": "auto",
        "http": "auto",
        # X-Forwarded-For is read by the app, from --trusted-proxy only (api/client.py);
        # uvicorn's own reading would trust any local peer's header
        "proxy_headers": False,
    }


def json_logging() -> dict[str, Any]:
    """Every log line as one JSON object on stderr: the connector's, uvicorn's, and one per
    request (``starface_connector.access``; see :mod:`..api.observe` for what it holds)."""
    handler = {"handlers": ["json"], "level": "INFO", "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "starface_connector.api.observe.JsonFormatter"}},
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {"uvicorn": handler, "starface_connector": handler},
    }


def run_server(container: Container, *, with_scheduler: bool = True) -> None:
    """Serve until stopped, reconciling with the PBX meanwhile when one is configured."""
    import uvicorn

    from ..api.app import create_app

    chosen = container.settings
    scheduler = None
    purger = None
    options = uvicorn_options(chosen.host, chosen.port)
    json_logs = chosen.log_format == "json"
    if json_logs:
        logging.config.dictConfig(json_logging())
        options["log_config"] = None  # uvicorn's loggers log through the configuration above
    elif (with_scheduler and container.pbx is not None) or chosen.purge_daily:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
    if with_scheduler and container.pbx is not None:
        minutes = chosen.import_interval_minutes
        console.print(f"Importing from {chosen.starface_url} now and every {minutes:g} min")
        scheduler = ImportScheduler(container.importer, container.pbx, minutes * 60)
        scheduler.start()
    if chosen.purge_daily:
        console.print(
            f"Purging the event log (older than {show_duration(chosen.event_log_retention)}) "
            f"and eventIds (older than {show_duration(chosen.event_id_retention)}) now and "
            "every 24 h",
            highlight=False,
        )
        purger = DailyPurge(container.retention)
        purger.start()
    try:
        uvicorn.run(create_app(container, log_requests=json_logs), **options)
    finally:
        if scheduler is not None:
            scheduler.stop()
        if purger is not None:
            purger.stop()
        container.close()


def serve(
    host: Annotated[str | None, typer.Option(envvar="STARFACE_CONNECTOR_HOST")] = None,
    port: Annotated[
        int | None, typer.Option(envvar="STARFACE_CONNECTOR_PORT", min=1, max=65535)
    ] = None,
    database_url: DatabaseUrl = None,
    starface_url: StarfaceUrl = None,
    starface_login: StarfaceLogin = None,
    starface_password: StarfacePassword = None,
    starface_ca_bundle: CaBundle = None,
    starface_insecure: Insecure = False,
    starface_cert_fingerprint: Fingerprint = None,
    starface_admin_permission: AdminPermission = None,
    import_interval: Annotated[
        float | None,
        typer.Option(
            "--import-interval",
            envvar="STARFACE_CONNECTOR_IMPORT_INTERVAL_MINUTES",
            min=0.1,
            help="Minutes between reconciliation imports (with --starface-url).",
        ),
    ] = None,
    database_timeout: Annotated[
        float | None,
        typer.Option(
            "--database-timeout",
            envvar="STARFACE_CONNECTOR_DATABASE_TIMEOUT_SECONDS",
            min=1.0,
            max=3600.0,
            help="Seconds a request waits at most for the database (connect, statement, free "
            "connection) before it answers 503 with Retry-After (default 5).",
            show_envvar=True,
        ),
    ] = None,
    log_format: Annotated[
        LogFormat | None,
        typer.Option(
            "--log-format",
            envvar="STARFACE_CONNECTOR_LOG_FORMAT",
            help="text, or json: one JSON object per line on stderr, and one line per request "
            "(method, path, status, ms, client; never a query string, header or body).",
            show_envvar=True,
            case_sensitive=False,
        ),
    ] = None,
    purge_daily: Annotated[
        bool,
        typer.Option(
            "--purge-daily",
            envvar="STARFACE_CONNECTOR_PURGE_DAILY",
            help="Purge at start and every 24 hours, as the purge command does with the "
            "configured retention windows.",
            show_envvar=True,
        ),
    ] = False,
    trusted_proxy: Annotated[
        list[str] | None,
        typer.Option(
            "--trusted-proxy",
            help="A reverse proxy (address or network, e.g. 10.0.0.0/8; repeat or separate "
            "by commas) whose X-Forwarded-For names the client, for login throttling. "
            "Env: STARFACE_CONNECTOR_TRUSTED_PROXY.",
        ),
    ] = None,
) -> None:
    """Run the connector: the STARFACE-facing API and the jtel API."""
    try:
        proxies = parse_networks(trusted_proxy) if trusted_proxy else None
    except ConfigurationError as exc:
        raise UserError(f"--trusted-proxy: {exc}") from None
    chosen = starface_settings(
        starface_url,
        starface_login,
        starface_password,
        starface_ca_bundle,
        starface_insecure,
        starface_cert_fingerprint=starface_cert_fingerprint,
        starface_admin_permission=starface_admin_permission,
        host=host,
        port=port,
        database_url=database_url,
        import_interval_minutes=import_interval,
        database_timeout_seconds=database_timeout,
        log_format=log_format.value if log_format is not None else None,
        purge_daily=purge_daily or None,
        trusted_proxies=proxies,
    )
    check_port_free(chosen.host, chosen.port)
    if chosen.log_format == "json":
        logging.config.dictConfig(json_logging())
    container = open_connector(chosen)
    prepare(container)
    console.print(
        f"Starface Connector on [bold]http://{chosen.host}:{chosen.port}[/]  "
        f"(web console /, API docs /docs, database {container.database})",
        highlight=False,
        soft_wrap=True,
    )
    run_server(container)
