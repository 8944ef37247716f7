"""Values as the reader writes them: amounts, numbers, file sizes, dates and times in the current
locale (Babel, CLDR data), and the choice of locale from what a browser or a shell asks for.

English keeps the product's long-standing forms ("1,234.50 EUR", "2026-11-21 15:03 CET"): the
code after the amount and ISO dates, as AP teams exchanging with many countries read them. The
other languages get their own: "1.234,56 €" (de), "€ 1.234,56" (nl), "1 234,56 zł" (pl),
"1 234,56 €" (fr), "21.11.2026 15:03 CET". An amount keeps every decimal it was written with
(never rounded away) and at least its currency's (JPY none, BHD three).

Web, CLI and notifier all use these, so a date reads the same on a page, in a terminal and in a
mail.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.core import negotiate_locale
from babel.dates import format_date, format_time
from babel.numbers import format_currency, format_decimal, get_currency_precision

from invoice_inbox.i18n import DEFAULT_LOCALE, LOCALES, current_locale

_CURRENCY = re.compile(r"[A-Z]{3}")
_TAG = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")
NONE = "–"
# each language in its own name, as a language menu shows it
LANGUAGE_NAMES = {
    "en": "English",
    "de": "Deutsch",
    "nl": "Nederlands",
    "pl": "Polski",
    "fr": "Français",
}


def supported(tag: str | None) -> str | None:
    """The product's locale for a language tag: "de-AT", "de_AT.UTF-8" → "de"; None if not one
    of :data:`LOCALES` (or no tag)."""
    tag = (tag or "").strip().split(".", 1)[0].split("@", 1)[0]
    if not _TAG.fullmatch(tag):
        return None
    language = re.split(r"[-_]", tag, maxsplit=1)[0].lower()
    return language if language in LOCALES else None


def from_accept_language(header: str | None) -> str | None:
    """The best of :data:`LOCALES` for an ``Accept-Language`` header (q-values honoured, q=0
    refused, "de-AT" → "de"); None when it names none of them."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "")[:1000].split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, position, tag.strip()))
    preferred = [tag.replace("_", "-") for _, _, tag in sorted(ranked)]
    found = negotiate_locale(preferred, list(LOCALES), sep="-")
    return supported(found) if found else None


def from_environment(environ: Mapping[str, str]) -> str:
    """The locale a shell asks for: ``LC_ALL``, else ``LC_MESSAGES``, else ``LANG`` (the first
    set); "pl_PL.UTF-8" → "pl"; "C", "POSIX" or a language not spoken → English."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name, "").strip()
        if value:
            return supported(value) or DEFAULT_LOCALE
    return DEFAULT_LOCALE


def zone_from_environment(environ: Mapping[str, str]) -> tzinfo:
    """The zone a shell's ``TZ`` names ("Europe/Warsaw", ":Europe/Warsaw"); UTC when unset or
    not an IANA zone name."""
    name = environ.get("TZ", "").strip().removeprefix(":")
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return UTC


def _locale(locale: str | None) -> str:
    return locale or current_locale()


def amount(
    value: str | Decimal | None, currency: str | None = None, locale: str | None = None
) -> str:
    """``("1234.5", "EUR")`` → "1,234.50 EUR" (en), "1.234,50 €" (de); with the currency's
    decimals, never fewer than written; no number, or no currency code: as written."""
    if value is None or value == "":
        return NONE
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return f"{value} {currency or ''}".strip()
    if not number.is_finite():
        return f"{value} {currency or ''}".strip()
    code = (currency or "").strip()[:20]  # as written when it is no ISO 4217 code
    iso = code.upper() if _CURRENCY.fullmatch(code.upper()) else None
    locale = _locale(locale)
    if iso and locale != DEFAULT_LOCALE:
        return format_currency(number, iso, locale=locale, decimal_quantization=False)
    digits = get_currency_precision(iso) if iso else 2
    exponent = number.as_tuple().exponent
    written = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    places = max(digits, written)
    pattern = "#,##0" + ("." + "0" * places if places else "")
    shown = format_decimal(number, format=pattern, locale=locale, decimal_quantization=False)
    return f"{shown} {code}" if code else shown


def number(value: int | float | Decimal | None, locale: str | None = None) -> str:
    """``1234.5`` → "1,234.5" (en), "1.234,5" (de), "1 234,5" (fr)."""
    if value is None:
        return NONE
    return format_decimal(value, locale=_locale(locale))


def size(n: int | None, locale: str | None = None) -> str:
    """A byte count as "812 B", "1.5 KB" (en), "1,5 MB" (de)."""
    if n is None:
        return NONE
    value = float(n)
    for unit in ("B", "KB", "MB"):
        if value < 1024 or unit == "MB":
            if unit == "B":
                return f"{n} B"
            return f"{format_decimal(value, format='#,##0.0', locale=_locale(locale))} {unit}"
        value /= 1024
    return f"{n} B"  # not reached


def when(value: datetime | None, tz: tzinfo | None = None, locale: str | None = None) -> str:
    """A time in *tz* (UTC when none) with the zone's name: "2026-11-21 15:03 CET" (en),
    "21.11.2026 15:03 CET" (de), "21 lis 2026 15:03 CET" (pl); ``–`` for none."""
    if value is None:
        return NONE
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    local = value.astimezone(tz or UTC)
    zone = local.tzname() or "UTC"
    locale = _locale(locale)
    if locale == DEFAULT_LOCALE:
        return local.strftime("%Y-%m-%d %H:%M ") + zone
    shown_date = format_date(local, "medium", locale=locale)
    return f"{shown_date} {format_time(local, 'short', locale=locale)} {zone}"


def day(value: date | None, locale: str | None = None) -> str:
    """A date: "2026-11-21" (en), "21.11.2026" (de), "21 lis 2026" (pl)."""
    if value is None:
        return NONE
    locale = _locale(locale)
    if locale == DEFAULT_LOCALE:
        return value.isoformat()[:10]
    return format_date(value, "medium", locale=locale)
