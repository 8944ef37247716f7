"""Issue 14 item 13: an e-invoice XML document read as an invoice on its page (parties, lines,
VAT breakdown, totals, payment) and as a PDF to download, on the page and in the API.

Real corpus files (XRechnung CII, CEN UBL, KSeF FA(3)) come by mail from Dovecot; what the page
and the PDF must show is read from the same XML here, with XPath, independently of the reader.
"""

from __future__ import annotations

import copy
import io
from pathlib import Path

import lxml.html
import pytest
from lxml import etree
from pypdf import PdfReader

from builders import Attachment, make_mail, make_pdf
from corpus import CORPUS
from harness.dovecot import Mailbox
from invoice_inbox.runtime import runner
from invoice_inbox.store.models import Document
from web.conftest import Web

CII = CORPUS / "xrechnung-testsuite__01.02a-INVOICE_uncefact.xml"  # 123456, 12.6 EUR
UBL = CORPUS / "cen-en16931__ubl-tc434-example1.xml"  # 12115118, 250.33 EUR, 20 lines
KSEF = CORPUS / "ksef-fop__fa3-podstawowa__FA_3_Przyklad_5.xml"  # 5t4343trgfds, 955.71 PLN
SCRIPT = "<script>alert(1)</script>"


def xpath(path: Path | bytes, expr: str) -> list[str]:
    """Trimmed texts the local-name XPath *expr* selects in the XML."""
    data = path.read_bytes() if isinstance(path, Path) else path
    root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    return [" ".join("".join(e.itertext()).split()) for e in root.xpath(expr)]


def ln(name: str) -> str:
    return f"*[local-name()='{name}']"


def hostile_ubl() -> bytes:
    """The UBL sample with a script as its first item's name and a number of its own."""
    data = UBL.read_bytes().replace(
        b"<cbc:Name>PATAT FRITES 10MM 10KG</cbc:Name>",
        b"<cbc:Name>&lt;script&gt;alert(1)&lt;/script&gt;</cbc:Name>",
    )
    return data.replace(b"<cbc:ID>12115118</cbc:ID>", b"<cbc:ID>HOSTILE-1</cbc:ID>", 1)


def many_lines_cii(count: int) -> bytes:
    """The CII sample with its one line repeated *count* times."""
    root = etree.fromstring(CII.read_bytes())
    ns = {"ram": root.nsmap["ram"], "rsm": root.nsmap["rsm"]}
    number = root.find("rsm:ExchangedDocument/ram:ID", ns)
    number.text = "MANY-LINES"
    item = root.find(".//ram:IncludedSupplyChainTradeLineItem", ns)
    parent = item.getparent()
    for i in range(2, count + 1):
        clone = copy.deepcopy(item)
        clone.find("ram:AssociatedDocumentLineDocument/ram:LineID", ns).text = f"L{i}"
        parent.insert(parent.index(item) + i - 1, clone)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@pytest.fixture
def fetched(web: Web, mailbox: Mailbox) -> dict[str, int]:
    files = {
        "xrechnung-cii.xml": CII.read_bytes(),
        "peppol-ubl.xml": UBL.read_bytes(),
        "ksef.xml": KSEF.read_bytes(),
        "hostile.xml": hostile_ubl(),
        "many.xml": many_lines_cii(1003),
        "scan.pdf": make_pdf("Invoice 9"),
    }
    for name, data in files.items():
        media = "application/pdf" if name.endswith(".pdf") else "application/xml"
        mailbox.append(
            "INBOX", make_mail(subject=name, attachments=[Attachment(name, data, media)])
        )
    web.imap_source("ap", mailbox, "ACME")
    runner.fetch(web.app, "ap")
    with web.app.db.session() as s:
        found = {d.filename: d.id for d in s.query(Document)}
    assert set(files) <= set(found), found
    return found


def rows(page: lxml.html.HtmlElement, table: str) -> list[list[str]]:
    return [
        [" ".join(c.text_content().split()) for c in tr.xpath("./td|./th")]
        for tr in page.xpath(f"//table[@id='{table}']/tbody/tr|//table[@id='{table}']/tr")
    ]


def view_of(web: Web, doc_id: int) -> tuple[lxml.html.HtmlElement, str]:
    b = web.browser("ap@x.test")
    r = b.get(f"/documents/{doc_id}")
    assert r.status_code == 200, r.text
    page = lxml.html.fromstring(r.text)
    assert page.xpath("//*[@id='einvoice-view']"), "the page shows no e-invoice view"
    return page, r.text


def pdf_text(data: bytes) -> str:
    return " ".join(
        " ".join((p.extract_text() or "").split()) for p in PdfReader(io.BytesIO(data)).pages
    )


def test_cii_xrechnung_shows_parties_lines_vat_totals_and_payment(
    web: Web, fetched: dict[str, int]
) -> None:
    web.user("ap@x.test", "clerk", ("ACME",))
    page, html = view_of(web, fetched["xrechnung-cii.xml"])
    item = f"//{ln('IncludedSupplyChainTradeLineItem')}"
    names = xpath(CII, f"{item}//{ln('SpecifiedTradeProduct')}/{ln('Name')}")
    nets = xpath(CII, f"{item}//{ln('LineTotalAmount')}")
    lines = rows(page, "ev-lines")
    assert [r[1].startswith(n) for r, n in zip(lines, names, strict=True)] == [True] * len(names)
    assert [r[5] for r in lines] == [f"{n} EUR" for n in nets]  # 11.78 EUR
    assert lines[0][2] == "1 XPP" and lines[0][3] == "11.78 EUR" and lines[0][4] == "7 % (S)"
    assert rows(page, "ev-taxes") == [["S", "7 %", "11.78 EUR", "0.82 EUR"]]
    totals = dict(rows(page, "ev-totals"))  # type: ignore[arg-type]
    assert totals["Total with VAT"] == "12.60 EUR" and totals["Amount due"] == "12.60 EUR"
    assert totals["VAT"] == "0.82 EUR"
    text = " ".join(page.text_content().split())
    for fact in ("[Seller name]", "DE123456789", "12345 [Seller city]", "[Buyer name]"):
        assert fact in text
    assert "DE79000000001234567890" in text and "SEPA credit transfer" in text
    assert "innerhalb von 14 Tagen" in text  # the payment terms
    assert f'href="/documents/{fetched["xrechnung-cii.xml"]}/view.pdf"' in html


