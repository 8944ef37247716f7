"""The published JSON Schema of the ``einvoice`` object (web/static/schemas/einvoice-v1):
every corpus e-invoice's ``as_dict()`` validates against it, a fully filled invoice does too,
and it lists exactly the model's fields, at every level (a field added to the model and not
to the schema fails here)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from booking_schema import EINVOICES, SCHEMA, read_corpus_file, schema_errors

from invoice_inbox.pipeline.einvoice import EInvoice
from invoice_inbox.pipeline.einvoice import booking as b

# the schema's $defs that describe each nested type of the model
NESTED = {
    "item_ids": b.ItemIds,
    "allowance_charge": b.AllowanceCharge,
    "line": b.InvoiceLine,
    "vat_breakdown": b.VatBreakdown,
    "preceding_invoice": b.PrecedingInvoice,
    "payment_account": b.PaymentAccount,
    "payment": b.Payment,
    "problem": b.Problem,
}


def names(cls: Any) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def test_the_schema_lists_exactly_the_model_fields() -> None:
    assert set(SCHEMA["properties"]) == names(EInvoice) | {"schema_version"}
    assert set(SCHEMA["required"]) == set(SCHEMA["properties"])
    for name, cls in NESTED.items():
        assert set(SCHEMA["$defs"][name]["properties"]) == names(cls), name


def test_every_field_is_described_with_its_business_term() -> None:
    plain = {"format", "document_type", "schema_version", "lines_omitted", "problems"}
    plain |= {"rule", "message", "figures", "bank"}  # not EN 16931 terms
    groups = [SCHEMA["properties"]] + [SCHEMA["$defs"][n]["properties"] for n in NESTED]
    for properties in groups:
        for name, spec in properties.items():
            assert spec.get("description"), name
            if name not in plain:
                assert "BT-" in spec["description"] or "BG-" in spec["description"], name


def test_the_schema_is_versioned() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["$id"].endswith(f":v{b.SCHEMA_VERSION}")
    assert SCHEMA["properties"]["schema_version"] == {
        "const": b.SCHEMA_VERSION,
        "description": SCHEMA["properties"]["schema_version"]["description"],
    }


@pytest.mark.parametrize("name", EINVOICES)
def test_every_corpus_einvoice_validates(name: str) -> None:
    invoice = read_corpus_file(name)
    assert invoice is not None
    assert schema_errors(invoice.as_dict()) == []


def full_invoice() -> EInvoice:
    """An invoice with every booking field filled, as a reader would."""
    ids = b.ItemIds(seller="S-1", buyer="B-1", standard="4000862141404", standard_scheme="0160")
    discount = b.AllowanceCharge(amount="5.00", base_amount="50.00", percent="10", reason="promo")
    freight = b.AllowanceCharge(
        amount="10.00", reason_code="FC", reason="freight", vat_category="S", vat_rate="19"
    )
    line = b.InvoiceLine(
        id="1",
        name="Widget",
        description="blue",
        quantity="10",
        unit="C62",
        unit_price="5.00",
        price_base_quantity="1",
        gross_price="5.50",
        net_amount="45.00",
        vat_category="S",
        vat_rate="19.00",
        order_line_reference="7",
        item_id=ids,
        allowances=(discount,),
    )
    account = b.PaymentAccount(iban="DE02120300000000202051", bic="BYLADEM1001", name="W GmbH")
    return EInvoice(
        format="xrechnung-ubl",
        document_type="credit_note",
        type_code="381",
        number="CN-1",
        issue_date="2024-03-01",
        buyer_reference="04011000-12345-03",
        order_reference="PO-9",
        contract_reference="C-1",
        project_reference="P-1",
        preceding_invoices=(b.PrecedingInvoice(number="INV-1", issue_date="2024-02-01"),),
        lines=(line,),
        line_total="45.00",
        charge_total="10.00",
        tax_basis_total="55.00",
        tax_total="10.45",
        prepaid_amount="0",
        rounding_amount="-0.45",
        charges=(freight,),
        vat_breakdown=(b.VatBreakdown(category="S", rate="19", basis="55.00", tax="10.45"),),
        payment=b.Payment(
            means_code="58",
            terms="30 days",
            due_date="2024-03-31",
            reference="CN-1",
            iban=account.iban,
            bic=account.bic,
            accounts=(account,),
        ),
        problems=(b.Problem(rule="BR-CO-15", message="m", figures=(("total", "65.00"),)),),
    )


def test_a_fully_filled_invoice_validates() -> None:
    assert schema_errors(full_invoice().as_dict()) == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("tax_total",), 10.45),  # a float, never
        (("tax_total",), "1e999"),
        (("tax_total",), "NaN"),
        (("lines", 0, "quantity"), "1,5"),
        (("payment", "due_date"), "31.03.2024"),
        (("lines", 0, "colour"), "blue"),  # a field the schema does not know
        (("schema_version",), 2),
    ],
)
def test_the_schema_refuses(path: tuple[Any, ...], value: Any) -> None:
    document = full_invoice().as_dict()
    target = document
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    assert schema_errors(document)
