"""The console's languages: English (the source), German and French, from Babel catalogs.

The ``.po`` files in ``locale/`` are the translations as people edit them; they are compiled
in memory when the console starts, so there is no build step and no compiled file to forget.
The language comes from the ``lang`` cookie (set by the switcher on every page), else from the
browser's Accept-Language, else English.
"""

from __future__ import annotations

import functools
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LANGUAGES = {"en": "English", "de": "Deutsch", "fr": "Français"}
DEFAULT = "en"
COOKIE = "lang"
LOCALE = Path(__file__).with_name("locale")


@functools.cache
def translations(language: str) -> NullTranslations:
    """The compiled catalog of a language (English: the messages as written)."""
    path = LOCALE / language / "LC_MESSAGES" / "messages.po"
    if language == DEFAULT or not path.exists():
        return NullTranslations()
    with path.open("rb") as source:
        catalog = read_po(source, locale=language)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(fp=compiled)


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The language to answer in: the remembered choice, else the browser's best match."""
    if cookie in LANGUAGES:
        return cookie
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            weighted.append((-quality, position, primary))
    return min(weighted)[2] if weighted else DEFAULT


def gettext(language: str, message: str) -> str:
    return translations(language).gettext(message)
