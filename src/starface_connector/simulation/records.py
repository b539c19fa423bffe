"""What a simulated PBX stores, and how each record looks in the STARFACE REST API 6.7.0.22.

The shapes follow the specification's definitions (``User``, ``PhoneNumber``,
``PermissionInfo``). Optional integer fields such as ``PhoneNumber.assignedUserAccountId`` are
left out instead of being ``null``, because the schema types them as plain integers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ADMIN_PERMISSION",
    "ADMIN_PERMISSION_ID",
    "CALL_SERVICE_ID",
    "DEFAULT_PERMISSION_IDS",
    "PERMISSIONS",
    "JsonObject",
    "SimGroup",
    "SimNumber",
    "SimUser",
    "dumps",
    "number_type",
    "permission_info",
]

#: A JSON object as the REST API sends it; JSON is untyped, so its values are too.
JsonObject = dict[str, Any]

#: Name (``PermissionInfo.permission``) of the permission that makes a user an administrator.
ADMIN_PERMISSION = "administration"

# Permission catalogue: (id, permission, description). The administration permission does not
# have the first id on purpose, so clients must look it up by name.
PERMISSIONS: tuple[tuple[int, str, str], ...] = (
    (1, "callList", "Access to the call list"),
    (2, "phoneBook", "Access to the phone book"),
    (3, "fax", "Send and receive faxes"),
    (4, "voicemail", "Use voicemail boxes"),
    (5, "ucc", "Use the UCC client"),
    (6, "conference", "Manage conferences"),
    (7, ADMIN_PERMISSION, "Administration of the STARFACE"),
    (8, "ifmc", "Use iFMC"),
)
ADMIN_PERMISSION_ID = 7
#: Permissions every new user gets.
DEFAULT_PERMISSION_IDS = (1, 2, 5)
#: ``serviceId`` of the call service that user numbers are assigned to.
CALL_SERVICE_ID = 1
_INTERNAL_BLOCK_ID = 1
_EXTERNAL_BLOCK_ID = 2

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dumps(value: object) -> bytes:
    """Compact UTF-8 JSON, as a PBX would send it (one shared encoder: cheap for small values)."""
    return _ENCODER.encode(value).encode("utf-8")


def permission_info(permission_id: int, name: str, description: str) -> JsonObject:
    """A catalogue entry as a spec ``PermissionInfo``."""
    return {"id": permission_id, "permission": name, "description": description}


def number_type(number: str) -> str:
    """``EXTERNAL`` for numbers starting with "+" or "0" or longer than six digits."""
    return "EXTERNAL" if number.startswith(("+", "0")) or len(number) > 6 else "INTERNAL"


@dataclass
class SimUser:
    id: int
    login: str
    first_name: str
    family_name: str
    email: str
    language: str
    person_id: str

    def rest(self) -> JsonObject:
        """The user as a spec ``User`` object (``password`` is never sent back)."""
        return {
            "id": self.id,
            "login": self.login,
            "firstName": self.first_name,
            "familyName": self.family_name,
            "email": self.email,
            "language": self.language,
            "personId": self.person_id,
            "missedCallReport": False,
            "faxCoverPage": False,
            "faxEmailJournal": False,
        }


@dataclass
class SimGroup:
    id: int
    name: str
    member_ids: set[int] = field(default_factory=set)


@dataclass
class SimNumber:
    id: int
    number: str
    type: str
    user_id: int | None = None
    group_id: int | None = None

    def rest(self) -> JsonObject:
        """The number as a spec ``PhoneNumber``; unassigned ids are omitted, never null."""
        internal = self.type == "INTERNAL"
        out: JsonObject = {
            "id": self.id,
            "number": self.number,
            "type": self.type,
            "numberBlockId": _INTERNAL_BLOCK_ID if internal else _EXTERNAL_BLOCK_ID,
        }
        if not internal:
            out.update(exitCode="0", nationalPrefix="49", localPrefix="721")
        if self.user_id is not None:
            out["assignedUserAccountId"] = self.user_id
            out["assignedServiceId"] = CALL_SERVICE_ID
        if self.group_id is not None:
            out["assignedGroupAccountId"] = self.group_id
        return out
