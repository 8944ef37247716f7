"""The booking core read from UN/CEFACT CII D16B (Factur-X/ZUGFeRD 2.x in every profile, also
inside PDFs; XRechnung CII) and ZUGFeRD 1.0 (issue 19): lines, VAT breakdown, totals, allowances
and charges, references and payment equal what the file holds. Expected values are copied from the
files themselves (tests/corpus, and a credit note written here)."""

from __future__ import annotations

from einvoice_lines import with_lines
from einvoice_samples import ORDER_X, cii_invoice

from corpus import CORPUS
from invoice_inbox.pipeline.einvoice import EInvoice, read_pdf, read_xml
from invoice_inbox.pipeline.einvoice.booking import (
    AllowanceCharge,
    InvoiceLine,
    ItemIds,
    Payment,
    PaymentAccount,
    PrecedingInvoice,
    VatBreakdown,
)

_RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
CREDIT_NOTE = f"""<?xml version="1.0" encoding="UTF-8"?>
<rsm:CrossIndustryInvoice
    xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
    xmlns:qdt="urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
    xmlns:ram="{_RAM}"
    xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100">
  <rsm:ExchangedDocumentContext>
    <ram:GuidelineSpecifiedDocumentContextParameter>
      <ram:ID>urn:cen.eu:en16931:2017</ram:ID>
    </ram:GuidelineSpecifiedDocumentContextParameter>
  </rsm:ExchangedDocumentContext>
  <rsm:ExchangedDocument>
    <ram:ID>GS-9</ram:ID><ram:TypeCode>381</ram:TypeCode>
    <ram:IssueDateTime>
      <udt:DateTimeString format="102">20240510</udt:DateTimeString>
    </ram:IssueDateTime>
  </rsm:ExchangedDocument>
  <rsm:SupplyChainTradeTransaction>
    <ram:IncludedSupplyChainTradeLineItem>
      <ram:AssociatedDocumentLineDocument><ram:LineID>A1</ram:LineID></ram:AssociatedDocumentLineDocument>
      <ram:SpecifiedTradeProduct>
        <ram:GlobalID schemeID="0160">4000001000005</ram:GlobalID>
        <ram:SellerAssignedID>S-77</ram:SellerAssignedID>
        <ram:BuyerAssignedID>B-77</ram:BuyerAssignedID>
        <ram:Name>Desk lamp</ram:Name>
        <ram:Description>Returned, damaged</ram:Description>
      </ram:SpecifiedTradeProduct>
      <ram:SpecifiedLineTradeAgreement>
        <ram:BuyerOrderReferencedDocument><ram:LineID>7</ram:LineID></ram:BuyerOrderReferencedDocument>
        <ram:GrossPriceProductTradePrice><ram:ChargeAmount>25.00</ram:ChargeAmount></ram:GrossPriceProductTradePrice>
        <ram:NetPriceProductTradePrice>
          <ram:ChargeAmount>20.00</ram:ChargeAmount>
          <ram:BasisQuantity unitCode="C62">1</ram:BasisQuantity>
        </ram:NetPriceProductTradePrice>
      </ram:SpecifiedLineTradeAgreement>
      <ram:SpecifiedLineTradeDelivery>
        <ram:BilledQuantity unitCode="C62">2</ram:BilledQuantity>
      </ram:SpecifiedLineTradeDelivery>
      <ram:SpecifiedLineTradeSettlement>
        <ram:ApplicableTradeTax>
          <ram:TypeCode>VAT</ram:TypeCode><ram:CategoryCode>S</ram:CategoryCode>
          <ram:RateApplicablePercent>19</ram:RateApplicablePercent>
        </ram:ApplicableTradeTax>
        <ram:SpecifiedTradeAllowanceCharge>
          <ram:ChargeIndicator><udt:Indicator>false</udt:Indicator></ram:ChargeIndicator>
          <ram:CalculationPercent>10</ram:CalculationPercent>
          <ram:BasisAmount>40.00</ram:BasisAmount>
          <ram:ActualAmount>4.00</ram:ActualAmount>
          <ram:ReasonCode>95</ram:ReasonCode>
        </ram:SpecifiedTradeAllowanceCharge>
        <ram:SpecifiedTradeSettlementLineMonetarySummation>
          <ram:LineTotalAmount>36.00</ram:LineTotalAmount>
        </ram:SpecifiedTradeSettlementLineMonetarySummation>
      </ram:SpecifiedLineTradeSettlement>
    </ram:IncludedSupplyChainTradeLineItem>
    <ram:ApplicableHeaderTradeAgreement>
      <ram:BuyerReference>04011000-12345-34</ram:BuyerReference>
      <ram:SellerTradeParty><ram:Name>Lampen GmbH</ram:Name></ram:SellerTradeParty>
      <ram:BuyerTradeParty><ram:Name>Amt</ram:Name></ram:BuyerTradeParty>
      <ram:BuyerOrderReferencedDocument>
        <ram:IssuerAssignedID>PO-88</ram:IssuerAssignedID>
      </ram:BuyerOrderReferencedDocument>
      <ram:ContractReferencedDocument>
        <ram:IssuerAssignedID>K-2024-1</ram:IssuerAssignedID>
      </ram:ContractReferencedDocument>
      <ram:SpecifiedProcuringProject><ram:ID>P-5</ram:ID><ram:Name>Lights</ram:Name></ram:SpecifiedProcuringProject>
    </ram:ApplicableHeaderTradeAgreement>
    <ram:ApplicableHeaderTradeSettlement>
      <ram:PaymentReference>GS-9 / 4711</ram:PaymentReference>
      <ram:TaxCurrencyCode>CHF</ram:TaxCurrencyCode>
      <ram:InvoiceCurrencyCode>EUR</ram:InvoiceCurrencyCode>
      <ram:SpecifiedTradeSettlementPaymentMeans>
        <ram:TypeCode>58</ram:TypeCode>
        <ram:Information>SEPA</ram:Information>
        <ram:PayeePartyCreditorFinancialAccount>
          <ram:IBANID>DE02 1203 0000 0000 2020 51</ram:IBANID>
          <ram:AccountName>Lampen GmbH</ram:AccountName>
        </ram:PayeePartyCreditorFinancialAccount>
        <ram:PayeeSpecifiedCreditorFinancialInstitution>
          <ram:BICID>BYLADEM1001</ram:BICID>
        </ram:PayeeSpecifiedCreditorFinancialInstitution>
      </ram:SpecifiedTradeSettlementPaymentMeans>
      <ram:ApplicableTradeTax>
        <ram:CalculatedAmount>6.46</ram:CalculatedAmount>
        <ram:TypeCode>VAT</ram:TypeCode>
        <ram:BasisAmount>34.00</ram:BasisAmount>
        <ram:CategoryCode>S</ram:CategoryCode>
        <ram:RateApplicablePercent>19</ram:RateApplicablePercent>
      </ram:ApplicableTradeTax>
      <ram:SpecifiedTradeAllowanceCharge>
        <ram:ChargeIndicator><udt:Indicator>false</udt:Indicator></ram:ChargeIndicator>
        <ram:ActualAmount>5.00</ram:ActualAmount>
        <ram:Reason>Goodwill</ram:Reason>
        <ram:CategoryTradeTax>
          <ram:TypeCode>VAT</ram:TypeCode><ram:CategoryCode>S</ram:CategoryCode>
          <ram:RateApplicablePercent>19</ram:RateApplicablePercent>
        </ram:CategoryTradeTax>
      </ram:SpecifiedTradeAllowanceCharge>
      <ram:SpecifiedTradeAllowanceCharge>
        <ram:ChargeIndicator><udt:Indicator>true</udt:Indicator></ram:ChargeIndicator>
        <ram:ActualAmount>3.00</ram:ActualAmount>
        <ram:ReasonCode>ABL</ram:ReasonCode>
        <ram:CategoryTradeTax>
          <ram:TypeCode>VAT</ram:TypeCode><ram:CategoryCode>S</ram:CategoryCode>
          <ram:RateApplicablePercent>19</ram:RateApplicablePercent>
        </ram:CategoryTradeTax>
      </ram:SpecifiedTradeAllowanceCharge>
      <ram:SpecifiedTradePaymentTerms>
        <ram:Description>Refund within 14 days</ram:Description>
        <ram:DueDateDateTime>
          <udt:DateTimeString format="102">20240524</udt:DateTimeString>
        </ram:DueDateDateTime>
      </ram:SpecifiedTradePaymentTerms>
      <ram:SpecifiedTradeSettlementHeaderMonetarySummation>
        <ram:LineTotalAmount>36.00</ram:LineTotalAmount>
        <ram:ChargeTotalAmount>3.00</ram:ChargeTotalAmount>
        <ram:AllowanceTotalAmount>5.00</ram:AllowanceTotalAmount>
        <ram:TaxBasisTotalAmount>34.00</ram:TaxBasisTotalAmount>
        <ram:TaxTotalAmount currencyID="CHF">6.20</ram:TaxTotalAmount>
        <ram:TaxTotalAmount currencyID="EUR">6.46</ram:TaxTotalAmount>
        <ram:GrandTotalAmount>40.46</ram:GrandTotalAmount>
        <ram:TotalPrepaidAmount>0.00</ram:TotalPrepaidAmount>
        <ram:RoundingAmount>0.04</ram:RoundingAmount>
        <ram:DuePayableAmount>40.50</ram:DuePayableAmount>
      </ram:SpecifiedTradeSettlementHeaderMonetarySummation>
      <ram:InvoiceReferencedDocument>
        <ram:IssuerAssignedID>RE-2024-100</ram:IssuerAssignedID>
        <ram:FormattedIssueDateTime>
          <qdt:DateTimeString format="102">20240402</qdt:DateTimeString>
        </ram:FormattedIssueDateTime>
      </ram:InvoiceReferencedDocument>
    </ram:ApplicableHeaderTradeSettlement>
  </rsm:SupplyChainTradeTransaction>
</rsm:CrossIndustryInvoice>
""".encode()


