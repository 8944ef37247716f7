"""Amounts, numbers, sizes, dates and times as each language writes them, and the locale chosen
from a browser's Accept-Language or a shell's LANG (issue 20)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from invoice_inbox.i18n import formats, use_locale

NBSP, NNBSP = "\xa0", "\u202f"


@pytest.mark.parametrize(
    ("locale", "currency", "shown"),
    [
        ("en", "EUR", "1,234.56 EUR"),
        ("de", "EUR", f"1.234,56{NBSP}€"),
        ("nl", "EUR", f"€{NBSP}1.234,56"),
        ("pl", "PLN", f"1{NBSP}234,56{NBSP}zł"),
        ("fr", "EUR", f"1{NNBSP}234,56{NBSP}€"),
    ],
)
def test_amounts_as_each_language_writes_them(locale: str, currency: str, shown: str) -> None:
    assert formats.amount("1234.56", currency, locale) == shown
    with use_locale(locale):  # the current locale when none is given
        assert formats.amount("1234.56", currency) == shown


def test_amounts_keep_written_decimals_and_the_currency_s() -> None:
    assert formats.amount("12.605", "EUR", "de") == f"12,605{NBSP}€"
    assert formats.amount("12.6", "EUR", "de") == f"12,60{NBSP}€"
    assert formats.amount("1200", "JPY", "en") == "1,200 JPY"
    assert formats.amount("twelve", "EUR", "de") == "twelve EUR"
    assert formats.amount("5", "points", "de") == "5,00 points"
    assert formats.amount(None, "EUR", "de") == "–"


def test_numbers_and_sizes_use_the_decimal_separator() -> None:
    assert formats.number(1234.5, "de") == "1.234,5"
    assert formats.number(1234.5, "en") == "1,234.5"
    assert formats.size(1536, "de") == "1,5 KB"
    assert formats.size(1536, "en") == "1.5 KB"
    assert formats.size(812, "pl") == "812 B"
    assert formats.size(5 * 1024 * 1024, "fr") == "5,0 MB"


def test_times_in_the_zone_and_the_language() -> None:
    t = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    berlin = ZoneInfo("Europe/Berlin")
    assert formats.when(t, None, "en") == "2026-01-15 12:00 UTC"
    assert formats.when(t, berlin, "en") == "2026-01-15 13:00 CET"
    assert formats.when(t, berlin, "de") == "15.01.2026 13:00 CET"
    assert formats.when(t, berlin, "pl") == "15 sty 2026 13:00 CET"
    assert formats.day(date(2026, 1, 15), "nl") == "15 jan 2026"
    assert formats.day(date(2026, 1, 15), "en") == "2026-01-15"


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        ("de-AT,de;q=0.9,en;q=0.8", "de"),
        ("fr-CH, fr;q=0.9", "fr"),
        ("en-US,en;q=0.9,pl;q=0.8", "en"),
        ("ja,pl;q=0.5,nl;q=0.7", "nl"),
        ("pl;q=0,nl;q=0.1", "nl"),
        ("nl_BE", "nl"),
        ("ja, zh", None),
        ("", None),
        (None, None),
        ("*", None),
        ("de;q=x", None),
    ],
)
def test_accept_language(header: str | None, chosen: str | None) -> None:
    assert formats.from_accept_language(header) == chosen


@pytest.mark.parametrize(
    ("environ", "chosen"),
    [
        ({"LANG": "pl_PL.UTF-8"}, "pl"),
        ({"LANG": "de_DE.UTF-8", "LC_ALL": "fr_FR.UTF-8"}, "fr"),
        ({"LANG": "nl_NL.UTF-8", "LC_MESSAGES": "de_AT"}, "de"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LC_ALL": "POSIX", "LANG": "pl_PL"}, "en"),
        ({"LANG": "ja_JP.UTF-8"}, "en"),
        ({}, "en"),
    ],
)
def test_shell_locale(environ: dict[str, str], chosen: str) -> None:
    assert formats.from_environment(environ) == chosen
