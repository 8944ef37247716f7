"""The ``einvoice`` object's JSON Schema is published with the API docs (a stable, versioned
URL, linked from ``/docs`` and the OpenAPI description), the OpenAPI ``EInvoiceOut`` lists the
same fields with the same descriptions, and a document stored before the booking core (its
JSON lacks the new fields) is answered in the schema's shape, its new fields empty."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select

from invoice_inbox.store import sources
from invoice_inbox.store.models import Document, Message
from web.conftest import Web

sys.path.insert(0, str(Path(__file__).parents[1] / "pipeline"))
from booking_schema import SCHEMA, SCHEMA_FILE, schema_errors

URL = "/api/v1/schemas/einvoice-v1.json"
# the OpenAPI component of each of the schema's $defs
COMPONENTS = {
    "item_ids": "ItemIdsOut",
    "allowance_charge": "AllowanceChargeOut",
    "line": "InvoiceLineOut",
    "vat_breakdown": "VatBreakdownOut",
    "preceding_invoice": "PrecedingInvoiceOut",
    "payment_account": "PaymentAccountOut",
    "payment": "PaymentOut",
    "problem": "ProblemOut",
}


def test_the_schema_is_served_at_its_versioned_url_without_sign_in(web: Web) -> None:
    r = web.client().get(URL)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/schema+json")
    assert r.json() == json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    for wrong in ("einvoice-v9", "..%2Fstyle", "einvoice-v1.schema"):
        assert web.client().get(f"/api/v1/schemas/{wrong}.json").status_code == 404, wrong


def test_the_api_docs_and_the_openapi_description_link_it(web: Web) -> None:
    client = web.client()
    assert f'href="{URL}"' in client.get("/docs").text
    openapi = client.get("/openapi.json").json()
    assert URL in openapi["info"]["description"]
    document = openapi["components"]["schemas"]["DocumentOut"]["properties"]["einvoice"]
    assert URL in document["description"]


def test_openapi_einvoice_has_the_schema_fields_and_descriptions(web: Web) -> None:
    components = web.client().get("/openapi.json").json()["components"]["schemas"]
    pairs = [(SCHEMA, "EInvoiceOut")] + [(SCHEMA["$defs"][k], v) for k, v in COMPONENTS.items()]
    for spec, name in pairs:
        properties = components[name]["properties"]
        assert set(properties) == set(spec["properties"]), name
        for field, described in spec["properties"].items():
            assert properties[field]["description"] == described["description"], (name, field)


def old_document(web: Web, einvoice: dict[str, Any]) -> int:
    """A queued document whose stored e-invoice JSON is *einvoice* (as before schema 1)."""
    with web.app.db.session() as s:
        src = sources.add(
            s, name="ap", company_name="ACME", host="mail.invalid", port=993, username="u"
        )
        m = Message(
            source_id=src.id,
            folder="INBOX",
            uidvalidity=1,
            uid=1,
            raw_sha256=hashlib.sha256(b"mail").hexdigest(),
            raw_size=100,
            subject="Invoice",
            decision="import",
            reason="imported",
        )
        s.add(m)
        s.flush()
        d = Document(
            message_id=m.id,
            company_id=src.company_id,
            sha256=hashlib.sha256(b"doc").hexdigest(),
            size=10,
            media_type="application/xml",
            filename="inv.xml",
            kind="einvoice_xml",
            einvoice=einvoice,
        )
        s.add(d)
        s.flush()
        return d.id


def test_a_document_stored_before_the_booking_core_is_answered_in_the_schema_shape(
    web: Web,
) -> None:
    header = {"format": "xrechnung-ubl", "document_type": "invoice", "number": "R-1"}
    header |= {"total": "119.00", "currency": "EUR", "issue_date": "2024-01-31"}
    doc_id = old_document(web, header)
    api = web.api(web.user("admin@example.test"))
    for r in (api.get(f"/api/v1/documents/{doc_id}"), api.get("/api/v1/documents")):
        assert r.status_code == 200, r.text
        body = r.json()
        found = body["items"][0] if "items" in body else body
        einvoice = found["einvoice"]
        assert schema_errors(einvoice) == []
        assert einvoice["number"] == "R-1" and einvoice["total"] == "119.00"
        assert einvoice["lines"] == [] and einvoice["vat_breakdown"] == []
        assert einvoice["payment"] is None and einvoice["lines_omitted"] == 0
        assert einvoice["schema_version"] == 1
    with web.app.db.session() as s:  # the stored row itself is left as it was
        assert s.scalar(select(Document.einvoice).where(Document.id == doc_id)) == header
