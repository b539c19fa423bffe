"""The ``starface-connector`` command: one module per command group."""

from __future__ import annotations

import sys

import typer
from pydantic import AliasChoices, ValidationError

from ..config import ConfigurationError, Settings
from ..domain.parameters import InvalidParameter
from ..service.errors import ServiceError
from ..storage.db import DatabaseError
from .common import UserError, print_error
from .db import db_app
from .events import events_app
from .importing import import_users, imports_app
from .params import params_app
from .purge import purge
from .serve import serve
from .simulation import demo, simulate
from .status import status
from .users import groups_app, users_app

app = typer.Typer(
    help="Joins a STARFACE PBX to a jtel ACD: users, agent login status and telephone status.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command()(serve)
app.command("import")(import_users)
app.command()(status)
app.command()(purge)
app.command()(simulate)
app.command()(demo)
app.add_typer(params_app, name="params")
app.add_typer(users_app, name="users")
app.add_typer(groups_app, name="groups")
app.add_typer(events_app, name="events")
app.add_typer(imports_app, name="imports")
app.add_typer(db_app, name="db")


def run() -> None:
    """Entry point: user mistakes become one line on stderr and exit status 1."""
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors: bad option values, unknown commands
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        if not message:  # no arguments at all: the help was shown, nothing else to say
            sys.exit(getattr(exc, "exit_code", 2))
        print_error(f"{message} (see --help)")
        sys.exit(getattr(exc, "exit_code", 2))
    except ValidationError as exc:  # a bad STARFACE_CONNECTOR_* environment variable
        first = exc.errors(include_url=False)[0]
        name = "STARFACE_CONNECTOR_" + "_".join(str(p) for p in first["loc"]).upper()
        field = Settings.model_fields.get(str(first["loc"][0])) if first["loc"] else None
        if field is not None and isinstance(field.validation_alias, AliasChoices):
            # a setting whose variable is named otherwise (..._TRUSTED_PROXY, singular)
            name = next((str(c) for c in field.validation_alias.choices if str(c).isupper()), name)
        print_error(f"{name}: {first['msg']}")
        sys.exit(1)
    except (
        ConfigurationError,
        DatabaseError,
        InvalidParameter,
        ServiceError,
        UserError,
    ) as exc:
        print_error(str(exc))
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    if isinstance(code, int) and code:
        sys.exit(code)
