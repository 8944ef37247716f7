"""The booking core read from UBL 2.1 (issue 19): lines, VAT breakdown, totals, allowances and
charges, references and payment equal what the file holds. Expected values are copied from the
files themselves (the corpus ones under tests/corpus, and a full credit note written here)."""

from __future__ import annotations

from einvoice_lines import with_lines

from corpus import CORPUS
from invoice_inbox.pipeline.einvoice import EInvoice, read_xml
from invoice_inbox.pipeline.einvoice.booking import (
    MAX_BOOKING_LINES,
    AllowanceCharge,
    InvoiceLine,
    ItemIds,
    Payment,
    PaymentAccount,
    PrecedingInvoice,
    VatBreakdown,
)

CREDIT_NOTE = b"""<?xml version="1.0" encoding="UTF-8"?>
<CreditNote xmlns="urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
    xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
    xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
  <cbc:CustomizationID>urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0</cbc:CustomizationID>
  <cbc:ID>CN-77</cbc:ID>
  <cbc:IssueDate>2024-05-02</cbc:IssueDate>
  <cbc:CreditNoteTypeCode>381</cbc:CreditNoteTypeCode>
  <cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>
  <cbc:TaxCurrencyCode>SEK</cbc:TaxCurrencyCode>
  <cbc:BuyerReference> 991-01234-56 </cbc:BuyerReference>
  <cac:OrderReference><cbc:ID>PO-4711</cbc:ID></cac:OrderReference>
  <cac:BillingReference>
    <cac:InvoiceDocumentReference>
      <cbc:ID>INV-2024-031</cbc:ID><cbc:IssueDate>2024-04-15</cbc:IssueDate>
    </cac:InvoiceDocumentReference>
  </cac:BillingReference>
  <cac:BillingReference>
    <cac:InvoiceDocumentReference><cbc:ID>INV-2024-032</cbc:ID></cac:InvoiceDocumentReference>
  </cac:BillingReference>
  <cac:ContractDocumentReference><cbc:ID>FRAME-9</cbc:ID></cac:ContractDocumentReference>
  <cac:ProjectReference><cbc:ID>PRJ-12</cbc:ID></cac:ProjectReference>
  <cac:AccountingSupplierParty><cac:Party>
    <cac:PartyLegalEntity>
      <cbc:RegistrationName>Seller AB</cbc:RegistrationName>
    </cac:PartyLegalEntity>
  </cac:Party></cac:AccountingSupplierParty>
  <cac:PaymentMeans>
    <cbc:PaymentMeansCode name="SEPA direct debit">59</cbc:PaymentMeansCode>
    <cbc:PaymentID>RF18 5390 0754 7034</cbc:PaymentID>
    <cac:PayeeFinancialAccount>
      <cbc:ID>DE75 5121 0800 1245 1261 99</cbc:ID>
      <cbc:Name>Seller AB</cbc:Name>
      <cac:FinancialInstitutionBranch><cbc:ID>PBNKDEFF</cbc:ID></cac:FinancialInstitutionBranch>
    </cac:PayeeFinancialAccount>
    <cac:PaymentMandate><cbc:ID>MANDATE-3</cbc:ID></cac:PaymentMandate>
  </cac:PaymentMeans>
  <cac:PaymentMeans>
    <cbc:PaymentMeansCode>30</cbc:PaymentMeansCode>
    <cac:PayeeFinancialAccount><cbc:ID>12-3456-789</cbc:ID></cac:PayeeFinancialAccount>
  </cac:PaymentMeans>
  <cac:PaymentTerms><cbc:Note>Net 30 days</cbc:Note></cac:PaymentTerms>
  <cac:PaymentTerms><cbc:Note>2 % discount within 10 days</cbc:Note></cac:PaymentTerms>
  <cac:AllowanceCharge>
    <cbc:ChargeIndicator>false</cbc:ChargeIndicator>
    <cbc:AllowanceChargeReasonCode>95</cbc:AllowanceChargeReasonCode>
    <cbc:AllowanceChargeReason>Discount</cbc:AllowanceChargeReason>
    <cbc:MultiplierFactorNumeric>10</cbc:MultiplierFactorNumeric>
    <cbc:Amount currencyID="EUR">20.00</cbc:Amount>
    <cbc:BaseAmount currencyID="EUR">200.00</cbc:BaseAmount>
    <cac:TaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>25</cbc:Percent></cac:TaxCategory>
  </cac:AllowanceCharge>
  <cac:AllowanceCharge>
    <cbc:ChargeIndicator>true</cbc:ChargeIndicator>
    <cbc:AllowanceChargeReasonCode>FC</cbc:AllowanceChargeReasonCode>
    <cbc:AllowanceChargeReason>Freight</cbc:AllowanceChargeReason>
    <cbc:Amount currencyID="EUR">10.00</cbc:Amount>
    <cac:TaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>25</cbc:Percent></cac:TaxCategory>
  </cac:AllowanceCharge>
  <cac:TaxTotal>
    <cbc:TaxAmount currencyID="SEK">530.00</cbc:TaxAmount>
  </cac:TaxTotal>
  <cac:TaxTotal>
    <cbc:TaxAmount currencyID="EUR">47.50</cbc:TaxAmount>
    <cac:TaxSubtotal>
      <cbc:TaxableAmount currencyID="EUR">190.00</cbc:TaxableAmount>
      <cbc:TaxAmount currencyID="EUR">47.50</cbc:TaxAmount>
      <cac:TaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>25</cbc:Percent></cac:TaxCategory>
    </cac:TaxSubtotal>
    <cac:TaxSubtotal>
      <cbc:TaxableAmount currencyID="EUR">0.00</cbc:TaxableAmount>
      <cbc:TaxAmount currencyID="EUR">0.00</cbc:TaxAmount>
      <cac:TaxCategory>
        <cbc:ID>E</cbc:ID><cbc:Percent>0</cbc:Percent>
        <cbc:TaxExemptionReasonCode>VATEX-EU-132</cbc:TaxExemptionReasonCode>
        <cbc:TaxExemptionReason>Exempt: medical care</cbc:TaxExemptionReason>
      </cac:TaxCategory>
    </cac:TaxSubtotal>
  </cac:TaxTotal>
  <cac:LegalMonetaryTotal>
    <cbc:LineExtensionAmount currencyID="EUR">200.00</cbc:LineExtensionAmount>
    <cbc:TaxExclusiveAmount currencyID="EUR">190.00</cbc:TaxExclusiveAmount>
    <cbc:TaxInclusiveAmount currencyID="EUR">237.50</cbc:TaxInclusiveAmount>
    <cbc:AllowanceTotalAmount currencyID="EUR">20.00</cbc:AllowanceTotalAmount>
    <cbc:ChargeTotalAmount currencyID="EUR">10.00</cbc:ChargeTotalAmount>
    <cbc:PrepaidAmount currencyID="EUR">37.00</cbc:PrepaidAmount>
    <cbc:PayableRoundingAmount currencyID="EUR">-0.50</cbc:PayableRoundingAmount>
    <cbc:PayableAmount currencyID="EUR">200.00</cbc:PayableAmount>
  </cac:LegalMonetaryTotal>
  <cac:CreditNoteLine>
    <cbc:ID>10</cbc:ID>
    <cbc:CreditedQuantity unitCode="H87"> 4 </cbc:CreditedQuantity>
    <cbc:LineExtensionAmount currencyID="EUR">200.00</cbc:LineExtensionAmount>
    <cac:OrderLineReference><cbc:LineID>3</cbc:LineID></cac:OrderLineReference>
    <cac:AllowanceCharge>
      <cbc:ChargeIndicator>false</cbc:ChargeIndicator>
      <cbc:AllowanceChargeReason>Volume</cbc:AllowanceChargeReason>
      <cbc:Amount currencyID="EUR">8.00</cbc:Amount>
    </cac:AllowanceCharge>
    <cac:AllowanceCharge>
      <cbc:ChargeIndicator>true</cbc:ChargeIndicator>
      <cbc:AllowanceChargeReasonCode>ABK</cbc:AllowanceChargeReasonCode>
      <cbc:Amount currencyID="EUR">8.00</cbc:Amount>
    </cac:AllowanceCharge>
    <cac:Item>
      <cbc:Description>Chair, oak, returned</cbc:Description>
      <cbc:Name>Chair</cbc:Name>
      <cac:BuyersItemIdentification><cbc:ID>B-CH-1</cbc:ID></cac:BuyersItemIdentification>
      <cac:SellersItemIdentification><cbc:ID>S-CH-1</cbc:ID></cac:SellersItemIdentification>
      <cac:StandardItemIdentification>
        <cbc:ID schemeID="0160">4012345000009</cbc:ID>
      </cac:StandardItemIdentification>
      <cac:ClassifiedTaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>25</cbc:Percent></cac:ClassifiedTaxCategory>
    </cac:Item>
    <cac:Price>
      <cbc:PriceAmount currencyID="EUR">100.00</cbc:PriceAmount>
      <cbc:BaseQuantity unitCode="H87">2</cbc:BaseQuantity>
      <cac:AllowanceCharge>
        <cbc:ChargeIndicator>false</cbc:ChargeIndicator>
        <cbc:Amount currencyID="EUR">10.00</cbc:Amount>
        <cbc:BaseAmount currencyID="EUR">110.00</cbc:BaseAmount>
      </cac:AllowanceCharge>
    </cac:Price>
  </cac:CreditNoteLine>
</CreditNote>
"""


