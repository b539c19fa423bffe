"""What a simulated PBX stores, and how each record looks in the STARFACE REST API 6.7.0.22.

The shapes follow the specification's definitions (``User``, ``PhoneNumber``,
``PermissionInfo``). Optional integer fields such as ``PhoneNumber.assignedUserAccountId`` are
left out instead of being ``null``, because the schema types them as plain integers.

An external ``PhoneNumber`` comes in parts, as the specification describes its fields:
``exitCode`` (the international exit code, "00"), ``nationalPrefix`` (the country code, "49"),
``localPrefix`` (the area code, "721") and ``number`` ("the number itself": the subscriber
number with its extension, "5551001"). Internal numbers are their extension alone.
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
    "parse_number",
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


#: Prefixes of the simulated PBX's own external number block (Karlsruhe, Germany).
EXIT_CODE, COUNTRY_CODE, AREA_CODE = "00", "49", "721"


def parse_number(text: str) -> tuple[str, str, str, str, str]:
    """(type, exitCode, nationalPrefix, localPrefix, number) of a number given as text.

    "+49 30 1234567" (country, area, number apart) is split into its parts; an external number
    of bare digits ("5551001") is one of this PBX's own block (00, 49, 721); anything else
    external ("+4972199", "0721 99") keeps its text as ``number``, without prefixes.
    """
    kind = number_type(text)
    if kind == "INTERNAL":
        return kind, "", "", "", text
    parts = text.split()
    if text.startswith("+") and len(parts) >= 3:
        return kind, EXIT_CODE, parts[0][1:], parts[1], "".join(parts[2:])
    if text.isdigit() and not text.startswith("0"):
        return kind, EXIT_CODE, COUNTRY_CODE, AREA_CODE, text
    return kind, "", "", "", text


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
    exit_code: str = ""
    national_prefix: str = ""
    local_prefix: str = ""

    @property
    def full(self) -> str:
        """What the user's number is to the outside world: the extension for an internal
        number, "+<country> <area> <number>" for an external one with its prefixes."""
        if self.type == "INTERNAL" or not self.national_prefix:
            return self.number
        return f"+{self.national_prefix} {self.local_prefix} {self.number}"

    def rest(self) -> JsonObject:
        """The number as a spec ``PhoneNumber``; unassigned ids are omitted, never null."""
        internal = self.type == "INTERNAL"
        out: JsonObject = {
            "id": self.id,
            "number": self.number,
            "type": self.type,
            "numberBlockId": _INTERNAL_BLOCK_ID if internal else _EXTERNAL_BLOCK_ID,
        }
        if self.national_prefix:
            out.update(
                exitCode=self.exit_code,
                nationalPrefix=self.national_prefix,
                localPrefix=self.local_prefix,
            )
        if self.user_id is not None:
            out["assignedUserAccountId"] = self.user_id
            out["assignedServiceId"] = CALL_SERVICE_ID
        if self.group_id is not None:
            out["assignedGroupAccountId"] = self.group_id
        return out
