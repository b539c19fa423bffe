"""What every command shares: consoles, one-line errors, options and opening the connector."""

from __future__ import annotations

import errno
import socket
import sys
from typing import Annotated, Any

import typer
from rich.console import Console

from ..bootstrap import Container, bootstrap
from ..config import Settings
from ..domain.text import text_problem
from ..service.importer import PbxReader

# Piped output (scripts, logs) is not cut to 80 columns: tables keep whole names and values.
console = Console(width=None if sys.stdout.isatty() else 240)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 240)


class UserError(Exception):
    """A mistake of the person at the keyboard: one line, exit 1, no traceback."""


def print_error(message: str) -> None:
    """The one line a user mistake gets on stderr."""
    err.print(f"error: {message}", style="red", highlight=False, markup=False, soft_wrap=True)


def checked_text(option: str, value: str | None, limit: int) -> str | None:
    """A text option as every database compares it alike, or a UserError naming the option:
    bytes that are no UTF-8 reach Python as unpaired surrogates, which no driver can send."""
    if value is None:
        return None
    problem = text_problem(value)
    if problem is not None and "\x00" not in value:
        raise UserError(f"{option}: not valid UTF-8 text (check the terminal's encoding)")
    if problem is not None:
        raise UserError(f"{option} {problem}")
    if len(value) > limit:
        raise UserError(f"{option} is longer than {limit} characters")
    return value


def say(message: str) -> None:
    """A plain line for a person, never read as Rich markup."""
    console.print(message, highlight=False, markup=False, soft_wrap=True)


DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="STARFACE_CONNECTOR_DATABASE_URL",
        help="SQLAlchemy URL; default: an SQLite file in the data folder.",
        show_envvar=True,
    ),
]
StarfaceUrl = Annotated[
    str | None,
    typer.Option(
        "--starface-url",
        envvar="STARFACE_CONNECTOR_STARFACE_URL",
        help="STARFACE PBX address, e.g. https://pbx.example.com (the REST API is at /rest).",
        show_envvar=True,
    ),
]
StarfaceLogin = Annotated[
    str | None,
    typer.Option("--starface-login", envvar="STARFACE_CONNECTOR_STARFACE_LOGIN", show_envvar=True),
]
StarfacePassword = Annotated[
    str | None,
    typer.Option(
        "--starface-password",
        envvar="STARFACE_CONNECTOR_STARFACE_PASSWORD",
        show_envvar=True,
        show_default=False,
    ),
]
CaBundle = Annotated[
    str | None,
    typer.Option(
        "--starface-ca-bundle",
        envvar="STARFACE_CONNECTOR_STARFACE_CA_BUNDLE",
        help="CA bundle to verify the PBX's TLS certificate.",
        show_envvar=True,
    ),
]
Insecure = Annotated[
    bool,
    typer.Option(
        "--starface-insecure", help="Do not verify the PBX's TLS certificate (labs only)."
    ),
]
Fingerprint = Annotated[
    str | None,
    typer.Option(
        "--starface-cert-fingerprint",
        envvar="STARFACE_CONNECTOR_STARFACE_CERT_FINGERPRINT",
        help="Trust exactly the PBX certificate with this SHA-256 fingerprint (e.g. a "
        "self-signed appliance certificate); safer than --starface-insecure.",
        show_envvar=True,
    ),
]
AdminPermission = Annotated[
    str | None,
    typer.Option(
        "--starface-admin-permission",
        envvar="STARFACE_CONNECTOR_STARFACE_ADMIN_PERMISSION",
        help="Name of STARFACE's administration permission (default: administration).",
        show_envvar=True,
    ),
]


def settings(**options: Any) -> Settings:
    """The environment's settings with the command line's options on top (None: not given)."""
    return Settings(**{name: value for name, value in options.items() if value is not None})


def starface_settings(
    url: str | None,
    login: str | None,
    password: str | None,
    ca_bundle: str | None,
    insecure: bool,
    **more: Any,
) -> Settings:
    """Settings with the STARFACE options of the command line, checked together."""
    chosen = settings(
        starface_url=url,
        starface_login=login,
        starface_password=password,
        starface_ca_bundle=ca_bundle,
        starface_insecure=insecure or None,
        **more,
    )
    chosen.check_starface()
    return chosen


def open_connector(
    chosen: Settings, *, pbx: PbxReader | None = None, announce: bool = True
) -> Container:
    """Build the connector and say which database it opened (on stdout, or on stderr where
    stdout is a value for scripts: ``announce=False``)."""
    container = bootstrap(chosen, pbx=pbx)
    (console if announce else err).print(
        f"database: {container.database}", highlight=False, markup=False, soft_wrap=True
    )
    return container


def check_port_free(host: str, port: int) -> None:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise UserError(f"cannot listen on {host}:{port}: unknown host") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UserError(
                    f"port {port} on {host} is already in use; choose another with --port"
                ) from None
            raise UserError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