def _xml(name: str) -> EInvoice:
    found = read_xml((CORPUS / name).read_bytes())
    assert found is not None
    return found


def _pdf(name: str) -> EInvoice:
    found = read_pdf((CORPUS / name).read_bytes())
    assert found is not None
    return found


def test_a_cii_credit_note_gives_every_booking_field_as_written() -> None:
    note = read_xml(CREDIT_NOTE)
    assert note is not None and note.document_type == "credit_note"
    assert (note.buyer_reference, note.order_reference) == ("04011000-12345-34", "PO-88")
    assert (note.contract_reference, note.project_reference) == ("K-2024-1", "P-5")
    assert note.preceding_invoices == (
        PrecedingInvoice(number="RE-2024-100", issue_date="2024-04-02"),
    )
    assert note.lines == (
        InvoiceLine(
            id="A1",
            name="Desk lamp",
            description="Returned, damaged",
            quantity="2",
            unit="C62",
            unit_price="20.00",
            price_base_quantity="1",
            gross_price="25.00",
            net_amount="36.00",
            vat_category="S",
            vat_rate="19",
            order_line_reference="7",
            item_id=ItemIds(
                seller="S-77", buyer="B-77", standard="4000001000005", standard_scheme="0160"
            ),
            allowances=(
                AllowanceCharge(amount="4.00", base_amount="40.00", percent="10", reason_code="95"),
            ),
        ),
    )
    totals = (note.line_total, note.allowance_total, note.charge_total, note.tax_basis_total)
    assert totals == ("36.00", "5.00", "3.00", "34.00")
    assert (note.tax_total, note.total, note.prepaid_amount) == ("6.46", "40.46", "0.00")
    assert (note.rounding_amount, note.amount_due) == ("0.04", "40.50")
    assert note.allowances == (
        AllowanceCharge(amount="5.00", reason="Goodwill", vat_category="S", vat_rate="19"),
    )
    assert note.charges == (
        AllowanceCharge(amount="3.00", reason_code="ABL", vat_category="S", vat_rate="19"),
    )
    assert note.vat_breakdown == (VatBreakdown(category="S", rate="19", basis="34.00", tax="6.46"),)
    assert note.payment == Payment(
        means_code="58",
        means_text="SEPA",
        terms="Refund within 14 days",
        due_date="2024-05-24",
        reference="GS-9 / 4711",
        iban="DE02120300000000202051",
        bic="BYLADEM1001",
        accounts=(
            PaymentAccount(iban="DE02120300000000202051", bic="BYLADEM1001", name="Lampen GmbH"),
        ),
    )


