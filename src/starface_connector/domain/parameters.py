"""The six jtel system parameters that decide which STARFACE changes jtel follows.

jtel keeps parameter values as strings (``"1"``, ``"300"``); this module owns their names,
standard values and validation, and turns the stored strings into a typed view for the rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

PREFIX = "Portal.WebServices.Starface."

IGNORE_GROUP_UPDATE = PREFIX + "IgnoreGroupUpdate"
IGNORE_USER_DELETES = PREFIX + "IgnoreUserDeletes"
IGNORE_USER_SECURITY = PREFIX + "IgnoreUserSecurity"
IGNORE_USER_STATUS = PREFIX + "IgnoreUserStatus"
SESSION_EXPIRE_SECONDS = PREFIX + "SessionExpireSeconds"
USER_PASSWORD_SET_UID = PREFIX + "UserPasswordSetUID"

SESSION_SECONDS_MIN = 10
SESSION_SECONDS_MAX = 86400


class InvalidParameter(ValueError):
    """A parameter name or value an administrator gave is not acceptable."""


@dataclass(frozen=True)
class ParameterSpec:
    name: str
    default: str
    description: str
    kind: str  # "flag" or "seconds"

    def validate(self, raw: str) -> str:
        """Return the canonical string form of ``raw`` or raise :class:`InvalidParameter`."""
        value = raw.strip()
        if self.kind == "flag":
            if value not in ("0", "1"):
                raise InvalidParameter(f"{self.name} must be 0 or 1, not {raw!r}")
            return value
        try:
            seconds = int(value)
        except ValueError:
            raise InvalidParameter(
                f"{self.name} must be a whole number of seconds, not {raw!r}"
            ) from None
        if not SESSION_SECONDS_MIN <= seconds <= SESSION_SECONDS_MAX:
            raise InvalidParameter(
                f"{self.name} must be between {SESSION_SECONDS_MIN} and "
                f"{SESSION_SECONDS_MAX} seconds, not {raw!r}"
            )
        return str(seconds)


SPECS: tuple[ParameterSpec, ...] = (
    ParameterSpec(IGNORE_GROUP_UPDATE, "1", "1: group updates from STARFACE are ignored.", "flag"),
    ParameterSpec(
        IGNORE_USER_DELETES,
        "1",
        "1: user deletions in STARFACE are not propagated to jtel.",
        "flag",
    ),
    ParameterSpec(
        IGNORE_USER_SECURITY,
        "1",
        "1: changes to user security (the admin flag) in STARFACE are not propagated to jtel.",
        "flag",
    ),
    ParameterSpec(
        IGNORE_USER_STATUS,
        "1",
        "1: login status messages (LOGGED_IN / LOGGED_OUT) from STARFACE are ignored.",
        "flag",
    ),
    ParameterSpec(
        SESSION_EXPIRE_SECONDS,
        "300",
        "Seconds until the STARFACE external session expires without use.",
        "seconds",
    ),
    ParameterSpec(
        USER_PASSWORD_SET_UID,
        "1",
        "1: a user created from STARFACE gets the UID as password; "
        "0: a random password that the administrator must change by hand.",
        "flag",
    ),
)

SPECS_BY_NAME: dict[str, ParameterSpec] = {spec.name: spec for spec in SPECS}
DEFAULTS: dict[str, str] = {spec.name: spec.default for spec in SPECS}


def spec_for(name: str) -> ParameterSpec:
    try:
        return SPECS_BY_NAME[name]
    except KeyError:
        known = ", ".join(SPECS_BY_NAME)
        raise InvalidParameter(f"unknown parameter {name!r}; known: {known}") from None


def validate(name: str, raw: str) -> str:
    return spec_for(name).validate(raw)


@dataclass(frozen=True)
class Parameters:
    """Typed view of the six parameters, as the rules read them."""

    ignore_group_update: bool = True
    ignore_user_deletes: bool = True
    ignore_user_security: bool = True
    ignore_user_status: bool = True
    session_expire_seconds: int = 300
    user_password_set_uid: bool = True

    @classmethod
    def from_strings(cls, values: Mapping[str, str]) -> Parameters:
        """Build from stored strings; missing names take their standard value."""
        merged = {**DEFAULTS, **{k: v for k, v in values.items() if k in DEFAULTS}}
        return cls(
            ignore_group_update=merged[IGNORE_GROUP_UPDATE] == "1",
            ignore_user_deletes=merged[IGNORE_USER_DELETES] == "1",
            ignore_user_security=merged[IGNORE_USER_SECURITY] == "1",
            ignore_user_status=merged[IGNORE_USER_STATUS] == "1",
            session_expire_seconds=int(merged[SESSION_EXPIRE_SECONDS]),
            user_password_set_uid=merged[USER_PASSWORD_SET_UID] == "1",
        )

    def as_strings(self) -> dict[str, str]:
        return {
            IGNORE_GROUP_UPDATE: _flag(self.ignore_group_update),
            IGNORE_USER_DELETES: _flag(self.ignore_user_deletes),
            IGNORE_USER_SECURITY: _flag(self.ignore_user_security),
            IGNORE_USER_STATUS: _flag(self.ignore_user_status),
            SESSION_EXPIRE_SECONDS: str(self.session_expire_seconds),
            USER_PASSWORD_SET_UID: _flag(self.user_password_set_uid),
        }


def _flag(value: bool) -> str:
    return "1" if value else "0"
