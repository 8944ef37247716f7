"""The published JSON Schema of the ``einvoice`` object, loaded for tests, and the corpus
e-invoices read by the readers (the same entry points ``decide`` uses)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

import invoice_inbox.web
from corpus import CORPUS
from invoice_inbox.pipeline.einvoice import EInvoice, read_pdf, read_xml

SCHEMA_FILE = Path(invoice_inbox.web.__file__).parent / "static/schemas/einvoice-v1.schema.json"
SCHEMA: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)


def corpus_einvoices() -> list[str]:
    """The corpus files MANIFEST.tsv lists with an invoice number: the e-invoices."""
    with open(CORPUS / "MANIFEST.tsv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return sorted(row["file"] for row in rows if row["expected_invoice_number"])


EINVOICES = corpus_einvoices()


def schema_errors(document: dict[str, Any]) -> list[str]:
    """Each way *document* breaks the schema, as "path: message"; [] when it validates."""
    return [
        f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in VALIDATOR.iter_errors(document)
    ]


def read_corpus_file(name: str) -> EInvoice | None:
    """The e-invoice in corpus file *name* (an XML or a PDF with one embedded)."""
    data = (CORPUS / name).read_bytes()
    return read_pdf(data) if name.endswith(".pdf") else read_xml(data)