def _read(name: str) -> EInvoice:
    found = read_xml((CORPUS / name).read_bytes())
    assert found is not None
    return found


def test_a_credit_note_gives_every_booking_field_as_written() -> None:
    note = read_xml(CREDIT_NOTE)
    assert note is not None and note.document_type == "credit_note"
    assert (note.buyer_reference, note.order_reference) == ("991-01234-56", "PO-4711")
    assert (note.contract_reference, note.project_reference) == ("FRAME-9", "PRJ-12")
    assert note.preceding_invoices == (
        PrecedingInvoice(number="INV-2024-031", issue_date="2024-04-15"),
        PrecedingInvoice(number="INV-2024-032"),
    )
    assert note.lines == (
        InvoiceLine(
            id="10",
            name="Chair",
            description="Chair, oak, returned",
            quantity="4",
            unit="H87",
            unit_price="100.00",
            price_base_quantity="2",
            gross_price="110.00",
            net_amount="200.00",
            vat_category="S",
            vat_rate="25",
            order_line_reference="3",
            item_id=ItemIds(
                seller="S-CH-1", buyer="B-CH-1", standard="4012345000009", standard_scheme="0160"
            ),
            allowances=(AllowanceCharge(amount="8.00", reason="Volume"),),
            charges=(AllowanceCharge(amount="8.00", reason_code="ABK"),),
        ),
    )
    assert note.lines_omitted == 0
    totals = (note.line_total, note.allowance_total, note.charge_total, note.tax_basis_total)
    assert totals == ("200.00", "20.00", "10.00", "190.00")
    assert (note.tax_total, note.total, note.prepaid_amount) == ("47.50", "237.50", "37.00")
    assert (note.rounding_amount, note.amount_due) == ("-0.50", "200.00")
    assert note.allowances == (
        AllowanceCharge(
            amount="20.00",
            base_amount="200.00",
            percent="10",
            reason="Discount",
            reason_code="95",
            vat_category="S",
            vat_rate="25",
        ),
    )
    assert note.charges == (
        AllowanceCharge(
            amount="10.00", reason="Freight", reason_code="FC", vat_category="S", vat_rate="25"
        ),
    )
    assert note.vat_breakdown == (
        VatBreakdown(category="S", rate="25", basis="190.00", tax="47.50"),
        VatBreakdown(
            category="E",
            rate="0",
            basis="0.00",
            tax="0.00",
            exemption_reason="Exempt: medical care",
            exemption_reason_code="VATEX-EU-132",
        ),
    )
    assert note.payment == Payment(
        means_code="59",
        means_text="SEPA direct debit",
        terms="Net 30 days\n2 % discount within 10 days",
        reference="RF18 5390 0754 7034",
        iban="DE75512108001245126199",
        bic="PBNKDEFF",
        accounts=(
            PaymentAccount(iban="DE75512108001245126199", bic="PBNKDEFF", name="Seller AB"),
            PaymentAccount(account_number="12-3456-789"),
        ),
        mandate_reference="MANDATE-3",
    )


