"""The reader's language: message catalogues (Babel ``.po``/``.mo``) and the locale of whoever is
being answered right now.

The locale lives in a context variable: the web sets it per request, the CLI once from
``--lang`` or ``LANG``, the notifier per recipient (``use_locale``). ``gettext``/``_`` translate
into it at call time, so any layer may mark a sentence for the reader. A text stored for later
readers (a decision's reason) is stored as a code with parameters instead and translated when
shown; ``N_`` marks such English templates for extraction without translating them.

Catalogues are ``locales/<lang>/LC_MESSAGES/messages.mo`` beside this file, made by
``make i18n`` (pybabel extract, update, compile); English is the source language.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from gettext import NullTranslations
from pathlib import Path

from babel.support import Translations

LOCALES_DIR = Path(__file__).with_name("locales")
DOMAIN = "messages"
DEFAULT_LOCALE = "en"
LOCALES = ("en", "de", "nl", "pl", "fr")  # the languages the product speaks, English first

_LOCALE: ContextVar[str] = ContextVar("invoice_inbox_locale", default=DEFAULT_LOCALE)


@cache
def translations(locale: str) -> NullTranslations:
    """The catalogue of ``locale`` ("pl", "de_AT" falls back to "de"); English: no translation."""
    if locale == DEFAULT_LOCALE:
        return NullTranslations()
    found = Translations.load(str(LOCALES_DIR), [locale], DOMAIN)
    return found if isinstance(found, Translations) else NullTranslations()


def current_locale() -> str:
    """The locale of the reader being answered now (``en`` unless one was set)."""
    return _LOCALE.get()


def set_locale(locale: str) -> None:
    """Speak ``locale`` from here on in this context (the CLI sets it once at start)."""
    _LOCALE.set(locale)


@contextmanager
def use_locale(locale: str) -> Iterator[str]:
    """Speak ``locale`` inside the block (a request, one notification), then what was before."""
    token = _LOCALE.set(locale)
    try:
        yield locale
    finally:
        _LOCALE.reset(token)


def gettext(message: str) -> str:
    """``message`` in the current locale (itself when untranslated)."""
    return translations(_LOCALE.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for ``n`` in the current locale (Polish has three)."""
    return translations(_LOCALE.get()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """``message`` in the current locale, told apart from the same English word by ``context``."""
    return translations(_LOCALE.get()).pgettext(context, message)


def N_(message: str) -> str:
    """Mark ``message`` for the catalogues without translating it now (stored, shown later)."""
    return message


_ = gettext
