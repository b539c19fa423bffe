"""Deterministic made-up PBX data: names in German, English and French, logins and numbers.

:func:`populate` fills a :class:`~.state.SimulatedPbx` as :meth:`SimulatedPbx.generate
<.state.SimulatedPbx.generate>` promises: the same arguments and seed give the same users,
groups and numbers. :class:`Numbering` hands out identifiers the way a PBX assigns them.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .state import SimulatedPbx

__all__ = [
    "FAMILY_NAMES",
    "FIRST_NAMES",
    "GROUP_NAMES",
    "LANGUAGES",
    "Numbering",
    "group_name",
    "mail_address",
    "populate",
]

LANGUAGES: tuple[str, ...] = ("de", "en", "fr")
FIRST_NAMES: dict[str, tuple[str, ...]] = {
    "de": (
        "Jürgen", "Jörg", "Björn", "Günther", "Käthe", "Sören", "Bärbel", "Dörte",
        "Maximilian", "Lukas", "Sophie", "Hannah", "Uwe", "Anneliese", "Matthias", "Ursula",
    ),
    "en": (
        "James", "Olivia", "Emily", "Oliver", "Charlotte", "William", "Grace", "Harry",
        "Amelia", "Jack", "Siobhán", "Eleanor", "George", "Isla", "Thomas", "Ruby",
    ),
    "fr": (
        "Amélie", "Benoît", "Chloé", "Élodie", "François", "Hélène", "Jérôme", "Léa",
        "Noël", "Zoé", "Gaëlle", "Loïc", "Anaïs", "Cédric", "Mathéo", "Renée",
    ),
}  # fmt: skip
FAMILY_NAMES: dict[str, tuple[str, ...]] = {
    "de": (
        "Müller", "Schröder", "Weiß", "Groß", "Bäcker", "Köhler", "Schäfer", "Hoffmann",
        "Wagner", "Becker", "Krüger", "Lührs", "Fuchs", "Öztürk", "Jäger", "Schmidt",
    ),
    "en": (
        "Smith", "Johnson", "Brown", "Taylor", "Wilson", "O'Brien", "Walker", "Clarke",
        "Hughes", "Wright", "Evans", "Roberts", "Green", "Hall", "Wood", "Turner",
    ),
    "fr": (
        "Lefèvre", "Dubois", "Moreau", "Girard", "Bélanger", "Côté", "Fontaine", "Leroy",
        "Gauthier", "Mercier", "Brûlé", "Lemaître", "Faure", "Rousseau", "Châtelain", "Périer",
    ),
}  # fmt: skip
GROUP_NAMES: tuple[str, ...] = (
    "Vertrieb", "Support", "Service client", "Buchhaltung", "Hotline", "Sales", "Technik",
    "Réception", "Kundenservice", "Marketing", "Logistik", "Comptabilité", "Einkauf",
    "Personalabteilung", "Direction", "Helpdesk",
)  # fmt: skip
_TRANSLIT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe"})


def _ascii_mail_part(name: str) -> str:
    """Fold a name into the ASCII local part of an e-mail address (Jürgen -> juergen)."""
    folded = unicodedata.normalize("NFKD", name.translate(_TRANSLIT).replace("Ü", "Ue"))
    ascii_only = folded.encode("ascii", "ignore").decode("ascii").lower()
    return "".join(ch for ch in ascii_only if ch.isalnum() or ch in ".-")


def mail_address(first_name: str, family_name: str, login: str) -> str:
    """The default e-mail address of a user: ASCII, unique through the Login-ID."""
    return f"{_ascii_mail_part(first_name)}.{_ascii_mail_part(family_name)}.{login}@example.com"


def group_name(index: int) -> str:
    """The name of the ``index``-th generated group; numbered once the names run out."""
    base = GROUP_NAMES[index % len(GROUP_NAMES)]
    return base if index < len(GROUP_NAMES) else f"{base} {index // len(GROUP_NAMES) + 1}"


class Numbering:
    """Identifiers as a PBX hands them out, each kind counting up on its own.

    Users and groups share one account-id space (both are accounts on STARFACE) with gaps
    between ids, as on a PBX where accounts were deleted over time. Login-IDs count from
    "1001", user extensions from "20000", group extensions from "80000". Not thread-safe: the
    PBX state calls it under its lock.
    """

    def __init__(self) -> None:
        self._account_id = 100
        self._login = 1001
        self._number_id = 1
        self._extension = 20000
        self._group_extension = 80000

    def account_id(self) -> int:
        account_id = self._account_id
        self._account_id += 2
        return account_id

    def login(self) -> str:
        login = str(self._login)
        self._login += 1
        return login

    def number_id(self) -> int:
        number_id = self._number_id
        self._number_id += 1
        return number_id

    def extension(self) -> str:
        extension = str(self._extension)
        self._extension += 1
        return extension

    def group_extension(self) -> str:
        extension = str(self._group_extension)
        self._group_extension += 1
        return extension


def populate(pbx: SimulatedPbx, users: int, groups: int) -> None:
    """Add ``groups`` groups and ``users`` users to an empty PBX, drawing from ``pbx.rng``.

    Names mix German, English and French first and family names (with umlauts and accents);
    logins are "1001", "1002", ...; about 10% of users are administrators; every user has an
    internal number and about half also an external one; each user is in 0-2 of the groups.
    A few spare numbers (and the groups' numbers) exercise the number filters.
    """
    if users < 0 or groups < 0:
        raise ValueError("users and groups must not be negative")
    rng = pbx.rng
    with pbx.batch():
        group_ids = [pbx.add_group(group_name(j)) for j in range(groups)]
        members: dict[int, set[int]] = {gid: set() for gid in group_ids}
        for _ in range(users):
            first = rng.choice(FIRST_NAMES[rng.choice(LANGUAGES)])
            family = rng.choice(FAMILY_NAMES[rng.choice(LANGUAGES)])
            login = pbx.new_login()
            numbers = [pbx.new_extension()]
            if rng.random() < 0.5:
                numbers.append(f"{5550000 + int(login)}")
            user_id = pbx.add_user(
                first_name=first,
                family_name=family,
                language=rng.choice(LANGUAGES),
                login=login,
                admin=rng.random() < 0.1,
                phone_numbers=numbers,
            )
            if group_ids:
                roll = rng.random()
                count = 0 if roll < 0.1 else (1 if roll < 0.7 else 2)
                for gid in rng.sample(group_ids, min(count, len(group_ids))):
                    members[gid].add(user_id)
        for gid, member_ids in members.items():
            pbx.set_group_members(gid, member_ids)
        for _ in range(max(1, users // 50)):
            pbx.add_number()
