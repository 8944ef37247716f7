"""Property tests: the e-invoice readers never raise anything but ``EInvoiceError`` on mutated
e-invoices, and what they return always validates against the published JSON Schema.

Each example takes a real invoice of the corpus (UBL, CII, KSeF, and a Factur-X PDF whose
embedded XML is mutated and embedded again) and applies a few random edits: an element deleted
or duplicated, its text replaced by a random string, a huge number, "NaN", "1e999", "-0", an
empty string, or its attributes dropped."""

from __future__ import annotations

import io

import pytest
from booking_schema import schema_errors
from einvoice_samples import pdf_with_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from pypdf import PdfReader

from corpus import CORPUS
from invoice_inbox.pipeline.einvoice import EInvoice, EInvoiceError, read_pdf, read_xml

SAMPLES = {
    "ubl": "cen-en16931__ubl-tc434-example1.xml",
    "cii": "xrechnung-testsuite__01.07a-INVOICE_uncefact.xml",
    "ksef": "ksef-fop__fa3-podstawowa__FA_3_complex.xml",
}
FACTURX = "zugferd-corpus__EN16931_Einfach.pdf"
WEIRD = ["NaN", "1e999", "-0", "", "99999999999999999999999999999999.999", "-1e-999", "Infinity"]
TEXT = st.one_of(st.sampled_from(WEIRD), st.text(max_size=40))
EDIT = st.tuples(
    st.sampled_from(["delete", "duplicate", "text", "attributes"]), st.integers(0, 10**6), TEXT
)
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _embedded(name: str) -> tuple[str, bytes]:
    reader = PdfReader(io.BytesIO((CORPUS / name).read_bytes()))
    ((file_name, contents),) = reader.attachments.items()
    return file_name, contents[0]


XML = {kind: (CORPUS / name).read_bytes() for kind, name in SAMPLES.items()}
XML["facturx"] = _embedded(FACTURX)[1]


def mutated(data: bytes, edits: list[tuple[str, int, str]]) -> bytes:
    root = etree.fromstring(data)
    for action, pick, text in edits:
        elements = [e for e in root.iter() if isinstance(e.tag, str)]
        element = elements[pick % len(elements)]
        parent = element.getparent()
        if action == "delete" and parent is not None:
            parent.remove(element)
        elif action == "duplicate" and parent is not None:
            parent.insert(parent.index(element), etree.fromstring(etree.tostring(element)))
        elif action == "text":
            element.text = "".join(c for c in text if c.isprintable())  # XML 1.0 characters
        elif action == "attributes":
            element.attrib.clear()
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def read(kind: str, data: bytes) -> EInvoice | None:
    """The reader's result, or None when it refused the bytes with EInvoiceError."""
    try:
        return read_pdf(data) if kind == "facturx" else read_xml(data)
    except EInvoiceError:
        return None


def mutated_input(kind: str, edits: list[tuple[str, int, str]]) -> bytes:
    data = mutated(XML[kind], edits)
    return pdf_with_files((_embedded(FACTURX)[0], data)) if kind == "facturx" else data


@pytest.mark.parametrize("kind", ["ubl", "cii", "ksef", "facturx"])
@FUZZ
@given(edits=st.lists(EDIT, min_size=1, max_size=4))
def test_a_mutated_invoice_reads_or_is_refused(
    kind: str, edits: list[tuple[str, int, str]]
) -> None:
    found = read(kind, mutated_input(kind, edits))
    assert found is None or isinstance(found, EInvoice)


@pytest.mark.parametrize("kind", ["ubl", "cii", "ksef", "facturx"])
@FUZZ
@given(edits=st.lists(EDIT, min_size=1, max_size=4))
def test_what_a_mutated_invoice_gives_validates(
    kind: str, edits: list[tuple[str, int, str]]
) -> None:
    found = read(kind, mutated_input(kind, edits))
    if found is not None:
        assert schema_errors(found.as_dict()) == []


def test_the_unchanged_samples_read_and_validate() -> None:
    for kind, data in XML.items():
        found = read_xml(data)
        assert found is not None and found.lines, kind
        assert schema_errors(found.as_dict()) == [], kind
