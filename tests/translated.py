"""A test catalogue: a few translations written to a ``.mo`` file in a temp dir with Babel and
put in place of the product's catalogue for one locale, so a test can see a text translated
before the translators' catalogues exist."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.support import Translations

from invoice_inbox import i18n

Messages = dict[str | tuple[str, str], str | tuple[str, ...]]


def catalogue(folder: Path, locale: str, messages: Messages) -> Translations:
    """A catalogue of *locale* with *messages* (msgid, or (singular, plural) -> forms)."""
    cat = Catalog(locale=locale)
    for msgid, msgstr in messages.items():
        cat.add(msgid, msgstr)
    path = folder / f"{locale}.mo"
    with path.open("wb") as f:
        write_mo(f, cat)
    with path.open("rb") as f:
        return Translations(f)


def install(monkeypatch: pytest.MonkeyPatch, folder: Path, locale: str, messages: Messages) -> None:
    """Speak *messages* in *locale* for the rest of the test (other locales as before)."""
    found = catalogue(folder, locale, messages)
    real = i18n.translations

    def translations(wanted: str) -> object:
        return found if wanted.split("_")[0].split("-")[0] == locale else real(wanted)

    monkeypatch.setattr(i18n, "translations", translations)
