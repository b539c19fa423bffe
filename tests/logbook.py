"""Every log of a test run in one folder, and every secret the run used, to grep the one for
the other at the end (``tests/test_no_secret_in_logs.py``).

* ``pytest.log``: every log record created in the test process, whichever logger and whatever
  its handlers. Records are tapped where they are made (the log-record factory), because
  uvicorn's loggers do not propagate to the root logger, so a root handler would miss them.
* ``processes/NNN-NAME.stdout`` and ``.stderr``: what every ``starface-connector`` process the
  tests started wrote (servers and one-shot commands).

The folder is a new one, in ``$TEST_LOG_DIR`` when set (CI keeps it as an artifact), else in
the temporary folder; its path is printed in the run's summary.

Secrets are registered by name as the tests make them (:func:`remember_secret`): the
built-in accounts' passwords, passwords typed at sign-in or set through the API, session ids
and tokens handed out. The credentials a first ``serve`` generates are read back from its
banner: that banner is printed on the terminal on purpose, once (``cli/serve.py``), so it is
the one block of any output where they may appear.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

#: shorter values are not secrets worth the name (and would match by chance)
MIN_SECRET_LENGTH = 8

_secrets: dict[str, str] = {}
_lock = threading.Lock()
_numbers = itertools.count(1)
_folder: Path | None = None
_tap: logging.Handler | None = None

#: the first-start banner of ``serve`` (cli/serve.py ``print_credentials``), whole
BANNER = re.compile(
    r"^Generated credentials .*\n(?:  (?:STARFACE module account|jtel sysadmin): login \S+\s+"
    r"password \S+\n)+",
    re.MULTILINE,
)
BANNER_PASSWORD = re.compile(
    r"^  (?P<who>STARFACE module account|jtel sysadmin): login \S+\s+password (?P<pw>\S+)$",
    re.MULTILINE,
)


def remember_secret(name: str, value: object) -> None:
    """A secret the logs must never hold; ``name`` says what it is (never its value). Not
    text (a test sending a number where a password goes) is no secret."""
    if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
        return
    with _lock:
        _secrets.setdefault(value, name)


def secrets_used() -> dict[str, str]:
    """Every registered secret: value -> name."""
    with _lock:
        return dict(_secrets)


def folder() -> Path:
    global _folder
    if _folder is None:
        chosen = os.environ.get("TEST_LOG_DIR")
        if chosen:  # a run's own folder in it: an earlier run's logs are not this run's
            Path(chosen).mkdir(parents=True, exist_ok=True)
        _folder = Path(tempfile.mkdtemp(prefix="starface-connector-test-logs-", dir=chosen))
    return _folder


def start() -> None:
    """Tap every log record of this process into ``pytest.log`` (INFO and up)."""
    global _tap
    if _tap is not None:
        return
    _tap = logging.FileHandler(folder() / "pytest.log", encoding="utf-8")
    _tap.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    make = logging.getLogRecordFactory()
    tap = _tap

    def tapped(*args: object, **kwargs: object) -> logging.LogRecord:
        record = make(*args, **kwargs)
        tap.handle(record)
        return record

    logging.setLogRecordFactory(tapped)
    root = logging.getLogger()
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    # SQLAlchemy logs every statement at INFO: not wanted (and slow), its warnings are kept
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)


def stop() -> None:
    if _tap is not None:
        _tap.flush()


def process_files(name: str) -> tuple[Path, Path]:
    """Where a started process's stdout and stderr go (``NNN-name.stdout``/``.stderr``)."""
    base = folder() / "processes"
    base.mkdir(exist_ok=True)
    stem = f"{next(_numbers):04d}-{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)[:60]}"
    return base / f"{stem}.stdout", base / f"{stem}.stderr"


def keep_output(name: str, stdout: str | None, stderr: str | None) -> None:
    """Keep what a finished command wrote."""
    out, err = process_files(name)
    out.write_text(stdout or "", encoding="utf-8")
    err.write_text(stderr or "", encoding="utf-8")


# ---- the grep -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Leak:
    secret: str  # its name
    where: str  # file and line


def log_texts() -> Iterator[tuple[str, str]]:
    """Every log of the run as (where, text), the first-start banners cut out of stdout."""
    base = folder()
    stop()
    for path in sorted(base.rglob("*")):
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".stdout":
            text = BANNER.sub(lambda m: "\n" * m.group(0).count("\n"), text)
        yield str(path.relative_to(base)), text


def banner_secrets() -> dict[str, str]:
    """The generated credentials every first start printed: secrets from then on."""
    found: dict[str, str] = {}
    for path in sorted(folder().rglob("*.stdout")):
        text = path.read_text(encoding="utf-8", errors="replace")
        for banner in BANNER.finditer(text):
            for line in BANNER_PASSWORD.finditer(banner.group(0)):
                found[line["pw"]] = f"generated password of the {line['who']} ({path.name})"
    return found


def leaks(known: dict[str, str]) -> list[Leak]:
    found: list[Leak] = []
    for where, text in log_texts():
        for value, name in known.items():
            at = text.find(value)
            if at >= 0:
                found.append(Leak(name, f"{where} line {text.count(chr(10), 0, at) + 1}"))
    return found


# ---- the grep test, last --------------------------------------------------------------------

GREP_TEST = Path(__file__).with_name("test_no_secret_in_logs.py")


def grep_last(session: pytest.Session, items: list[pytest.Item]) -> None:
    """Move the grep test to the end of the run; when the run selected other tests only (a
    folder, ``-k``, a single file), add it, so it greps whatever ran."""
    last = [item for item in items if item.path == GREP_TEST]
    if not last and items:
        module = pytest.Module.from_parent(session, path=GREP_TEST)
        last = [item for item in module.collect() if isinstance(item, pytest.Item)]
    items[:] = [item for item in items if item.path != GREP_TEST] + last


def remember_command_secrets(env: dict[str, str], args: tuple[str, ...] | list[str]) -> None:
    """The passwords a started command was given, in its environment or on its command line."""
    for key, value in env.items():
        if key.startswith("STARFACE_CONNECTOR_") and key.endswith("PASSWORD"):
            remember_secret(f"${key} of a started command", value)
    for option, value in itertools.pairwise(args):
        if option.startswith("--") and option.endswith("password"):
            remember_secret(f"{option} of a started command", value)
