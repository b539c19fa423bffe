"""Who is looking at a console page: the cookie session, its CSRF token and the language.

The session cookie holds a random token (kept only as SHA-256, like API tokens) and is
HttpOnly, SameSite=Lax and Secure when the request came over HTTPS. Rights are read from the
database on every request. Every form carries a CSRF token: for a signed-in visitor an HMAC
of the session token (unguessable without the cookie, which scripts cannot read); on the login
form, before there is a session, a random value that must match a cookie of its own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from fastapi import Request
from starlette.responses import Response

from ..bootstrap import Container
from ..service.accounts import CONSOLE, SYSADMIN, Principal
from . import i18n

SESSION_COOKIE = "sc_console"
LOGIN_CSRF_COOKIE = "sc_login_csrf"


@dataclass(frozen=True)
class Visitor:
    principal: Principal | None
    language: str
    csrf: str

    @property
    def admin(self) -> bool:
        return self.principal is not None and self.principal.admin

    @property
    def agent(self) -> bool:
        """A jtel user (sysadmin is none: it has no ACD status of its own)."""
        return self.principal is not None and self.principal.username != SYSADMIN

    @property
    def username(self) -> str:
        return self.principal.username if self.principal else ""

    def gettext(self, message: str) -> str:
        return i18n.gettext(self.language, message)


def csrf_for(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"console-csrf", hashlib.sha256).hexdigest()


def visitor(request: Request, services: Container) -> Visitor:
    language = i18n.negotiate(
        request.cookies.get(i18n.COOKIE), request.headers.get("accept-language")
    )
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        principal = services.accounts.principal_for(token, CONSOLE)
        if principal is not None:
            return Visitor(principal, language, csrf_for(token))
    return Visitor(None, language, request.cookies.get(LOGIN_CSRF_COOKIE) or "")


def csrf_valid(request_visitor: Visitor, submitted: str | None) -> bool:
    expected = request_visitor.csrf
    return bool(expected) and hmac.compare_digest(expected, submitted or "")


def set_cookie(request: Request, response: Response, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def new_login_csrf() -> str:
    return secrets.token_urlsafe(32)
