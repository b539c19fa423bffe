"""A connector start in a process of its own, for the tests that kill it or race two of them.

``python -m tests.e2e.start_child first-start URL [KILL_AT]``
    runs what ``serve`` runs before it listens (migrations, seeding, the built-in accounts,
    from the ``STARFACE_CONNECTOR_*`` environment) on the database at URL and prints
    ``statement: VERB`` for each statement it sent, in order (VERB is its first word:
    CREATE, ALTER, SELECT, ...).
    With KILL_AT it SIGKILLs itself just before its KILL_AT-th statement would be sent: a
    crash at exactly that point, no cleanup, no rollback sent, connections dropped by the
    kernel.

``python -m tests.e2e.start_child serve ARGS...``
    prints ``ready`` once everything is imported, waits for a line on stdin, then runs the
    real ``starface-connector serve ARGS...``: two of these, released by one write each, start
    as nearly at once as two processes can.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any


def first_start(url: str, kill_at: int | None) -> None:
    from sqlalchemy import Engine, event

    from starface_connector.cli.common import open_connector, settings
    from starface_connector.cli.serve import prepare

    sent: list[str] = []

    @event.listens_for(Engine, "before_cursor_execute")
    def _count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement.split(maxsplit=1)[0].upper())
        if len(sent) == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    container = open_connector(settings(database_url=url), announce=False)
    prepare(container)
    container.close()
    print("".join(f"statement: {verb}\n" for verb in sent), end="", flush=True)


def serve(args: list[str]) -> None:
    import uvicorn  # noqa: F401  (imported before "ready": what serve imports late, too)

    import starface_connector.api.app  # noqa: F401
    from starface_connector.cli import run

    print("ready", flush=True)
    sys.stdin.readline()
    sys.argv = ["starface-connector", "serve", *args]
    run()


def main() -> None:
    mode, *args = sys.argv[1:]
    if mode == "first-start":
        first_start(args[0], int(args[1]) if len(args) > 1 else None)
    elif mode == "serve":
        serve(args)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