def test_the_tax_total_in_the_invoice_currency_is_bt_110() -> None:
    invoice = read_xml(cii_invoice())  # CHF 9.10 first, then EUR 9.50
    assert invoice is not None and invoice.tax_total == "9.50"


def test_cen_example_8_lines_and_two_payment_accounts() -> None:
    invoice = _xml("cen-en16931__CII_example8.xml")
    assert len(invoice.lines) == 10
    assert invoice.lines[0] == InvoiceLine(
        id="1",
        name="Getransporteerde kWh’s",
        quantity="16000",
        unit="KWH",
        unit_price="0.00880",
        price_base_quantity="0.00880",  # as the file has it
        net_amount="140.80",
        vat_category="S",
        vat_rate="21",
    )
    assert (invoice.line_total, invoice.tax_basis_total, invoice.tax_total) == (
        "908.91",
        "908.91",
        "190.87",
    )
    assert invoice.vat_breakdown == (
        VatBreakdown(category="S", rate="21", basis="908.91", tax="190.87"),
    )
    assert invoice.payment is not None
    assert invoice.payment.reference == "1100512149"
    assert [a.iban for a in invoice.payment.accounts] == ["NL28RBOS0420242228"] * 2
    assert invoice.payment.terms is not None
    assert invoice.payment.terms.startswith("Enexis brengt wettelijke rente")


