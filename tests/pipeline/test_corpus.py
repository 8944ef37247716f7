"""Every e-mail of the shared corpus goes through the pipeline and ``inspect`` without crashing,
and the PDFs the manifest lists are found."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from corpus import CORPUS
from invoice_inbox.cli import app
from invoice_inbox.pipeline.decide import Verdict, decide


def manifest() -> dict[str, dict[str, str]]:
    with open(CORPUS / "MANIFEST.tsv", newline="", encoding="utf-8") as f:
        return {row["file"]: row for row in csv.DictReader(f, delimiter="\t")}


EMAILS = sorted(p.name for p in CORPUS.glob("*.eml"))


def test_corpus_is_present() -> None:
    assert len(EMAILS) >= 20, f"expected the shared corpus at {CORPUS}"


@pytest.mark.parametrize("name", EMAILS)
def test_inspect_every_corpus_mail(name: str) -> None:
    result = CliRunner().invoke(app, ["inspect", str(CORPUS / name), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["decision"] in ("import", "not_imported", "quarantined")
    assert out["reason"]
    expected = manifest()[name]["expected_attachments"]
    expected_pdfs = {
        entry.split("|")[0].lstrip(">")
        for entry in expected.split(" ; ")
        if "|application/pdf|" in entry
    }
    found = {d["filename"] for d in out["documents"]}
    assert expected_pdfs <= found
    if expected_pdfs:
        assert out["decision"] == "import"
        for d in out["documents"]:
            assert d["size"] > 0 and len(d["sha256"]) == 64


def test_corpus_pdfs_attached_to_a_mail_are_found() -> None:
    from builders import Attachment, make_mail

    pdfs = sorted(CORPUS.glob("*.pdf"))
    assert pdfs
    mail = make_mail(attachments=[Attachment(p.name, p.read_bytes()) for p in pdfs])
    d = decide(mail)
    assert d.verdict is Verdict.IMPORT
    assert {x.filename for x in d.documents} == {p.name for p in pdfs}