def test_the_tax_total_in_the_document_currency_is_bt_110_whatever_its_place() -> None:
    in_sek = (
        b"<cac:TaxTotal>\n"
        b'    <cbc:TaxAmount currencyID="SEK">530.00</cbc:TaxAmount>\n'
        b"  </cac:TaxTotal>\n"
    )
    assert in_sek in CREDIT_NOTE
    sek_last = CREDIT_NOTE.replace(in_sek, b"").replace(
        b"  <cac:LegalMonetaryTotal>", in_sek + b"  <cac:LegalMonetaryTotal>"
    )
    note = read_xml(CREDIT_NOTE)
    other = read_xml(sek_last)
    assert note is not None and other is not None
    assert note.tax_total == other.tax_total == "47.50"


def test_cen_example_1_lines_vat_and_payment() -> None:
    invoice = _read("cen-en16931__ubl-tc434-example1.xml")
    assert len(invoice.lines) == 20 and invoice.lines_omitted == 0
    assert invoice.lines[0] == InvoiceLine(
        id="1",
        name="PATAT FRITES 10MM 10KG",
        quantity="2",
        unit="EA",
        unit_price="9.95",
        net_amount="19.90",
        vat_category="S",
        vat_rate="6",
        item_id=ItemIds(seller="166022"),
    )
    last = invoice.lines[-1]
    assert (last.id, last.name, last.quantity, last.unit_price, last.net_amount) == (
        "20",
        "FRITUUR VET 10 KG RETOUR",
        "6",
        "18.33",
        "-109.98",
    )
    assert (invoice.line_total, invoice.tax_basis_total, invoice.tax_total) == (
        "229.60",
        "229.60",
        "20.73",
    )
    assert invoice.vat_breakdown == (
        VatBreakdown(category="S", rate="6", basis="183.23", tax="10.99"),
        VatBreakdown(category="S", rate="21", basis="46.37", tax="9.74"),
    )
    assert invoice.payment is not None
    assert invoice.payment.reference == "Deb. 10202 / Fact. 12115118"
    assert (invoice.payment.means_code, invoice.payment.due_date) == ("30", "2015-01-09")
    assert [a.iban for a in invoice.payment.accounts] == [
        "NL57RABO0107307510",
        "NL03INGB0004489902",
    ]
    assert invoice.buyer_reference is None and invoice.preceding_invoices == ()