def test_allowances_charges_exemption_code_and_mandate() -> None:
    invoice = _xml("horstoeko-zugferd__xml_en16931_3.xml")
    assert (invoice.buyer_reference, invoice.order_reference, invoice.contract_reference) == (
        "SERVEXEC",
        "PO201925478",
        "CT2018120802",
    )
    assert invoice.allowances == (
        AllowanceCharge(
            amount="5.00",
            base_amount="100.00",
            percent="5.00",
            reason="REMISE COMMERCIALE",
            reason_code="95",
            vat_category="S",
            vat_rate="20.00",
        ),
    )
    assert invoice.charges == (
        AllowanceCharge(
            amount="10.00",
            base_amount="100.00",
            percent="10.00",
            reason="FRAIS DEPLACEMENT",
            reason_code="FC",
            vat_category="S",
            vat_rate="20.00",
        ),
    )
    assert invoice.vat_breakdown[1] == VatBreakdown(
        category="E",
        rate="0.00",
        basis="60.00",
        tax="0.00",
        exemption_reason="VAT EXEMP",
        exemption_reason_code="vatex-eu-d",
    )
    first = invoice.lines[0]
    assert (first.order_line_reference, first.price_base_quantity) == ("1", "1.0000")
    assert first.item_id == ItemIds(standard="598785412598745", standard_scheme="0088")
    assert [a.reason_code for a in first.allowances] == ["71", "71", "71", "100"]
    assert [(c.amount, c.reason_code, c.reason) for c in first.charges] == [
        ("1.00", "ADL", None),
        ("1.00", None, "FRAIS PALETTE"),
        ("1.00", "ADL", None),
        ("1.00", "ADL", None),
    ]
    assert invoice.payment is not None
    assert invoice.payment.mandate_reference == "MANDATE PT"
    assert invoice.payment.accounts == (
        PaymentAccount(iban="FR7612542547256985425874698", account_number="LOC BANK ACCOUNT"),
    )
    assert (invoice.payment.due_date, invoice.payment.reference) == (
        "2020-02-15",
        "F20180023BUYER",
    )


def test_extended_xml_references_and_item_ids() -> None:
    invoice = _xml("phive-rules__zugferd-2.5.2-extended__factur-x-22.xml")
    assert invoice.profile == "EXTENDED"
    refs = (invoice.buyer_reference, invoice.order_reference)
    assert refs == ("Kundenref. BT-10", "BT-13")
    assert (invoice.contract_reference, invoice.project_reference) == (
        "Vertragsnr. BT-12",
        "Projektnr. BT-11",
    )
    # the DETAIL sub-lines (0101, 0102, 0201, 0202) are in their GROUP lines' amounts
    assert [(line.id, line.net_amount) for line in invoice.lines] == [
        ("01", "1050.00"),
        ("02", "450.00"),
    ]
    assert invoice.lines[0].item_id == ItemIds(
        seller="345678912", buyer="765432198", standard="6666656349852", standard_scheme="0160"
    )
    assert invoice.problems == ()
    assert invoice.payment is not None
    assert invoice.payment.terms == (
        "Bei Zahlung bis zum 06.06.2026 zahlen Sie mit 2,00 % Skonto € 1749,30 €\n"
        "Bis zum zum 13.06.2026 ohne Abzug"
    )


