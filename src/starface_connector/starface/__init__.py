"""The STARFACE PBX's REST API, as the connector reads it: a client producing PbxSnapshots."""

from .client import StarfaceClient, compute_secret
from .errors import StarfaceAuthError, StarfaceError, StarfaceProtocolError, StarfaceUnreachable

__all__ = [
    "StarfaceAuthError",
    "StarfaceClient",
    "StarfaceError",
    "StarfaceProtocolError",
    "StarfaceUnreachable",
    "compute_secret",
]
