"""STARFACE side of the connector: REST client, value objects and a PBX simulator."""

from starface_connector.starface.client import StarfaceClient, compute_secret
from starface_connector.starface.errors import (
    StarfaceAuthError,
    StarfaceError,
    StarfaceProtocolError,
    StarfaceUnreachable,
)
from starface_connector.starface.models import PbxGroup, PbxSnapshot, PbxUser

__all__ = [
    "PbxGroup",
    "PbxSnapshot",
    "PbxUser",
    "StarfaceAuthError",
    "StarfaceClient",
    "StarfaceError",
    "StarfaceProtocolError",
    "StarfaceUnreachable",
    "compute_secret",
]
