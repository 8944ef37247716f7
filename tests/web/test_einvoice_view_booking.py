"""The readable view shows the booking core (issue 19 item 3): references (buyer reference,
order, contract, project, preceding invoices), document-level allowances and charges, the
direct debit mandate, the VAT exemption reason and the calculation problems. The expected
values are read from the corpus files (quoted beside each); the view is rendered with the
app's own template environment."""

from __future__ import annotations

import io

import lxml.html
from pypdf import PdfReader

from corpus import CORPUS
from invoice_inbox.pipeline.einvoice import read_view
from invoice_inbox.web.templating import templates


def rendered(data: bytes) -> lxml.html.HtmlElement:
    view = read_view(data)
    assert view is not None
    macro = templates.env.get_template("einvoice_macros.html").module.invoice  # type: ignore[attr-defined]
    return lxml.html.fragment_fromstring(str(macro(view)), create_parent="div")


def text(page: lxml.html.HtmlElement, css_id: str) -> str:
    (found,) = page.xpath(f"//*[@id='{css_id}']")
    return " ".join(found.text_content().split())


def test_references_allowances_charges_and_the_mandate() -> None:
    page = rendered((CORPUS / "horstoeko-zugferd__xml_en16931_3.xml").read_bytes())
    assert text(page, "ev-buyer-reference") == "SERVEXEC"  # BuyerReference
    assert text(page, "ev-order-reference") == "PO201925478"  # BuyerOrderReferencedDocument
    assert text(page, "ev-contract-reference") == "CT2018120802"  # ContractReferencedDocument
    rows = [
        " ".join(r.text_content().split()) for r in page.xpath("//*[@id='ev-allowances']//tbody/tr")
    ]
    assert len(rows) == 2
    assert rows[0].startswith("Allowance REMISE COMMERCIALE") and "5.00" in rows[0]
    assert rows[1].startswith("Charge FRAIS DEPLACEMENT") and "10.00" in rows[1]
    assert "MANDATE PT" in text(page, "ev-payment")  # DirectDebitMandateID
    assert "VAT EXEMP" in text(page, "ev-taxes")  # ExemptionReason of category E
    assert not page.xpath("//*[@id='ev-problems']")


def test_project_and_preceding_invoice() -> None:
    extended = CORPUS / "phive-rules__zugferd-2.5.2-extended__factur-x-22.xml"
    page = rendered(extended.read_bytes())
    assert text(page, "ev-project-reference") == "Projektnr. BT-11"
    assert text(page, "ev-contract-reference") == "Vertragsnr. BT-12"
    prepaid = rendered((CORPUS / "phive-rules__pint-aunz__AU_GST_Only_-_Prepaid.xml").read_bytes())
    (preceding,) = prepaid.xpath("//dd[@class='ev-preceding']")
    assert (
        " ".join(preceding.text_content().split()) == "8365848 (of 2019-10-27)"
    )  # BillingReference


def test_the_calculation_problems_are_listed() -> None:
    reader = PdfReader(io.BytesIO((CORPUS / "zugferd-corpus__Facture_FR_BASIC.pdf").read_bytes()))
    ((_, (xml, *_)),) = reader.attachments.items()
    page = rendered(xml)
    (problem,) = page.xpath("//*[@id='ev-problems']/li")
    assert problem.get("data-rule") == "PEPPOL-EN16931-R120"
    assert "82.00" in problem.text_content() and "81.90" in problem.text_content()  # 20 x 4.10
