"""The STARFACE client's failures: the service's PBX errors, named for this PBX.

Callers catch :class:`StarfaceError` (or the service's ``PbxError``) to handle every failure,
or a subclass to react differently (retry later when unreachable, alert an operator on bad
credentials, report a bug on protocol errors). Messages are always a single line.
"""

from __future__ import annotations

from ..service.errors import PbxAuthError, PbxError, PbxProtocolError, PbxUnreachable


class StarfaceError(PbxError):
    """Base class; ``str(error)`` is one clear line."""


class StarfaceUnreachable(StarfaceError, PbxUnreachable):
    """The PBX could not be reached or stayed unavailable after all retries, or the URL is bad."""


class StarfaceAuthError(StarfaceError, PbxAuthError):
    """The PBX rejected the credentials or the session token."""


class StarfaceProtocolError(StarfaceError, PbxProtocolError):
    """The PBX answered with a status code or body the REST specification does not allow."""
