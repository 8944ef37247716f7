"""The booking core read from KSeF FA(2)/FA(3) invoices: lines, VAT breakdown with EN 16931
categories, totals, payment and references, as the corpus files hold them (read by hand)."""

from __future__ import annotations

import pytest

from corpus import CORPUS
from invoice_inbox.pipeline.einvoice import read_view, read_xml
from invoice_inbox.pipeline.einvoice.booking import (
    AllowanceCharge,
    InvoiceLine,
    ItemIds,
    Payment,
    PaymentAccount,
    PrecedingInvoice,
    VatBreakdown,
)
from invoice_inbox.pipeline.einvoice.booking_ksef import vat_category
from invoice_inbox.pipeline.einvoice.model import EInvoice

FA2 = "ksef-fop__fa2-podstawowa__FA_2_Przyklad_9.xml"
FA2_ADVANCE = "ksef-fop__fa2-zaliczkowa__FA_2_Przyklad_10.xml"
FA3 = "ksef-fop__fa3-podstawowa__FA_3_Przyklad_5.xml"
FA3_COMPLEX = "ksef-fop__fa3-podstawowa__FA_3_complex.xml"
FA3_MF = "cirfmf-ksef-pdf-generator__invoice.xml"


def read(name: str, *changes: tuple[bytes, bytes]) -> EInvoice:
    data = (CORPUS / name).read_bytes()
    for old, new in changes:
        assert data.count(old) == 1
        data = data.replace(old, new)
    invoice = read_xml(data)
    assert invoice is not None
    return invoice


def test_fa2_lines_vat_breakdown_totals_payment() -> None:
    invoice = read(FA2)
    assert invoice.lines == (
        InvoiceLine(
            id="1",
            name="rata leasingowa za 01/2022",
            quantity="1",
            unit="szt.",
            unit_price="2000",
            net_amount="2000",
            vat_category="S",
            vat_rate="23",
        ),
        InvoiceLine(
            id="2",
            name="pakiet ubezpieczeń za 01/2022",
            quantity="1",
            unit="szt.",
            unit_price="300",
            net_amount="300",
            vat_category="E",
            vat_rate="0",
        ),
    )
    assert invoice.vat_breakdown == (
        VatBreakdown(category="S", rate="23", basis="2000", tax="460"),
        VatBreakdown(
            category="E",
            rate="0",
            basis="300",
            tax="0",
            exemption_reason="art. 43 ust. 1 pkt 37 ustawy VAT",  # Zwolnienie/P_19A
        ),
    )
    assert (invoice.tax_basis_total, invoice.tax_total, invoice.total) == ("2300", "460", "2760")
    assert (invoice.amount_due, invoice.prepaid_amount) == ("2760", None)
    assert invoice.line_total is None  # KSeF has no BT-106: its checks are KSEF-P11..P15
    # NrRB 73111111111111111111111111 is a Polish NRB whose check digits make PL73… an IBAN
    account = PaymentAccount(
        iban="PL73111111111111111111111111",
        account_number="73111111111111111111111111",
        bank="Bank Bankowości Bankowej S. A.",
    )
    assert invoice.payment == Payment(
        means_code="30",
        means_text="Bank transfer",
        due_date="2022-03-15",
        iban="PL73111111111111111111111111",
        accounts=(account,),
    )
    assert invoice.buyer_reference == "fdfd778343"  # Podmiot2/NrKlienta
    assert invoice.seller_iban == "73111111111111111111111111"  # the header fact, as written
    assert invoice.problems == ()


