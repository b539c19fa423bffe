"""The jtel system parameters that decide which STARFACE changes jtel follows.

Each parameter is written down once, as a :class:`ParameterSpec`: its jtel name, the field
of the typed view, its standard value, its kind and its explanation in English, German and
French. Everything else (validation, the typed view the rules read, the API's and the
console's lists) is derived from :data:`SPECS`. jtel keeps the values as strings ("1",
"300"); a stored string that does not validate is reported and its standard value is used,
never silently read as 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any, assert_never

PREFIX = "Portal.WebServices.Starface."

IGNORE_GROUP_UPDATE = PREFIX + "IgnoreGroupUpdate"
IGNORE_USER_DELETES = PREFIX + "IgnoreUserDeletes"
IGNORE_USER_SECURITY = PREFIX + "IgnoreUserSecurity"
IGNORE_USER_STATUS = PREFIX + "IgnoreUserStatus"
SESSION_EXPIRE_SECONDS = PREFIX + "SessionExpireSeconds"
USER_PASSWORD_SET_UID = PREFIX + "UserPasswordSetUID"
DND_PAUSES_AGENT = PREFIX + "DndPausesAgent"

SESSION_SECONDS_MIN = 10
SESSION_SECONDS_MAX = 86400


class InvalidParameter(ValueError):
    """A parameter name or value an administrator gave is not acceptable."""


class ParameterKind(StrEnum):
    FLAG = "flag"
    SECONDS = "seconds"


@dataclass(frozen=True)
class Explanation:
    en: str
    de: str
    fr: str

    def in_language(self, language: str) -> str:
        return str(getattr(self, language, self.en))


@dataclass(frozen=True)
class ParameterSpec:
    name: str
    field: str
    default: str
    kind: ParameterKind
    explanation: Explanation

    @property
    def short_name(self) -> str:
        return self.name.removeprefix(PREFIX)

    @property
    def description(self) -> str:
        return self.explanation.en

    def validate(self, raw: str) -> str:
        """Return the canonical string form of ``raw`` or raise :class:`InvalidParameter`."""
        value = raw.strip()
        match self.kind:
            case ParameterKind.FLAG:
                if value not in ("0", "1"):
                    raise InvalidParameter(f"{self.name} must be 0 or 1, not {raw!r}")
                return value
            case ParameterKind.SECONDS:
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
            case _:
                assert_never(self.kind)

    def typed(self, canonical: str) -> bool | int:
        """The typed value of a canonical string (one that :meth:`validate` returned)."""
        match self.kind:
            case ParameterKind.FLAG:
                return canonical == "1"
            case ParameterKind.SECONDS:
                return int(canonical)
            case _:
                assert_never(self.kind)


SPECS: tuple[ParameterSpec, ...] = (
    ParameterSpec(
        IGNORE_GROUP_UPDATE,
        "ignore_group_update",
        "1",
        ParameterKind.FLAG,
        Explanation(
            en="1: group updates from STARFACE are ignored.",
            de="1: Gruppenänderungen aus STARFACE werden ignoriert.",
            fr="1 : les mises à jour de groupes venant de STARFACE sont ignorées.",
        ),
    ),
    ParameterSpec(
        IGNORE_USER_DELETES,
        "ignore_user_deletes",
        "1",
        ParameterKind.FLAG,
        Explanation(
            en="1: user deletions in STARFACE are not propagated to jtel.",
            de="1: In STARFACE gelöschte Benutzer werden in jtel nicht gelöscht.",
            fr="1 : les suppressions d'utilisateurs dans STARFACE ne sont pas reportées dans jtel.",
        ),
    ),
    ParameterSpec(
        IGNORE_USER_SECURITY,
        "ignore_user_security",
        "1",
        ParameterKind.FLAG,
        Explanation(
            en="1: changes to user security (the admin flag) in STARFACE are not propagated "
            "to jtel.",
            de="1: Änderungen der Benutzersicherheit (Admin-Kennzeichen) in STARFACE werden "
            "nicht nach jtel übernommen.",
            fr="1 : les modifications de la sécurité des utilisateurs (l'indicateur "
            "administrateur) dans STARFACE ne sont pas reportées dans jtel.",
        ),
    ),
    ParameterSpec(
        IGNORE_USER_STATUS,
        "ignore_user_status",
        "1",
        ParameterKind.FLAG,
        Explanation(
            en="1: login status messages (LOGGED_IN / LOGGED_OUT) from STARFACE are ignored.",
            de="1: Anmeldestatus-Meldungen (LOGGED_IN / LOGGED_OUT) aus STARFACE werden ignoriert.",
            fr="1 : les messages d'état de connexion (LOGGED_IN / LOGGED_OUT) venant de "
            "STARFACE sont ignorés.",
        ),
    ),
    ParameterSpec(
        SESSION_EXPIRE_SECONDS,
        "session_expire_seconds",
        "300",
        ParameterKind.SECONDS,
        Explanation(
            en="Seconds until the STARFACE external session expires without use.",
            de="Sekunden, nach denen die externe STARFACE-Sitzung ohne Nutzung abläuft.",
            fr="Secondes avant l'expiration de la session externe STARFACE sans utilisation.",
        ),
    ),
    ParameterSpec(
        USER_PASSWORD_SET_UID,
        "user_password_set_uid",
        "1",
        ParameterKind.FLAG,
        Explanation(
            en="1: a user created from STARFACE gets the UID as password; "
            "0: a random password that the administrator must change by hand.",
            de="1: Ein aus STARFACE angelegter Benutzer erhält die UID als Passwort; "
            "0: ein Zufallspasswort, das der Administrator von Hand ändern muss.",
            fr="1 : un utilisateur créé depuis STARFACE reçoit l'UID comme mot de passe ; "
            "0 : un mot de passe aléatoire que l'administrateur doit modifier à la main.",
        ),
    ),
    ParameterSpec(
        DND_PAUSES_AGENT,
        "dnd_pauses_agent",
        "0",
        ParameterKind.FLAG,
        Explanation(
            en="1: do-not-disturb in STARFACE puts the agent on PAUSE and back to Calls and "
            "Media when it ends (only with IgnoreUserStatus=0); 0: DND is only shown.",
            de="1: Nicht-stören in STARFACE setzt den Agenten auf PAUSE und bei Ende zurück auf "
            "Anrufe und Medien (nur mit IgnoreUserStatus=0); 0: Nicht-stören wird nur angezeigt.",
            fr="1 : le mode ne pas déranger de STARFACE met l'agent en PAUSE, puis de nouveau "
            "en Appels et médias à sa fin (seulement avec IgnoreUserStatus=0) ; 0 : il est "
            "seulement affiché.",
        ),
    ),
)

SPECS_BY_NAME: dict[str, ParameterSpec] = {spec.name: spec for spec in SPECS}
DEFAULTS: dict[str, str] = {spec.name: spec.default for spec in SPECS}


def spec_for(name: str) -> ParameterSpec:
    """The spec of a parameter by its jtel name, or by its short name (IgnoreUserDeletes)."""
    spec = SPECS_BY_NAME.get(name) or SPECS_BY_NAME.get(PREFIX + name)
    if spec is None:
        known = ", ".join(SPECS_BY_NAME)
        raise InvalidParameter(f"unknown parameter {name!r}; known: {known}")
    return spec


@dataclass(frozen=True)
class StoredValueProblem:
    """A stored value that does not validate; the standard value is used in its place."""

    name: str
    stored: str
    default: str
    error: str

    def __str__(self) -> str:
        return (
            f"{self.name}: the stored value {self.stored!r} is invalid ({self.error}); "
            f"the standard value {self.default} is used"
        )


@dataclass(frozen=True)
class Parameters:
    """Typed view of the parameters, as the rules read them; built from :data:`SPECS`."""

    ignore_group_update: bool
    ignore_user_deletes: bool
    ignore_user_security: bool
    ignore_user_status: bool
    session_expire_seconds: int
    user_password_set_uid: bool
    dnd_pauses_agent: bool

    @classmethod
    def standard(cls) -> Parameters:
        return cls.from_strings({})

    @classmethod
    def from_strings(cls, values: Mapping[str, str]) -> Parameters:
        """Build from stored strings; missing or invalid names take their standard value."""
        return read_parameters(values)[0]


def read_parameters(
    values: Mapping[str, str],
) -> tuple[Parameters, tuple[StoredValueProblem, ...]]:
    """The typed view of stored strings, and every stored value that had to be replaced."""
    typed: dict[str, Any] = {}
    problems: list[StoredValueProblem] = []
    for spec in SPECS:
        raw = values.get(spec.name, spec.default)
        try:
            canonical = spec.validate(raw)
        except InvalidParameter as exc:
            problems.append(StoredValueProblem(spec.name, raw, spec.default, str(exc)))
            canonical = spec.default
        typed[spec.field] = spec.typed(canonical)
    return Parameters(**typed), tuple(problems)


assert [spec.field for spec in SPECS] == [f.name for f in fields(Parameters)], (
    "every parameter spec has exactly one field of the typed view, in the same order"
)
