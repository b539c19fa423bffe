"""The console speaks English, German and French: every visible text goes through the
catalogs, and the catalogs are complete and keep every placeholder."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from starface_connector.web import i18n

WEB = Path(i18n.__file__).parent
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
PLACEHOLDER = re.compile(r"\{[a-z_]+\}|%\([a-z_]+\)s")


def source_messages() -> set[str]:
    found = set()
    for _, _, message, _, _ in extract_from_dir(WEB, METHODS, keywords=KEYWORDS):
        found.add(message if isinstance(message, str) else message[0])
    return found


@pytest.mark.parametrize("language", [code for code in i18n.LANGUAGES if code != i18n.DEFAULT])
def test_every_message_is_translated_and_keeps_its_placeholders(language: str) -> None:
    path = i18n.LOCALE / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as source:
        catalog = read_po(source, locale=language)
    entries = {m.id: m for m in catalog if m.id}
    missing = sorted(source_messages() - set(entries))
    assert not missing, f"not in the {language} catalog (run pybabel update): {missing}"
    for message in entries.values():
        assert message.string, f"{language}: {message.id!r} has no translation"
        assert not message.fuzzy, f"{language}: {message.id!r} is fuzzy"
        assert sorted(PLACEHOLDER.findall(message.string)) == sorted(
            PLACEHOLDER.findall(message.id)
        ), f"{language}: {message.id!r} lost or gained a placeholder"


def test_the_gettext_catalogs_are_what_the_console_uses() -> None:
    assert i18n.gettext("de", "Calls and Media") == "Anrufe und Medien"
    assert i18n.gettext("fr", "Calls and Media") == "Appels et médias"
    assert i18n.gettext("en", "Calls and Media") == "Calls and Media"


@pytest.mark.parametrize(
    ("cookie", "header", "language"),
    [
        (None, None, "en"),
        (None, "de-DE,de;q=0.9,en;q=0.8", "de"),
        (None, "en-GB,en;q=0.9,fr;q=0.8", "en"),
        (None, "es,fr-CH;q=0.7,de;q=0.5", "fr"),
        (None, "de;q=0.2,fr;q=0.9", "fr"),
        (None, "de;q=0,es", "en"),
        ("fr", "de-DE", "fr"),  # the choice made with the switcher wins
        ("xx", "de", "de"),
        (None, "de;q=notanumber", "en"),
    ],
)
def test_the_language_comes_from_the_choice_then_the_browser(
    cookie: str | None, header: str | None, language: str
) -> None:
    assert i18n.negotiate(cookie, header) == language


TEXT_ATTRIBUTES = re.compile(r'\s(?:aria-label|title|placeholder|alt)="([^"]*)"')


@pytest.mark.parametrize("template", sorted(p.name for p in (WEB / "templates").glob("*.html")))
def test_templates_hold_no_text_outside_the_catalogs(template: str) -> None:
    source = (WEB / "templates" / template).read_text(encoding="utf-8")
    for value in TEXT_ATTRIBUTES.findall(source):
        assert value.startswith("{{") and value.endswith("}}"), f"{template}: {value!r}"
    text = re.sub(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", " ", source, flags=re.S)
    text = re.sub(r"<!doctype[^>]*>|<[^>]*>", " ", text, flags=re.S | re.I)
    words = re.findall(r"[^\W\d_]{2,}", text)
    assert not words, f"{template} shows untranslated text: {words}"


def test_every_reason_code_has_a_sentence_in_every_language() -> None:
    """A new reason code in the domain must get its console sentence (and translations)."""
    from starface_connector.domain.reasons import PauseKept, Why
    from starface_connector.web import words

    assert set(words.REASON) == set(Why)
    assert set(words.PAUSE_KEPT) == set(PauseKept)
    for language in i18n.LANGUAGES:
        for template in words.REASON.values():
            assert i18n.gettext(language, template)
