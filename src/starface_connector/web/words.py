"""What the console says about the connector's states and events, in the reader's language.

Every message is marked with ``N_`` so Babel extracts it into the catalogs; it is translated
when a page is rendered. Reasons are rendered from the event log's notes (data), one sentence
per note, so a German reader sees German reasons; the jtel parameter names stay as jtel spells
them. Entries written before notes existed show the English reason as it was stored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..domain.model import AcdStatus, EventType, ManualChange, Outcome, PhoneStatus
from ..domain.parameters import SESSION_SECONDS_MAX, SESSION_SECONDS_MIN, ParameterKind
from ..domain.reasons import Note, PauseKept, Why
from ..domain.text import MAX_LOGIN, LoginProblem


def N_(message: str) -> str:
    return message


ACD_STATUS = {
    AcdStatus.CALLS_AND_MEDIA: N_("Calls and Media"),
    AcdStatus.PAUSE: N_("Pause"),
    AcdStatus.LOGGED_OFF: N_("Logged off"),
}
#: what the agent's buttons say: the status they set
ACD_ACTION = {
    AcdStatus.CALLS_AND_MEDIA: N_("Calls and Media"),
    AcdStatus.PAUSE: N_("Pause"),
    AcdStatus.LOGGED_OFF: N_("Log off"),
}
#: a symbol beside the word and the colour, so status never rests on colour alone
ACD_ICON = {AcdStatus.CALLS_AND_MEDIA: "▶", AcdStatus.PAUSE: "❚❚", AcdStatus.LOGGED_OFF: "■"}
PHONE_STATUS = {
    PhoneStatus.IDLE: N_("Idle"),
    PhoneStatus.RINGING: N_("Ringing"),
    PhoneStatus.BUSY: N_("Busy"),
    PhoneStatus.OFFLINE: N_("Offline"),
    PhoneStatus.QUEUE_PAUSE: N_("Queue pause"),
}
PHONE_ICON = {
    PhoneStatus.IDLE: "○",
    PhoneStatus.RINGING: "◎",
    PhoneStatus.BUSY: "●",
    PhoneStatus.OFFLINE: "⊘",
    PhoneStatus.QUEUE_PAUSE: "‖",
}
OUTCOME = {
    Outcome.APPLIED: N_("Applied"),
    Outcome.IGNORED: N_("Ignored"),
    Outcome.DUPLICATE: N_("Duplicate"),
    Outcome.STALE: N_("Stale"),
    Outcome.REJECTED: N_("Rejected"),
}
#: what an import does to one user or group
DETAIL = {"changed": N_("Changed"), "stale": N_("Stale"), "rejected": N_("Rejected")}
EVENT_TYPE = {
    EventType.USER_UPDATE: N_("User update"),
    EventType.USER_DELETE: N_("User deletion"),
    EventType.GROUP_UPDATE: N_("Group update"),
    EventType.USER_STATUS: N_("Login status"),
    EventType.PHONE_STATUS: N_("Telephone status"),
    EventType.DND_STATUS: N_("Do not disturb"),
    ManualChange.ACD_STATUS_SET: N_("ACD status set by hand"),
    ManualChange.PARAMETER_SET: N_("Parameter changed"),
    ManualChange.LOGIN_THROTTLED: N_("Logins refused"),
}
SOURCE = {
    "starface": N_("STARFACE"),
    "import": N_("Import"),
    "api": N_("API"),
    "console": N_("Console"),
    "cli": N_("Command line"),
}
ASPECT = {
    "profile": N_("profile"),
    "ACD status": N_("ACD status"),
    "phone status": N_("telephone status"),
    "DND status": N_("do-not-disturb"),
    "group": N_("group"),
}

REASON = {
    Why.DUPLICATE: N_("Already processed: event {event_id} was received before."),
    Why.RESERVED_LOGIN: N_("Refused: the login {login} is reserved for jtel's administrator."),
    Why.UNKNOWN_USER: N_("Refused: there is no user {login}."),
    Why.IGNORED: N_("Ignored because {parameter} is 1."),
    Why.STALE: N_(
        "Not applied: it happened at {occurred_at}, before the last {aspect} change ({last})."
    ),
    Why.STALE_DELETED: N_(
        "Not applied: user {login} was deleted at {deleted_at}, after this event ({occurred_at})."
    ),
    Why.MALFORMED: N_("Refused: the event is malformed: {detail}"),
    Why.UNSTORABLE: N_(
        "Refused: a text holds a character no database can store (NUL or a lone surrogate)."
    ),
    Why.REFUSED: N_("Refused: {detail}"),
    Why.INVALID_LOGIN: N_("Refused: the login “{login}” is not allowed: {problem}."),
    Why.TOO_FAR_AHEAD: N_(
        "Refused: it is dated {occurred_at}, more than 24 hours ahead of the connector's clock. "
        "Check the STARFACE clock."
    ),
    Why.USER_CREATED: N_("User {login} created."),
    Why.PASSWORD_UID: N_("The password is the UsersUID because {parameter} is 1."),
    Why.PASSWORD_RANDOM: N_(
        "The password is random because {parameter} is 0; an administrator must set one."
    ),
    Why.ADMIN_NOT_TAKEN: N_("The admin flag was not taken because {parameter} is 1."),
    Why.ADMIN_TAKEN: N_("Admin flag: {admin} ({parameter} is 0)."),
    Why.NO_CHANGE: N_("Nothing changed."),
    Why.PROFILE_UPDATED: N_("Changed: {fields}."),
    Why.ADMIN_NOT_CHANGED: N_("The admin flag was not changed because {parameter} is 1."),
    Why.ADMIN_GRANTED: N_("Admin flag granted ({parameter} is 0)."),
    Why.ADMIN_REVOKED: N_("Admin flag revoked ({parameter} is 0)."),
    Why.USER_DELETED: N_("User {login} deleted ({parameter} is 0)."),
    Why.GROUP_CREATED: N_(
        "Group {group_id} “{name}” created with {members} member(s) ({parameter} is 0)."
    ),
    Why.GROUP_UPDATED: N_("Group {group_id} changed ({parameter} is 0): {changes}."),
    Why.GROUP_UNCHANGED: N_("The group did not change ({parameter} is 0)."),
    Why.UNKNOWN_MEMBERS: N_("Unknown logins not added: {logins}."),
    Why.TOO_MANY_MEMBERS: N_(
        "Refused: group {group_id} has {members} members, more than the {limit} one event may "
        "set (STARFACE_CONNECTOR_MAX_GROUP_MEMBERS)."
    ),
    Why.ACD_KEPT_PAUSE: N_(
        "The agent stays on Pause: logging in does not end a pause ({parameter} is 0)."
    ),
    Why.ACD_UNCHANGED: N_("The agent was already on {status} ({parameter} is 0)."),
    Why.ACD_CHANGED: N_(
        "ACD status changed from {old} to {new} after {status} ({parameter} is 0)."
    ),
    Why.PHONE_UNCHANGED: N_("The telephone was already {status}."),
    Why.PHONE_CHANGED: N_("Telephone status changed from {old} to {new}."),
    Why.ACD_SET_BY: N_("ACD status changed from {old} to {new} by {actor}."),
    Why.PARAMETER_SET_BY: N_("{parameter} changed from {old} to {new} by {actor}."),
    Why.RESYNC: N_("STARFACE sent the state again to bring jtel up to date (resync)."),
    Why.ACD_PAUSED: N_("ACD status changed from {old} to Pause after {cause} ({parameter} is 0)."),
    Why.ACD_RESUMED: N_(
        "ACD status changed from Pause to Calls and Media: {cause} ended, and it had set the "
        "pause ({parameter} is 0)."
    ),
    Why.ACD_PAUSE_KEPT: N_("The agent stays on Pause: {kept}."),
    Why.ACD_NOT_PAUSED: N_("The agent stays {status}: only an agent on Calls and Media is paused."),
    Why.ACD_NOT_CHANGED: N_("The ACD status was not changed ({parameter} is {value})."),
    Why.ACD_NEWER: N_("The ACD status was kept: a newer login status applies ({last})."),
    Why.DND_CHANGED: N_("Do not disturb switched {enabled}."),
    Why.DND_UNCHANGED: N_("Do not disturb was already {enabled}."),
    Why.THROTTLED_ADDRESS: N_(
        "Logins from {address} refused for {seconds} seconds after {failures} failed logins."
    ),
    Why.THROTTLED_ACCOUNT: N_(
        "Logins as {login} refused for {seconds} seconds after {failures} failed logins."
    ),
}
PAUSE_KEPT = {
    PauseKept.BY_PBX: N_("STARFACE had paused them already"),
    PauseKept.IN_JTEL: N_("they were paused in jtel already"),
    PauseKept.SET_IN_JTEL: N_("the pause was set in jtel, so STARFACE does not end it"),
    PauseKept.OTHER_HOLDS: N_("{other} still holds"),
}
#: why a Login-ID cannot be a UsersUID (domain/text.py)
LOGIN_PROBLEM = {
    LoginProblem.EMPTY: N_("it is empty"),
    LoginProblem.TOO_LONG: N_("it is longer than {limit} characters"),
    LoginProblem.CONTROL: N_("it contains a control character"),
    LoginProblem.SLASH: N_("it contains “/”"),
    LoginProblem.SPACES: N_("it begins or ends with a space"),
    LoginProblem.DOTS: N_("it is “.” or “..”"),
    LoginProblem.UNSTORABLE: N_("it contains NUL or an unpaired surrogate"),
}
ON_OFF = {"yes": N_("on"), "no": N_("off")}
#: said after a telephone status when the module used STARFACE's own name for it
ORIGINAL = N_("(STARFACE: {original})")
GROUP_CHANGE = {
    "old_name": N_("renamed from “{old_name}” to “{name}”"),
    "added": N_("added {added}"),
    "removed": N_("removed {removed}"),
}
YES_NO = {"yes": N_("yes"), "no": N_("no")}
#: a value a parameter cannot take, per kind of parameter
PARAMETER_ERROR = {
    ParameterKind.FLAG: N_("{name} must be 0 or 1, not “{value}”."),
    ParameterKind.SECONDS: N_(
        "{name} must be a whole number of seconds from {low} to {high}, not “{value}”."
    ),
}
#: how an import run ended, and who started it
IMPORT_STATUS = {
    "running": N_("running"),
    "done": N_("done"),
    "partial": N_("partial"),
    "failed": N_("failed"),
}
IMPORT_TRIGGER = {
    "cli": N_("command line"),
    "api": N_("API"),
    "schedule": N_("schedule"),
    "console": N_("console"),
    "demo": N_("demo"),
}

Translate = Callable[[str], str]


def parameter_error(kind: ParameterKind, name: str, value: str, _: Translate) -> str:
    """Why a value was refused, in the reader's language (the API says it in English)."""
    return _(PARAMETER_ERROR[kind]).format(
        name=name, value=value, low=SESSION_SECONDS_MIN, high=SESSION_SECONDS_MAX
    )