def test_facturx_en16931_pdf() -> None:
    invoice = _pdf("zugferd-corpus__EN16931_Einfach.pdf")
    assert [(line.id, line.name, line.quantity, line.unit_price) for line in invoice.lines] == [
        ("1", "Trennblätter A4", "20.0000", "9.9000"),
        ("2", "Joghurt Banane", "50.0000", "5.5000"),
    ]
    assert invoice.lines[0].item_id == ItemIds(
        seller="TB100A4", standard="4012345001235", standard_scheme="0160"
    )
    assert (invoice.line_total, invoice.allowance_total, invoice.charge_total) == (
        "473.00",
        "0.00",
        "0.00",
    )
    assert [(v.rate, v.basis, v.tax) for v in invoice.vat_breakdown] == [
        ("7.00", "275.00", "19.25"),
        ("19.00", "198.00", "37.62"),
    ]


def test_facturx_extended_pdf_gross_price_and_document_allowance_and_charge() -> None:
    invoice = _pdf("horstoeko-zugferd__pdf_zf_extended_1.pdf")
    assert len(invoice.lines) == 5
    third = invoice.lines[2]
    assert (third.gross_price, third.unit_price, third.unit, third.net_amount) == (
        "15.0000",
        "10.5000",
        "HUR",
        "288.75",
    )
    assert invoice.allowances == (
        AllowanceCharge(
            amount="21.55",
            base_amount="410.10",
            reason="Sonderrabatt",
            vat_category="S",
            vat_rate="19.00",
        ),
    )
    assert [(c.amount, c.reason) for c in invoice.charges] == [
        ("15.00", "Transportkosten: Frachbetrag")
    ]
    assert (invoice.line_total, invoice.tax_basis_total, invoice.tax_total) == (
        "410.10",
        "403.55",
        "76.67",
    )


def test_facturx_basic_has_lines_and_basic_wl_has_none() -> None:
    basic = _pdf("zugferd-corpus__Facture_FR_BASIC.pdf")
    wl = _pdf("zugferd-corpus__Facture_FR_BASICWL.pdf")
    assert (basic.profile, wl.profile) == ("BASIC", "BASIC WL")
    assert [line.net_amount for line in basic.lines] == ["81.90", "48.00", "495.00"]
    assert wl.lines == () and wl.lines_omitted == 0
    for invoice in (basic, wl):
        assert (invoice.order_reference, invoice.contract_reference) == ("PO445", "MSPE2017")
        assert [(v.rate, v.basis, v.tax) for v in invoice.vat_breakdown] == [
            ("20.00", "81.90", "16.38"),
            ("5.50", "543.00", "29.87"),
        ]
    assert (wl.line_total, wl.tax_basis_total, wl.tax_total) == ("624.90", "624.90", "46.25")
    assert (wl.prepaid_amount, wl.amount_due) == ("201.00", "470.15")
    assert wl.payment == Payment(
        means_code="30",
        due_date="2017-12-13",
        reference="FA-2017-0010",
        iban="FR2012421242124212421242124",
        accounts=(PaymentAccount(iban="FR2012421242124212421242124"),),
    )


def test_facturx_minimum_reads_the_header_facts_it_has() -> None:
    invoice = _pdf("horstoeko-zugferd__pdf_fx_minimum_1.pdf")
    assert invoice.profile == "MINIMUM" and invoice.lines == ()
    assert (invoice.buyer_reference, invoice.order_reference) == ("SERVEXEC", "PO201925478")
    assert (invoice.tax_basis_total, invoice.tax_total, invoice.amount_due) == (
        "100.00",
        "10.00",
        "100.00",
    )
    assert invoice.line_total is None and invoice.vat_breakdown == () and invoice.payment is None


def test_xrechnung_cii_in_a_pdf_with_a_leitweg_id() -> None:
    invoice = _pdf("zugferd-corpus__XRECHNUNG_Einfach.pdf")
    assert invoice.buyer_reference == "04011000-12345-34"
    assert invoice.payment is not None
    assert (invoice.payment.means_code, invoice.payment.iban, invoice.payment.bic) == (
        "58",
        "DE02120300000000202051",
        "BYLADEM1001",
    )


