"""``invoice-inbox inspect`` on every file of the test corpus gives the facts its MANIFEST.tsv
lists: e-invoices their number, seller, total and currency; e-mails and winmail.dat files the
attachments they carry, each either a document or a skipped part with its reason."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from typing import Any

import pytest
from typer.testing import CliRunner

from corpus import CORPUS
from invoice_inbox.cli import app
from invoice_inbox.pipeline.decide import Verdict, decide


def manifest() -> dict[str, dict[str, str]]:
    with open(CORPUS / "MANIFEST.tsv", newline="", encoding="utf-8") as f:
        return {row["file"]: row for row in csv.DictReader(f, delimiter="\t")}


ROWS = manifest()
EMAILS = sorted(name for name in ROWS if name.endswith(".eml"))
EINVOICES = sorted(name for name, row in ROWS.items() if row["expected_invoice_number"])
CONTAINERS = sorted(name for name in ROWS if name.endswith((".tnef", ".dat")))


def inspect(name: str, *extra: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["inspect", str(CORPUS / name), "--json", *extra])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["decision"] in ("import", "not_imported", "quarantined")
    assert out["reason"]
    return out


def expected_attachments(name: str) -> list[tuple[str, str]]:
    """(file name, declared type) per listed attachment; forwarded mails and "(none)" left out."""
    listed = ROWS[name]["expected_attachments"]
    found = []
    for entry in listed.split(" ; "):
        fields = entry.split("|")
        followed = len(fields) >= 2 and fields[1] == "message/rfc822"  # read, not listed
        if len(fields) >= 2 and not fields[0].startswith("(") and fields[0] and not followed:
            found.append((fields[0], fields[1]))
    return found


def seen_names(out: dict[str, Any]) -> set[str]:
    """Every name inspect reports: documents and skipped parts (the last path component)."""
    names = {d["filename"] for d in out["documents"]}
    names |= {s["name"].rsplit("/", 1)[-1] for s in out["skipped"]}
    return names


def test_corpus_is_present() -> None:
    assert len(EMAILS) >= 20 and len(EINVOICES) >= 25, f"expected the corpus at {CORPUS}"


@pytest.mark.parametrize("name", EINVOICES)
def test_inspect_reads_every_corpus_einvoice(name: str) -> None:
    row = ROWS[name]
    out = inspect(name)
    assert out["decision"] == "import", out["reason"]
    (doc,) = out["documents"]
    assert doc["kind"] == ("einvoice_pdf" if name.endswith(".pdf") else "einvoice_xml")
    fields = doc["einvoice"]
    assert fields["number"] == row["expected_invoice_number"]
    assert fields["seller_name"] == row["expected_seller_name"]
    assert Decimal(fields["total"]) == Decimal(row["expected_total_amount"])
    assert fields["currency"] == row["expected_currency"]
    assert fields["document_type"] == "invoice"


def test_a_plain_pdf_is_a_pdf_without_einvoice_fields() -> None:
    out = inspect("horstoeko-zugferd__pdf_plain.pdf")
    (doc,) = out["documents"]
    assert doc["kind"] == "pdf" and doc["einvoice"] is None


@pytest.mark.parametrize("name", EMAILS)
def test_inspect_finds_every_attachment_of_every_corpus_mail(name: str) -> None:
    out = inspect(name)
    expected = expected_attachments(name)
    names = seen_names(out)
    for filename, _ in expected:
        assert filename.replace("\ufffd", "") in {n.replace("\ufffd", "") for n in names}, (
            filename,
            out,
        )
    pdfs = {f for f, media in expected if media == "application/pdf"}
    assert pdfs <= {d["filename"] for d in out["documents"]}
    if pdfs:
        assert out["decision"] == "import"
    if not expected and "(message:" not in ROWS[name]["expected_attachments"]:
        assert out["documents"] == [] and out["decision"] == "not_imported"


@pytest.mark.parametrize("name", CONTAINERS)
def test_inspect_opens_every_corpus_winmail_dat(name: str) -> None:
    listed = ROWS[name]["expected_attachments"].removeprefix("TNEF:").split(",")
    out = inspect(name, "--allow-images")
    assert {n.strip() for n in listed} <= seen_names(out)


def test_forwarded_corpus_mails_are_followed() -> None:
    out = inspect("php-mmp__issue158a.eml")
    assert out["decision"] in ("import", "not_imported")
    # the embedded message of the MimeKit sample is read: its parts are reported, not the wrapper
    embedded = inspect("mimekit__simple-embedded-message.eml")
    assert all(s["name"] != "(message: embedded message)" for s in embedded["skipped"])


def test_corpus_pdfs_attached_to_a_mail_are_found() -> None:
    from builders import Attachment, make_mail

    pdfs = sorted(CORPUS.glob("*.pdf"))
    assert pdfs
    mail = make_mail(attachments=[Attachment(p.name, p.read_bytes()) for p in pdfs])
    d = decide(mail)
    assert d.verdict is Verdict.IMPORT
    assert {x.filename for x in d.documents} == {p.name for p in pdfs}
    kinds = {x.filename: x.kind for x in d.documents}
    assert kinds["horstoeko-zugferd__pdf_plain.pdf"] == "pdf"
    assert sum(k == "einvoice_pdf" for k in kinds.values()) == len(pdfs) - 1