def status_word(value: str, _: Translate) -> str:
    """An ACD or telephone status in words (an unknown value as it is)."""
    for table in (ACD_STATUS, PHONE_STATUS):
        for status, label in table.items():
            if status.value == value:
                return _(label)
    return value


def reason_in_words(notes: Sequence[Note], fallback: str, _: Translate) -> str:
    """The reason of an event log entry as sentences in the reader's language."""
    if not notes:
        return fallback
    return " ".join(_sentence(n, _) for n in notes)


def _sentence(n: Note, _: Translate) -> str:
    args = n.arguments
    for key in ("old", "new", "status"):
        if key in args:
            args[key] = status_word(args[key], _)
    if "aspect" in args:
        args["aspect"] = _(ASPECT.get(args["aspect"], args["aspect"]))
    if "admin" in args:
        args["admin"] = _(YES_NO.get(args["admin"], args["admin"]))
    if "enabled" in args:
        args["enabled"] = _(ON_OFF.get(args["enabled"], args["enabled"]))
    if "kept" in args:
        args["kept"] = _(PAUSE_KEPT[PauseKept(args["kept"])]).format(**args)
    if n.why is Why.INVALID_LOGIN and args.get("problem") in LOGIN_PROBLEM:
        args["problem"] = _(LOGIN_PROBLEM[LoginProblem(args["problem"])]).format(limit=MAX_LOGIN)
    if n.why is Why.GROUP_UPDATED:
        args["changes"] = "; ".join(
            _(template).format(**args) for key, template in GROUP_CHANGE.items() if key in args
        )
    try:
        sentence = _(REASON[n.why]).format(**args)
    except (KeyError, IndexError, ValueError):  # a translation that lost a placeholder
        sentence = REASON[n.why].format(**args)
    if args.get("original"):
        sentence += " " + _(ORIGINAL).format(**args)
    return sentence
