"""The text rules shared by both APIs, the console and the import (domain/text.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from starface_connector.domain.reasons import Why, english, note
from starface_connector.domain.text import (
    MAX_LOGIN,
    LoginProblem,
    login_problem,
    login_problem_text,
    text_problem,
)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Müller", None),
        ("", None),
        ("a\tb\nc", None),  # other control characters are text a database stores
        ("a\x00b", "must not contain the NUL character"),
        ("a\ud800b", "must not contain an unpaired surrogate (not valid Unicode text)"),
        ("\udfff", "must not contain an unpaired surrogate (not valid Unicode text)"),
        ("😀", None),  # a pair, as Python holds it: one code point
    ],
)
def test_text_every_database_stores_alike(text: str, problem: str | None) -> None:
    assert text_problem(text) == problem


@pytest.mark.parametrize(
    ("login", "problem"),
    [
        ("0001", None),
        ("anna.mueller", None),
        ("Zoë Châtelain", None),  # spaces inside are allowed
        ("a%2Fb", None),  # percent signs are sent as %25: reachable
        ("a?b#c", None),
        ("...", None),
        ("x" * MAX_LOGIN, None),
        ("", LoginProblem.EMPTY),
        ("x" * (MAX_LOGIN + 1), LoginProblem.TOO_LONG),
        ("a/b", LoginProblem.SLASH),
        ("/", LoginProblem.SLASH),
        (" anna", LoginProblem.SPACES),
        ("anna ", LoginProblem.SPACES),
        ("anna\u00a0", LoginProblem.SPACES),  # a no-break space is a space too
        ("an\tna", LoginProblem.CONTROL),
        ("anna\n", LoginProblem.CONTROL),
        ("an\x7fna", LoginProblem.CONTROL),
        ("an\x85na", LoginProblem.CONTROL),  # C1 control (NEL)
        (".", LoginProblem.DOTS),
        ("..", LoginProblem.DOTS),
        ("an\x00na", LoginProblem.UNSTORABLE),
        ("an\ud800na", LoginProblem.UNSTORABLE),
    ],
)
def test_the_login_rule(login: str, problem: LoginProblem | None) -> None:
    assert login_problem(login) == problem


def test_every_login_problem_has_words_and_the_reason_names_it() -> None:
    for problem in LoginProblem:
        assert login_problem_text(problem.value).startswith("it ")
    assert login_problem_text("from-a-newer-version") == "from-a-newer-version"
    refused = note(Why.INVALID_LOGIN, login="a/b", problem=LoginProblem.SLASH.value)
    assert english([refused]) == "rejected: login 'a/b' is not allowed: it contains '/'"


@given(st.text(max_size=140))
def test_an_accepted_login_is_a_single_path_segment_of_clean_text(login: str) -> None:
    """Whatever the rule accepts, a URL can carry as one segment and a database can store."""
    if login_problem(login) is not None:
        return
    assert 0 < len(login) <= MAX_LOGIN
    assert text_problem(login) is None
    assert "/" not in login and login not in (".", "..")
    assert login == login.strip()
    assert all(ord(c) >= 0x20 and not 0x7F <= ord(c) <= 0x9F for c in login)
