"""Values as people read them (issue 14, item 12): amounts with their currency's decimals, kinds
and formats by name, and times in the viewer's zone: the zone chosen on the Account page, else
the one the browser reports (the ``ii_tz`` cookie ``static/zone.js`` sets), else UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from invoice_inbox.store.models import User
from invoice_inbox.web.readable import format_word, kind_word, money, when, zone
from web.conftest import Web
from web.test_web_queue_sort_bulk import add_doc


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        ("12.6", "EUR", "12.60 EUR"),
        ("1234.5", "EUR", "1,234.50 EUR"),
        ("1200", "JPY", "1,200 JPY"),  # no minor unit
        ("7.5", "BHD", "7.500 BHD"),  # three decimals
        ("12.605", "EUR", "12.605 EUR"),  # never rounded away
        ("-40", "EUR", "-40.00 EUR"),  # a credit note
        ("12.6", None, "12.60"),
        ("twelve", "EUR", "twelve EUR"),  # shown as written
        ("12.6", "eur", "12.60 eur"),  # the decimals of EUR, the code as written
        ("12.6", "Euro", "12.60 Euro"),  # no ISO 4217 code: two decimals
    ],
)
def test_amounts_have_their_currencys_decimals(
    amount: str, currency: str | None, shown: str
) -> None:
    assert money(amount, currency) == shown


def test_kinds_and_formats_are_words() -> None:
    assert kind_word("einvoice_pdf") == "E-invoice (PDF)"
    assert kind_word("body_pdf") == "Mail text (PDF)"
    assert format_word("facturx") == "Factur-X"
    assert format_word("xrechnung-ubl") == "XRechnung (UBL)"
    assert format_word("peppol-bis3") == "Peppol BIS (UBL)"
    assert format_word("ksef-fa3") == "KSeF FA(3)"


def test_times_in_a_zone_and_only_real_zones() -> None:
    t = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    assert when(t) == "2026-01-15 12:00 UTC"
    assert when(t, zone("Europe/Berlin")) == "2026-01-15 13:00 CET"
    assert when(datetime(2026, 7, 15, 12, 0, tzinfo=UTC), zone("Europe/Berlin")).endswith("CEST")
    for bad in ("", "Mars/Olympus", "../../etc/passwd", "/etc/localtime", "x" * 300):
        assert zone(bad) is None


def received_times(html: str) -> list[str]:
    return re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d ([A-Z+\-0-9]+)</td>", html)


def test_the_queue_shows_times_in_the_users_zone_else_the_browsers(web: Web) -> None:
    web.user("admin@x.test")
    add_doc(web, "ACME", "12.6", "2026-12-20")
    b = web.browser("admin@x.test")
    assert set(received_times(b.get("/documents").text)) == {"UTC"}

    b.cookies.set("ii_tz", "Asia/Tokyo")  # what zone.js sets from the browser
    page = b.get("/documents").text
    assert set(received_times(page)) == {"JST"}
    assert "12.60 EUR" in page and "XRechnung (UBL)" in page and "E-invoice (XML)" in page

    r = b.form("/account/time-zone", {"time_zone": "America/New_York"})
    assert r.status_code == 303
    assert set(received_times(b.get("/documents").text)) <= {"EST", "EDT"}
    assert "America/New_York" in b.get("/account").text

    refused = b.form("/account/time-zone", {"time_zone": "Mars/Olympus"})
    assert refused.status_code == 422 and "is not a time zone" in refused.text
    assert b.post("/account/time-zone", data={"time_zone": "UTC"}).status_code == 403  # no CSRF
    with web.app.db.session() as s:
        me = s.scalars(select(User).where(User.email == "admin@x.test")).one()
        assert me.time_zone == "America/New_York"

    assert b.form("/account/time-zone", {"time_zone": ""}).status_code == 303  # the browser's
    assert set(received_times(b.get("/documents").text)) == {"JST"}