def test_fa3_complex_categories_ids_discounts_references_and_paid() -> None:
    invoice = read(FA3_COMPLEX)
    assert [(x.id, x.vat_category, x.vat_rate) for x in invoice.lines] == [
        ("1", "S", "23"),
        ("2", "S", "8"),
        ("3", "S", "5"),
        ("4", "S", "4"),
        ("5", "E", "0"),  # zw
        ("6", "Z", "0"),  # 0 KR
    ]
    first, second = invoice.lines[:2]
    assert first.item_id == ItemIds(seller="PROD-001")  # Indeks
    assert first.allowances == (AllowanceCharge(amount="5.25", reason="Discount"),)  # P_10
    assert (first.unit_price, first.gross_price) == ("53.5993543", None)
    assert (second.unit_price, second.gross_price) == (None, "123.45678901")  # P_9B
    assert [(r.category, r.rate, r.basis, r.tax) for r in invoice.vat_breakdown] == [
        ("S", "23", "1000.00", "230.00"),
        ("S", "8", "500.00", "40.00"),
        ("S", "5", "2000.00", "100.00"),
        ("S", "4", "300.00", "12.00"),
        ("S", None, "150.00", None),  # OSS: P_14_5 not given
        ("Z", "0", "100.00", "0"),
        ("K", "0", "200.00", "0"),
        ("G", "0", "50.00", "0"),
        ("E", "0", "400.00", "0"),
        ("O", None, "250.00", "0"),
        ("AE", "0", "180.00", "0"),
        ("AE", "0", "320.00", "0"),
        ("E", "0", "500.00", "0"),
    ]
    assert (invoice.tax_basis_total, invoice.tax_total) == ("5950.00", "382.00")
    assert (invoice.order_reference, invoice.contract_reference) == ("ZAM/2025/123", "UM/2025/001")
    assert invoice.buyer_reference == "KLIENT-001"
    # Zaplacono 1: paid in full; the amount due stays what the invoice asks (P_15)
    assert (invoice.prepaid_amount, invoice.amount_due) == ("5962.00", "5962.00")
    assert invoice.payment is not None
    assert invoice.payment.terms == "15 days Data wystawienia faktury"
    assert invoice.payment.due_date == "2025-12-30"
    assert invoice.payment.accounts == (
        PaymentAccount(
            account_number="12345678901234567890123456",  # no valid NRB: not an IBAN
            bic="PKOPPLPW",
            bank="PKO Bank Polski",
        ),
    )


def test_fa3_ministry_sample_has_13_lines_that_add_up() -> None:
    invoice = read(FA3_MF)
    assert len(invoice.lines) == 13
    assert invoice.lines[1].quantity == "7" and invoice.lines[1].net_amount == "915.81"
    assert invoice.lines[0].name is not None and "\n" not in invoice.lines[0].name
    assert invoice.vat_breakdown == (
        VatBreakdown(category="S", rate="23", basis="27292.28", tax="6277.22"),
    )
    assert invoice.payment is not None
    assert (invoice.payment.means_code, invoice.payment.means_text) == ("68", "Mobile payment")
    assert invoice.problems == ()


def test_advance_invoice_has_no_invoice_lines_and_is_paid() -> None:
    invoice = read(FA2_ADVANCE)
    assert invoice.lines == ()  # Zamowienie/ZamowienieWiersz are the order's lines
    assert invoice.vat_breakdown == (
        VatBreakdown(category="S", rate="23", basis="16260.16", tax="3739.84"),
    )
    assert invoice.prepaid_amount == "20000"
    assert invoice.problems == ()


def test_correction_gives_the_corrected_invoice() -> None:
    corrected = (
        b"<DaneFaKorygowanej><DataWystFaKorygowanej>2026-02-01</DataWystFaKorygowanej>"
        b"<NrFaKorygowanej>5t4343trgfds</NrFaKorygowanej></DaneFaKorygowanej>"
    )
    invoice = read(
        FA3,
        (b"<RodzajFaktury>VAT</RodzajFaktury>", b"<RodzajFaktury>KOR</RodzajFaktury>" + corrected),
    )
    assert invoice.document_type == "credit_note"
    assert invoice.preceding_invoices == (
        PrecedingInvoice(number="5t4343trgfds", issue_date="2026-02-01"),
    )


def test_partial_payments_gtin_and_an_iban() -> None:
    invoice = read(
        FA3,
        (
            b"<Indeks>55</Indeks>\n            <P_8A>szt</P_8A>\n            <P_8B>1</P_8B>\n"
            b"            <P_9A>222</P_9A>",
            b"<Indeks>55</Indeks><GTIN>5901234123457</GTIN><P_8A>szt</P_8A><P_8B>1</P_8B>"
            b"<P_9A>222</P_9A>",
        ),
    )
    assert invoice.lines[0].item_id == ItemIds(
        seller="55", standard="5901234123457", standard_scheme="0160"
    )
    paid = read(
        FA3,
        (
            b"</FaWiersz>\n    </Fa>",
            b"</FaWiersz><Platnosc><ZnacznikZaplatyCzesciowej>1</ZnacznikZaplatyCzesciowej>"
            b"<ZaplataCzesciowa><KwotaZaplatyCzesciowej>100.50</KwotaZaplatyCzesciowej>"
            b"<DataZaplatyCzesciowej>2026-02-11</DataZaplatyCzesciowej></ZaplataCzesciowa>"
            b"<ZaplataCzesciowa><KwotaZaplatyCzesciowej>200</KwotaZaplatyCzesciowej>"
            b"<DataZaplatyCzesciowej>2026-02-12</DataZaplatyCzesciowej></ZaplataCzesciowa>"
            b"<FormaPlatnosci>1</FormaPlatnosci><RachunekBankowy><NrRB>PL61 1090 1014 0000 "
            b"0712 1981 2874</NrRB><SWIFT>WBKPPLPP</SWIFT></RachunekBankowy>"
            b"<IPKSeF>ABC123</IPKSeF></Platnosc></Fa>",
        ),
    )
    assert (paid.prepaid_amount, paid.amount_due) == ("300.50", "955.71")
    assert paid.payment == Payment(
        means_code="10",
        means_text="Cash",
        reference="ABC123",
        iban="PL61109010140000071219812874",
        bic="WBKPPLPP",
        accounts=(PaymentAccount(iban="PL61109010140000071219812874", bic="WBKPPLPP"),),
    )


