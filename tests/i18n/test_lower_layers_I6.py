"""Sentences made below the web layer, in the reader's language (issue 20): e-invoice calculation
problems rendered from their rule and figures (the stored English message stays), supplier,
webhook and import-anyway sentences; with a test catalogue."""

from __future__ import annotations

import re
from dataclasses import replace
from ipaddress import ip_address
from pathlib import Path

import pytest

from corpus import CORPUS
from invoice_inbox.delivery import egress
from invoice_inbox.i18n import use_locale
from invoice_inbox.pipeline.decide import Verdict
from invoice_inbox.pipeline.einvoice import problem_text, read_pdf, read_xml
from invoice_inbox.pipeline.einvoice.booking import (
    AllowanceCharge,
    InvoiceLine,
    Problem,
    VatBreakdown,
)
from invoice_inbox.pipeline.einvoice.checks import check
from invoice_inbox.pipeline.einvoice.model import EInvoice
from invoice_inbox.runtime import message_actions, recheck
from invoice_inbox.store import suppliers
from invoice_inbox.store.errors import NotFound
from invoice_inbox.store.models import Message
from invoice_inbox.web.templating import templates
from translated import install
from web.conftest import Web
from web.test_einvoice_problems_flag import PROBLEMS, add_document

BASE = EInvoice(
    format="ubl",
    document_type="invoice",
    line_total="100.00",
    tax_basis_total="100.00",
    tax_total="19.00",
    total="119.00",
    amount_due="119.00",
    lines=(
        InvoiceLine(
            id="1", quantity="4", unit_price="25", net_amount="100.00", vat_category="S",
            vat_rate="19",
        ),
    ),
    vat_breakdown=(VatBreakdown(category="S", rate="19", basis="100.00", tax="19.00"),),
)  # fmt: skip
BROKEN = (
    replace(BASE, total="1234.50", amount_due="120.00"),
    replace(
        BASE,
        allowances=(AllowanceCharge(amount="10", vat_category="S", vat_rate="19"),),
        allowance_total="10.00",
        charge_total="5.00",
        tax_basis_total="90.00",
        tax_total="18.00",
    ),
    replace(
        BASE,
        vat_breakdown=(VatBreakdown(category="Z", rate="0", basis="100.00", tax="19.00"),),
        lines=(replace(BASE.lines[0], vat_category="Z", vat_rate="0", net_amount="99.00"),),
    ),
    replace(BASE, lines=(replace(BASE.lines[0], price_base_quantity="2"),)),
    replace(
        BASE, lines=tuple(replace(BASE.lines[0], id=str(i), net_amount="90.00") for i in range(12))
    ),
    replace(BASE, total="NaN", tax_total="1e999999"),
)
CORPUS_BROKEN = (
    "ksef-fop__fa3-podstawowa__FA_3_complex.xml",
    "cen-en16931__ubl-tc434-example1.xml",
    "horstoeko-zugferd__pdf_fx_minimum_1.pdf",
)


def _problems() -> list[Problem]:
    found = [p for invoice in BROKEN for p in check(invoice).problems]
    for name in CORPUS_BROKEN:
        data = (CORPUS / name).read_bytes()
        invoice = read_pdf(data) if name.endswith(".pdf") else read_xml(data)
        assert invoice is not None
        found += invoice.problems
    return found


def test_each_rules_sentence_says_what_the_checks_english_message_says() -> None:
    """Rendered from rule and figures with the catalogue's English sentences (no translation),
    every problem the checks make reads as its stored message: the sentences fit the figures."""
    problems = _problems()
    rules = {p.rule for p in problems}
    assert {"BR-CO-13", "BR-CO-15", "BR-S-08", "BR-Z-09", "NOT-A-NUMBER"} <= rules
    assert {"PEPPOL-EN16931-R120", "KSEF-P11", "KSEF-P15", "BR-CO-16"} <= rules
    for p in problems:
        rule, message, figures = p.rule, p.message, p.figures
        with use_locale("en"):
            sentence = problem_text._sentence(rule, message, dict(figures))
        assert sentence is not None, message
        assert re.sub(r"(?<=\d),(?=\d{3})", "", f"{rule}: {sentence}") == message  # no grouping


