"""One exception hierarchy for everything that can go wrong talking to a STARFACE PBX.

Callers catch :class:`StarfaceError` to handle every failure, or a subclass to react
differently (retry later when unreachable, alert an operator on bad credentials, report a bug
on protocol errors). Messages are always a single human-readable line so they can go straight
into logs, CLI output and API error bodies.
"""

from __future__ import annotations


class StarfaceError(Exception):
    """Base class; ``str(error)`` is one clear line."""

    def __init__(self, message: str) -> None:
        # Collapse whitespace so multi-line causes (tracebacks, HTML bodies) stay one line.
        self.message = " ".join(str(message).split())
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class StarfaceUnreachable(StarfaceError):
    """The PBX could not be reached or stayed unavailable after all retries, or the URL is bad."""


class StarfaceAuthError(StarfaceError):
    """The PBX rejected the credentials or the session token."""


class StarfaceProtocolError(StarfaceError):
    """The PBX answered with a status code or body the REST specification does not allow."""