def test_vat_in_pln_of_a_foreign_currency_invoice_is_not_the_tax_total() -> None:
    invoice = read(
        FA3,
        (b"<KodWaluty>PLN</KodWaluty>", b"<KodWaluty>EUR</KodWaluty>"),
        (
            b"<P_14_1>178.71</P_14_1>",
            b"<P_14_1>178.71</P_14_1><P_14_1W>770.00</P_14_1W>",
        ),
    )
    assert invoice.tax_total == "178.71"  # P_14_1W is the same VAT in PLN
    assert invoice.problems == ()  # P_15 = P_13_1 + P_14_1 in the invoice currency


def test_margin_scheme_kind_gives_its_vatex_code() -> None:
    data = (CORPUS / FA3).read_bytes()
    data = data.replace(b"<P_15>955.71</P_15>", b"<P_13_11>100</P_13_11><P_15>1055.71</P_15>")
    data = data.replace(
        b"<P_PMarzyN>1</P_PMarzyN>", b"<P_PMarzy>1</P_PMarzy><P_PMarzy_3_1>1</P_PMarzy_3_1>"
    )
    invoice = read_xml(data)
    assert invoice is not None
    assert invoice.vat_breakdown[-1] == VatBreakdown(
        category="E",
        rate="0",
        basis="100",
        tax="0",
        exemption_reason="Margin scheme: second-hand goods",
        exemption_reason_code="VATEX-EU-F",
    )
    # lines at 23 % only: the margin row has no lines (KSEF-P13); P_15 adds up
    assert [p.rule for p in invoice.problems] == ["KSEF-P13"]


def test_a_simplified_invoice_without_breakdown_is_not_flagged_for_its_lines() -> None:
    data = (CORPUS / FA3).read_bytes()
    for field in (b"<P_13_1>777</P_13_1>", b"<P_14_1>178.71</P_14_1>"):
        data = data.replace(field, b"")
    invoice = read_xml(data.replace(b">VAT</RodzajFaktury>", b">UPR</RodzajFaktury>"))
    assert invoice is not None and invoice.vat_breakdown == ()
    assert invoice.problems == ()  # no P_13/P_14 given: nothing to add up


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("23", ("S", "23")),
        ("22", ("S", "22")),
        ("0", ("Z", "0")),
        ("0 KR", ("Z", "0")),
        ("0 WDT", ("K", "0")),
        ("0 EX", ("G", "0")),
        ("zw", ("E", "0")),
        ("oo", ("AE", "0")),
        ("np", ("O", None)),
        ("np I", ("O", None)),
        ("np II", ("AE", "0")),
        ("", (None, None)),
        ("-5", (None, None)),
        ("abc", (None, None)),
    ],
)
def test_p12_rates_map_to_en16931_categories(
    written: str, expected: tuple[str | None, str | None]
) -> None:
    assert vat_category(written) == expected


def test_the_readable_view_shows_the_booking_fields() -> None:
    data = (CORPUS / FA2).read_bytes()
    summary = read_xml(data)
    view = read_view(data)
    assert view is not None and summary is not None
    assert [(line.name, line.net_amount) for line in view.lines] == [
        (line.name, line.net_amount) for line in summary.lines
    ]
    assert [(t.category, t.rate, t.basis, t.amount) for t in view.taxes] == [
        ("S", "23", "2000", "460"),
        ("E", "0", "300", "0"),
    ]
    assert dict(view.totals)["Total with VAT"] == "2760"
    assert view.accounts[0].iban == "PL73111111111111111111111111"