def test_zugferd_1_under_its_older_names() -> None:
    invoice = _pdf("zugferd-corpus__ZUGFeRD_1p0_COMFORT_Einfach.pdf")
    assert invoice.format == "zugferd" and invoice.profile == "COMFORT"
    assert invoice.lines == (
        InvoiceLine(
            id="1",
            name="Trennblätter A4",
            quantity="20.0000",
            unit="C62",
            unit_price="9.9000",
            gross_price="9.9000",
            net_amount="198.00",
            vat_category="S",
            vat_rate="19.00",
            item_id=ItemIds(seller="TB100A4", standard="4012345001235", standard_scheme="0160"),
        ),
        InvoiceLine(
            id="2",
            name="Joghurt Banane",
            quantity="50.0000",
            unit="C62",
            unit_price="5.5000",
            gross_price="5.5000",
            net_amount="275.00",
            vat_category="S",
            vat_rate="7.00",
            item_id=ItemIds(seller="ARNR2", standard="4000050986428", standard_scheme="0160"),
        ),
    )
    totals = (invoice.line_total, invoice.charge_total, invoice.allowance_total)
    assert totals == ("473.00", "0.00", "0.00")
    assert (invoice.tax_basis_total, invoice.tax_total, invoice.prepaid_amount) == (
        "473.00",
        "56.87",
        "0.00",
    )
    assert invoice.vat_breakdown == (
        VatBreakdown(category="S", rate="7.00", basis="275.00", tax="19.25"),
        VatBreakdown(category="S", rate="19.00", basis="198.00", tax="37.62"),
    )
    assert invoice.payment == Payment(
        means_code="31",
        means_text="Überweisung",
        terms=(
            "Zahlbar innerhalb 30 Tagen netto bis 04.04.2013, "
            "3% Skonto innerhalb 10 Tagen bis 15.03.2013"
        ),
        due_date="2013-04-04",
        reference="2013-471102",
        iban="DE08700901001234567890",
        bic="GENODEF1M04",
        accounts=(PaymentAccount(iban="DE08700901001234567890", bic="GENODEF1M04"),),
    )


def test_zugferd_1_xml_logistics_charge_and_references() -> None:
    data = (CORPUS / "akretion-facturx__zugferd-comfort.xml").read_bytes()
    extra = (
        b"<ram:BuyerReference>BR-1</ram:BuyerReference>"
        b"<ram:BuyerOrderReferencedDocument><ram:ID>PO-1</ram:ID>"
        b"</ram:BuyerOrderReferencedDocument>"
    )
    charge = (
        b"<ram:SpecifiedLogisticsServiceCharge><ram:Description>Versand</ram:Description>"
        b'<ram:AppliedAmount currencyID="EUR">5.00</ram:AppliedAmount><ram:AppliedTradeTax>'
        b"<ram:TypeCode>VAT</ram:TypeCode><ram:CategoryCode>S</ram:CategoryCode>"
        b"<ram:ApplicablePercent>19.00</ram:ApplicablePercent></ram:AppliedTradeTax>"
        b"</ram:SpecifiedLogisticsServiceCharge>"
    )
    tag = b"<ram:ApplicableSupplyChainTradeAgreement>"
    terms = b"<ram:SpecifiedTradePaymentTerms>"
    assert tag in data and terms in data
    data = data.replace(tag, tag + extra, 1).replace(terms, charge + terms, 1)
    invoice = read_xml(data)
    assert invoice is not None and invoice.format == "zugferd"
    assert (invoice.buyer_reference, invoice.order_reference) == ("BR-1", "PO-1")
    assert invoice.charges == (
        AllowanceCharge(amount="5.00", reason="Versand", vat_category="S", vat_rate="19.00"),
    )


def test_order_x_gets_no_booking_fields() -> None:
    order = read_xml(ORDER_X)
    assert order is not None and order.document_type == "other"
    assert order.lines == () and order.payment is None and order.tax_total is None


def test_a_500_line_cii_invoice_keeps_every_line() -> None:
    data = with_lines((CORPUS / "horstoeko-zugferd__xml_en16931_3.xml").read_bytes(), 500)
    invoice = read_xml(data)
    assert invoice is not None and len(invoice.lines) == 500
    assert invoice.lines[499].id == "500" and invoice.lines[499].net_amount == "60.00"