GERMAN = {
    "tax basis %(tax_basis_total)s + tax %(tax_total)s ≠ total %(total)s": (
        "Steuerbasis %(tax_basis_total)s + Steuer %(tax_total)s ≠ Gesamtbetrag %(total)s"
    ),
    "%(label)s: taxable amount %(basis)s × rate gives %(expected)s ≠ tax %(tax)s": (
        "%(label)s: Bemessungsgrundlage %(basis)s × Satz ergibt %(expected)s ≠ Steuer %(tax)s"
    ),
    "VAT %(category)s %(rate)s %%": "USt. %(category)s %(rate)s %%",
    (
        "%(n)s more line does not multiply out",
        "%(n)s more lines do not multiply out",
    ): ("%(n)s weitere Zeile geht nicht auf", "%(n)s weitere Zeilen gehen nicht auf"),
}


def test_problems_read_in_the_readers_language(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    install(monkeypatch, tmp_path, "de", GERMAN)
    by_rule = {p.rule: p for p in check(BROKEN[0]).problems}
    total = by_rule["BR-CO-15"]
    zero = check(BROKEN[2]).problems[-1]
    more = [p for p in check(BROKEN[4]).problems if p.rule.startswith("PEPPOL")][-1]
    with use_locale("de"):
        assert problem_text.of(total) == (
            "BR-CO-15: Steuerbasis 100,00 + Steuer 19,00 ≠ Gesamtbetrag 1.234,50"
        )
        assert problem_text.of(zero) == (
            "BR-Z-09: USt. Z 0 %: Bemessungsgrundlage 100,00 × Satz ergibt 0,00 ≠ Steuer 19,00"
        )
        assert problem_text.of(more).endswith("2 weitere Zeilen gehen nicht auf")
        # the JSON form the document page has, through the pages' filter
        shown = templates.env.from_string("{{ p|einvoice_problem }}").render(
            p={"rule": total.rule, "message": total.message, "figures": dict(total.figures)}
        )
        assert shown == "BR-CO-15: Steuerbasis 100,00 + Steuer 19,00 ≠ Gesamtbetrag 1.234,50"
        # a rule the catalogue does not know, or figures that do not fit: the stored message
        unknown = {"rule": "BR-XX-1", "message": "BR-XX-1: odd", "figures": {"a": "1"}}
        assert problem_text.of(unknown) == "BR-XX-1: odd"
        assert problem_text.of({**unknown, "rule": "BR-CO-15"}) == "BR-XX-1: odd"
    with use_locale("en"):
        assert problem_text.of(total) == total.message


WEBHOOK_GERMAN = {
    "the URL must start with http:// or https:// and name a host": (
        "die URL muss mit http:// oder https:// beginnen und einen Host nennen"
    ),
    "choose at least one event": "wählen Sie mindestens ein Ereignis",
    "%(ip)s is a %(kind)s address": "%(ip)s ist eine %(kind)s Adresse",
    "loopback": "Loopback-",
}


def test_webhook_mistakes_in_the_readers_language_with_their_field(
    web: Web, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    install(monkeypatch, tmp_path, "de", WEBHOOK_GERMAN)
    web.user("boss@x.test")
    web.company("ACME")
    api = web.api("boss@x.test")
    german = {"Accept-Language": "de"}
    hook = {"company": "ACME", "url": "ftp://x.example/h", "events": ["source.deactivated"]}
    r = api.post("/api/v1/webhooks", json=hook, headers=german)
    assert r.status_code == 422
    wrong_url = "die URL muss mit http:// oder https:// beginnen und einen Host nennen"
    assert r.json()["problems"] == [{"field": "url", "problem": wrong_url}]
    no_events = {**hook, "url": "https://x.example/h", "events": []}
    r = api.post("/api/v1/webhooks", json=no_events, headers=german)
    # the field comes from the problem, not from its words ("URL" is in neither sentence here)
    assert r.json()["problems"] == [
        {"field": "events", "problem": "wählen Sie mindestens ein Ereignis"}
    ]
    english = api.post("/api/v1/webhooks", json=hook).json()
    assert english["detail"] == "the URL must start with http:// or https:// and name a host"
    with use_locale("de"):
        assert egress.refusal("127.0.0.1", [ip_address("127.0.0.1")]) == (
            "127.0.0.1 ist eine Loopback- Adresse"
        )


SUPPLIER_GERMAN = {
    "%(domain)s is not blocked for this company": "%(domain)s ist für diese Firma nicht gesperrt",
    "document #%(document)s marked as fraud by %(by)s": (
        "Dokument #%(document)s von %(by)s als Betrug markiert"
    ),
}


def test_supplier_sentences_in_the_readers_language(
    web: Web, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    install(monkeypatch, tmp_path, "de", SUPPLIER_GERMAN)
    web.company("ACME")
    cid = web.company_id("ACME")
    with use_locale("de"), web.app.db.session() as s, pytest.raises(NotFound) as refused:
        suppliers.unblock(s, cid, "x.example")
    assert str(refused.value) == "x.example ist für diese Firma nicht gesperrt"
    stored = suppliers.FRAUD_REASON % {"document": 7, "by": "boss@x.test"}
    assert stored == "document #7 marked as fraud by boss@x.test"  # stored in English
    with use_locale("de"):
        shown = templates.env.from_string("{{ r|blocked_reason }}").render(r=stored)
        assert shown == "Dokument #7 von boss@x.test als Betrug markiert"
        assert suppliers.reason_words("blocked by hand") == "blocked by hand"
    assert suppliers.reason_words(stored) == stored


ANYWAY_GERMAN = {
    "no message %(id)s": "keine Nachricht %(id)s",
    "only a mail that was not imported can be imported anyway (this one is %(what)s)": (
        "nur eine nicht importierte Mail kann trotzdem importiert werden (diese ist %(what)s)"
    ),
    "quarantined": "in Quarantäne",
    "this mail is imported already": "diese Mail ist schon importiert",
}


def test_import_anyway_refusals_in_the_readers_language(
    web: Web, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    install(monkeypatch, tmp_path, "de", ANYWAY_GERMAN)
    with use_locale("de"):
        with pytest.raises(NotFound) as missing:
            message_actions.import_anyway(web.app, 987654, by="boss@x.test")
        assert str(missing.value) == "keine Nachricht 987654"
        with pytest.raises(message_actions.Refused) as odd:
            message_actions._not_imported(Message(decision=Verdict.QUARANTINED), 1)
        assert str(odd.value).endswith("werden (diese ist in Quarantäne)")
        with pytest.raises(message_actions.Refused) as done:
            message_actions._not_imported(Message(decision=Verdict.IMPORT), 1)
        assert str(done.value) == "diese Mail ist schon importiert" and done.value.conflict
    with pytest.raises(message_actions.Refused, match=r"^this mail is imported already$"):
        message_actions._not_imported(Message(decision=Verdict.IMPORT), 1)


def test_recheck_sentences_name_the_mail_in_the_readers_language(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    german = {
        'message %(id)s ("%(subject)s" from %(sender)s)': (
            'Nachricht %(id)s („%(subject)s" von %(sender)s)'
        ),
        "unknown sender": "unbekanntem Absender",
    }
    install(monkeypatch, tmp_path, "de", german)
    row = Message(id=5, subject="Rechnung 7", sender=None)
    with use_locale("de"):
        assert recheck._label(row) == 'Nachricht 5 („Rechnung 7" von unbekanntem Absender)'
    assert recheck._label(row) == 'message 5 ("Rechnung 7" from unknown sender)'


def test_the_document_page_lists_problems_in_the_readers_language(
    web: Web, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    install(monkeypatch, tmp_path, "de", GERMAN)
    bad = add_document(web, "INV-1", PROBLEMS)
    browser = web.browser(web.user("admin@example.test"))
    browser.headers["Accept-Language"] = "de"
    page = browser.get(f"/documents/{bad}").text
    assert "BR-CO-15: Steuerbasis 100,00 + Steuer 19,00 ≠ Gesamtbetrag 119,01" in page
    # figures that do not fit the rule's sentence (BR-CO-16 without prepaid): the stored message
    assert "BR-CO-16: total 119.01 − prepaid 0 + rounding 0 ≠ amount due 119.00" in page
    api = web.api("admin@example.test")
    [listed] = api.get("/api/v1/documents", headers={"Accept-Language": "de"}).json()["items"]
    assert listed["einvoice"]["problems"] == PROBLEMS  # the API keeps the English message
