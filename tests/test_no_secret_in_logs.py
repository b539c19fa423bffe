"""No password, session id or token the tests used is in any log of the run.

Runs last (``tests/conftest.py`` puts it there, and adds it to any selection), over the logs
of whatever ran: the test process's log records and every ``starface-connector`` process's
stdout and stderr (see ``tests/logbook.py``). A failure names the secret, never its value,
and the file and line it was found in.
"""

from __future__ import annotations

import pytest

from tests import logbook


def test_no_secret_the_tests_used_is_in_any_log() -> None:
    known = logbook.secrets_used() | logbook.banner_secrets()
    assert len(known) >= 2  # the tests' own module and sysadmin passwords at least
    found = logbook.leaks(known)
    if found:
        shown = "\n".join(f"  {leak.secret}: in {leak.where}" for leak in found[:50])
        pytest.fail(f"{len(found)} secret(s) in the logs of this run:\n{shown}", pytrace=False)
