"""The document page's e-invoice facts are texts people read: the booking core's lists and
objects (lines, VAT breakdown, payment) are the readable view's, never printed as data here."""

from __future__ import annotations

from pathlib import Path

from invoice_inbox.pipeline.einvoice import read_xml
from invoice_inbox.web.pages.documents import einvoice_facts

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def test_facts_are_texts_with_labels_and_amounts_in_their_currency() -> None:
    invoice = read_xml((CORPUS / "cen-en16931__ubl-tc434-example1.xml").read_bytes())
    assert invoice is not None and invoice.lines and invoice.payment is not None
    facts = dict(einvoice_facts(invoice.as_dict()))
    shown = " ".join(f"{k} {v}" for k, v in facts.items())
    assert "[" not in shown and "{" not in shown and "None" not in shown, shown
    assert "Schema version" not in facts and "Lines" not in facts and "Payment" not in facts
    assert facts["Total without VAT"] == "229.60 EUR"  # the file's TaxExclusiveAmount
    assert facts["Amount due"] == "250.33 EUR"  # PayableAmount