def test_cen_example_9_contract_price_base_quantity_and_bic() -> None:
    invoice = _read("cen-en16931__ubl-tc434-example9.xml")
    assert invoice.contract_reference == "iExpress 20110412"
    (line,) = invoice.lines
    assert (line.quantity, line.unit, line.unit_price, line.price_base_quantity) == (
        "3",
        "MON",
        "49.00",
        "1",
    )
    assert invoice.payment is not None
    assert (invoice.payment.iban, invoice.payment.bic) == ("NL13RABO0377815500", "RABONL2U")
    assert invoice.payment.reference == "2015 0483 0000 0000"


def test_document_allowances_charges_and_an_exemption_reason() -> None:
    invoice = _read("cen-en16931__issue116.xml")
    assert invoice.buyer_reference == "Buyer reference"
    assert [(a.reason, a.amount, a.vat_category) for a in invoice.allowances] == [
        ("Discount2", "0", "S"),
        ("Discount1", "1", "E"),
    ]
    assert [(c.reason, c.amount, c.vat_rate) for c in invoice.charges] == [
        ("Standard charge", "1", "0"),
        ("Extra charge", "0", "0"),
    ]
    assert (invoice.allowance_total, invoice.charge_total) == ("1", "1")
    assert (invoice.prepaid_amount, invoice.rounding_amount) == ("0", "0")
    assert invoice.vat_breakdown[-1] == VatBreakdown(
        category="E", rate="0", basis="0", tax="0", exemption_reason="Skatteundantag"
    )
    assert len(invoice.lines) == 4


def test_xrechnung_ubl_with_a_leitweg_id() -> None:
    invoice = _read("xrechnung-testsuite__01.14a-INVOICE_ubl.xml")
    assert invoice.format == "xrechnung-ubl"
    assert (invoice.buyer_reference, invoice.order_reference) == ("90000000-03083-72", "65002278")
    assert [(line.id, line.quantity, line.net_amount) for line in invoice.lines] == [
        ("1", "33", "4743.75"),
        ("2", "42", "6037.5"),
    ]
    assert invoice.payment is not None
    assert (invoice.payment.means_code, invoice.payment.iban) == ("58", "DE79000000001234567890")


def test_peppol_pint_prepaid_with_a_preceding_invoice_and_a_non_iban_account() -> None:
    invoice = _read("phive-rules__pint-aunz__AU_GST_Only_-_Prepaid.xml")
    assert invoice.preceding_invoices == (
        PrecedingInvoice(number="8365848", issue_date="2019-10-27"),
    )
    assert (invoice.order_reference, invoice.buyer_reference) == (
        "PurchaseOrderReference",
        "Your reference 123",
    )
    assert (invoice.prepaid_amount, invoice.amount_due, invoice.charge_total) == (
        "68.29",
        "6.83",
        "0.00",
    )
    (line,) = invoice.lines
    assert (line.order_line_reference, line.unit, line.description) == ("13D31AV", "1I", "Product")
    assert invoice.payment == Payment(
        means_code="30",
        means_text="Credit transfer",
        due_date="2019-11-30",
        reference="PaymentReferenceText",
        bic="BSB Number",
        accounts=(
            PaymentAccount(account_number="AccountNumber", bic="BSB Number", name="AccountName"),
        ),
    )


def test_an_order_gets_no_booking_fields() -> None:
    from einvoice_samples import UBL_ORDER

    order = read_xml(UBL_ORDER)
    assert order is not None and order.document_type == "other"
    assert order.lines == () and order.payment is None and order.vat_breakdown == ()


def test_lines_beyond_the_bound_are_counted_not_kept() -> None:
    data = with_lines((CORPUS / "cen-en16931__ubl-tc434-example9.xml").read_bytes(), 500)
    invoice = read_xml(data)
    assert invoice is not None and len(invoice.lines) == 500
    assert [line.id for line in invoice.lines[:3]] == ["1", "2", "3"]
    many = read_xml(with_lines(data, MAX_BOOKING_LINES + 2))
    assert many is not None
    assert (len(many.lines), many.lines_omitted) == (MAX_BOOKING_LINES, 2)