def test_ubl_peppol_shows_every_line_and_the_vat_breakdown(
    web: Web, fetched: dict[str, int]
) -> None:
    web.user("ap@x.test", "clerk", ("ACME",))
    page, _ = view_of(web, fetched["peppol-ubl.xml"])
    line = f"//{ln('InvoiceLine')}"
    expected = list(
        zip(
            xpath(UBL, f"{line}/{ln('Item')}/{ln('Name')}"),
            xpath(UBL, f"{line}/{ln('LineExtensionAmount')}"),
            strict=True,
        )
    )
    shown = [(r[1], r[5]) for r in rows(page, "ev-lines")]
    assert len(expected) == 20
    assert shown == [(name, f"{net} EUR") for name, net in expected]
    subtotal = f"//{ln('TaxSubtotal')}"
    taxes = list(
        zip(
            xpath(UBL, f"{subtotal}/{ln('TaxCategory')}/{ln('Percent')}"),
            xpath(UBL, f"{subtotal}/{ln('TaxableAmount')}"),
            xpath(UBL, f"{subtotal}/{ln('TaxAmount')}"),
            strict=True,
        )
    )
    assert rows(page, "ev-taxes") == [
        ["S", f"{rate} %", f"{basis} EUR", f"{vat} EUR"] for rate, basis, vat in taxes
    ]
    totals = dict(rows(page, "ev-totals"))  # type: ignore[arg-type]
    assert totals["Total with VAT"] == "250.33 EUR" and totals["VAT"] == "20.73 EUR"
    text = " ".join(page.text_content().split())
    assert "NL57RABO0107307510" in text and "Deb. 10202 / Fact. 12115118" in text
    assert "NL8200.98.395.B.01" in text and "1950 AB Velsen-Noord" in text


def test_ksef_shows_lines_vat_and_totals_in_pln(web: Web, fetched: dict[str, int]) -> None:
    web.user("ap@x.test", "clerk", ("ACME",))
    page, _ = view_of(web, fetched["ksef.xml"])
    row = f"//{ln('FaWiersz')}"
    expected = list(
        zip(xpath(KSEF, f"{row}/{ln('P_7')}"), xpath(KSEF, f"{row}/{ln('P_11')}"), strict=True)
    )
    shown = [(r[1], r[5]) for r in rows(page, "ev-lines")]
    assert shown == [(name, f"{net}.00 PLN") for name, net in expected]  # 222.00 PLN, 555.00
    # P_13_1/P_14_1 hold "23 % or 22 %": the lines' P_12 says which (booking_ksef)
    assert rows(page, "ev-taxes") == [["S", "23 %", "777.00 PLN", "178.71 PLN"]]
    totals = dict(rows(page, "ev-totals"))  # type: ignore[arg-type]
    assert totals["Total with VAT"] == "955.71 PLN"
    assert "5451824119" in page.text_content()  # the seller's NIP


def test_a_script_in_an_item_name_is_text_and_lines_are_bounded(
    web: Web, fetched: dict[str, int]
) -> None:
    web.user("ap@x.test", "clerk", ("ACME",))
    page, html = view_of(web, fetched["hostile.xml"])
    assert SCRIPT not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert rows(page, "ev-lines")[0][1] == SCRIPT  # shown as the text it is
    assert not page.xpath("//main//script")

    page, _ = view_of(web, fetched["many.xml"])
    lines = rows(page, "ev-lines")
    assert len(lines) == 1001  # 1,000 lines and the note
    assert lines[-1] == ["… 3 more lines in the XML, not shown here."]
    assert lines[999][0] == "L1000"


def test_view_pdf_on_the_page_and_in_the_api(web: Web, fetched: dict[str, int]) -> None:
    web.user("ap@x.test", "clerk", ("ACME",))
    web.user("other@x.test", "clerk", ("Other GmbH",))
    b = web.browser("ap@x.test")
    cii = fetched["xrechnung-cii.xml"]
    r = b.get(f"/documents/{cii}/view.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"].startswith('attachment; filename="xrechnung-cii.pdf"')
    text = pdf_text(r.content)
    assert "123456" in text and "12.60 EUR" in text and "DE79000000001234567890" in text

    api = web.api("ap@x.test")
    r = api.get(f"/api/v1/documents/{fetched['ksef.xml']}/rendered.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = pdf_text(r.content)
    assert "5t4343trgfds" in text and "955.71 PLN" in text

    r = api.get(f"/api/v1/documents/{fetched['hostile.xml']}/rendered.pdf")
    assert SCRIPT in pdf_text(r.content)  # the name as text, nothing run or fetched

    # a PDF document has its own file; another company's e-invoice is not there
    assert api.get(f"/api/v1/documents/{fetched['scan.pdf']}/rendered.pdf").status_code == 404
    assert b.get(f"/documents/{fetched['scan.pdf']}/view.pdf").status_code == 404
    other = web.api("other@x.test")
    assert other.get(f"/api/v1/documents/{cii}/rendered.pdf").status_code == 404
    assert web.browser("other@x.test").get(f"/documents/{cii}/view.pdf").status_code == 404
