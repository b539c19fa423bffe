"""What text the connector accepts: storable everywhere, and logins every URL can reach.

Pure rules, shared by both APIs, the console, the import and the CLI, so a value refused in one
place is refused in all of them, with the same words.
"""

from __future__ import annotations

import unicodedata
from enum import StrEnum

#: the longest Login-ID (UsersUID): the key columns hold 128 characters
MAX_LOGIN = 128
#: the largest offset or id a query takes: a signed 64-bit integer, as every database stores it
MAX_BIGINT = 2**63 - 1


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored alike on every database, or None.

    PostgreSQL refuses NUL in text; an unpaired surrogate (JSON allows ``"\\ud800"``) cannot be
    encoded as UTF-8 by any driver. Either would be stored on one backend and fail on another.
    """
    if "\x00" in value:
        return "must not contain the NUL character"
    if any("\ud800" <= c <= "\udfff" for c in value):
        return "must not contain an unpaired surrogate (not valid Unicode text)"
    return None


class LoginProblem(StrEnum):
    """Why a Login-ID is refused at intake (stored in the event log's notes by this code)."""

    EMPTY = "empty"
    TOO_LONG = "too_long"
    CONTROL = "control"
    SLASH = "slash"
    SPACES = "spaces"
    DOTS = "dots"
    UNSTORABLE = "unstorable"


#: each problem in English: the API's and the event log's words
LOGIN_PROBLEMS = {
    LoginProblem.EMPTY: "it is empty",
    LoginProblem.TOO_LONG: f"it is longer than {MAX_LOGIN} characters",
    LoginProblem.CONTROL: "it contains a control character",
    LoginProblem.SLASH: "it contains '/'",
    LoginProblem.SPACES: "it begins or ends with a space",
    LoginProblem.DOTS: "it is '.' or '..'",
    LoginProblem.UNSTORABLE: "it contains NUL or an unpaired surrogate",
}


def login_problem(login: str) -> LoginProblem | None:
    """Why ``login`` cannot be a UsersUID, or None.

    A UsersUID is a path segment of ``/api/v1/users/{usersUid}`` and the console's user pages:
    ``/`` (also sent as ``%2F``, which servers decode before routing) would split it, and
    clients drop ``.`` and ``..`` segments; surrounding spaces make two logins that look the
    same; control characters do not show. STARFACE's Login-ID is a login number, used as a
    Jabber ID, so no real STARFACE login is refused by this rule.
    """
    if text_problem(login):
        return LoginProblem.UNSTORABLE
    if not login:
        return LoginProblem.EMPTY
    if len(login) > MAX_LOGIN:
        return LoginProblem.TOO_LONG
    if any(unicodedata.category(c) == "Cc" for c in login):
        return LoginProblem.CONTROL
    if "/" in login:
        return LoginProblem.SLASH
    if login != login.strip():
        return LoginProblem.SPACES
    if login in (".", ".."):
        return LoginProblem.DOTS
    return None


def login_problem_text(code: str) -> str:
    """The English words for a stored problem code (the code itself if it is unknown)."""
    try:
        return LOGIN_PROBLEMS[LoginProblem(code)]
    except ValueError:
        return code
