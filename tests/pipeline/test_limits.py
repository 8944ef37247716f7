"""Limits on hostile mail (issue 13, findings 4 and 6): a PDF bomb (many compressed embedded
files), an embedded file that unpacks past its limit, and a page bomb in a mail body rendered to
PDF. Each is quarantined with a reason that names the limit, without the memory or the pages
the attacker asked for; real e-invoice PDFs and ordinary bodies still go through."""

from __future__ import annotations

import tracemalloc
import zlib
from collections.abc import Callable
from typing import TypeVar

import pytest
from hostile_samples import (
    MIB,
    deflated_zeros,
    page_bomb_html,
    pdf_bomb,
    pdf_with_packed_files,
    pdf_with_padded_object_streams,
)

from builders import Attachment, make_mail
from corpus import CORPUS
from invoice_inbox.pipeline.decide import Decision, Policy, Verdict, decide
from invoice_inbox.pipeline.limits import LimitExceeded, Limits
from invoice_inbox.pipeline.render import Body, body_to_pdf
from invoice_inbox.pipeline.rules import Rule

SENDER = "billing@supplier.example"
BODY_BILL = Rule.make("hoster-body", SENDER, "your bill", "body")
BODY_POLICY = Policy(allowed_senders=(SENDER,), rules=(BODY_BILL,))
T = TypeVar("T")


def pdf_mail(pdf: bytes, name: str = "invoice.pdf") -> bytes:
    return make_mail(from_=f"Billing <{SENDER}>", attachments=[Attachment(name, pdf)])


def html_mail(html: str) -> bytes:
    return make_mail(from_=f"Hoster <{SENDER}>", subject="Your bill", body="", html=html)


def peak_bytes(call: Callable[[], T]) -> tuple[T, int]:
    """What *call* returns, and the peak of Python allocations while it ran."""
    tracemalloc.start()
    try:
        result = call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def assert_quarantined_for(d: Decision, limit: str, *words: str) -> None:
    assert d.verdict is Verdict.QUARANTINED, d.reason
    assert f"limit {limit}" in d.reason
    for word in words:
        assert word in d.reason
    assert not d.documents


# -- PDFs: embedded files ------------------------------------------------------------------------


def test_pdf_bomb_is_quarantined_without_unpacking_its_files() -> None:
    # 24 embedded "XML" files of 4 MiB zeros each: the old reader unpacked all 96 MiB
    raw = pdf_mail(pdf_bomb(files=24, size=4 * MIB))
    d, peak = peak_bytes(lambda: decide(raw))
    assert_quarantined_for(d, "pdf_embedded_files", "invoice.pdf", "more than 16 embedded files")
    assert peak < 4 * MIB, f"{peak:,} bytes allocated: the embedded files were unpacked"


def test_embedded_file_is_unpacked_only_up_to_its_limit() -> None:
    # one factur-x.xml that inflates to 40 MiB; the limit is 20 MiB
    pdf = pdf_with_packed_files([("factur-x.xml", deflated_zeros(40 * MIB))])
    raw = pdf_mail(pdf)
    d, peak = peak_bytes(lambda: decide(raw))
    assert_quarantined_for(d, "pdf_embedded_bytes", "invoice.pdf", "factur-x.xml", "20 MB")
    assert peak < 30 * MIB, f"{peak:,} bytes allocated: the file was unpacked past its limit"


def test_embedded_file_limits_come_from_the_policy() -> None:
    xml = (CORPUS / "akretion-facturx__zugferd-comfort.xml").read_bytes()
    pdf = pdf_with_packed_files([("factur-x.xml", zlib.compress(xml))])
    small = Policy(limits=Limits(pdf_embedded_bytes=len(xml) - 1))
    assert_quarantined_for(decide(pdf_mail(pdf), small), "pdf_embedded_bytes")
    two_files = pdf_with_packed_files([("a.xml", b"<a/>"), ("factur-x.xml", zlib.compress(xml))])
    few = Policy(limits=Limits(pdf_embedded_files=1))
    assert_quarantined_for(decide(pdf_mail(two_files), few), "pdf_embedded_files")
    d = decide(pdf_mail(two_files), Policy(limits=Limits(pdf_embedded_files=2)))
    assert d.verdict is Verdict.IMPORT, d.reason
    assert d.documents[0].kind == "einvoice_pdf"
    assert d.documents[0].einvoice is not None and d.documents[0].einvoice.number == "471102"


def test_object_streams_share_one_budget() -> None:
    # three object streams of 12 MiB each on the way to the embedded files: 36 MiB from 100 KB
    pdf = pdf_with_padded_object_streams(12 * MIB, streams=3)
    assert len(pdf) < 1 * MIB
    d = decide(pdf_mail(pdf))
    assert_quarantined_for(d, "pdf_object_bytes", "invoice.pdf", "more than 32 MB")
    small = pdf_with_padded_object_streams(1 * MIB, streams=3)
    tight = Policy(limits=Limits(pdf_object_bytes=2 * MIB))
    assert_quarantined_for(decide(pdf_mail(small), tight), "pdf_object_bytes")
    d = decide(pdf_mail(small), Policy(limits=Limits(pdf_object_bytes=4 * MIB)))
    assert d.verdict is Verdict.IMPORT, d.reason


@pytest.mark.parametrize(
    "name",
    [
        "horstoeko-zugferd__pdf_fx_minimum_1.pdf",  # FlateDecode
        "zugferd-corpus__XRECHNUNG_Einfach.pdf",  # FlateDecode, xrechnung.xml
        "zugferd-corpus__ZUGFeRD_1p0_COMFORT_Einfach.pdf",  # stored as is
    ],
)
def test_real_einvoice_pdfs_still_yield_their_xml(name: str) -> None:
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"{name} is not in the corpus")
    d = decide(pdf_mail(path.read_bytes()))
    assert d.verdict is Verdict.IMPORT, d.reason
    assert d.documents[0].kind == "einvoice_pdf"
    assert d.documents[0].einvoice is not None and d.documents[0].einvoice.is_invoice


def test_embedded_xml_behind_another_filter_is_not_read() -> None:
    # Only Flate (or no filter) is unpacked: every other decoder is more code to trust.
    xml = (CORPUS / "akretion-facturx__zugferd-comfort.xml").read_bytes()
    pdf = pdf_with_packed_files(
        [("factur-x.xml", xml.hex().encode() + b">")], filter="/ASCIIHexDecode"
    )
    d = decide(pdf_mail(pdf))
    assert d.verdict is Verdict.IMPORT, d.reason
    assert (d.documents[0].kind, d.documents[0].einvoice) == ("pdf", None)


# -- rendering the mail body -------------------------------------------------------------------


def test_page_bomb_is_quarantined_naming_the_page_limit() -> None:
    html = page_bomb_html(600)  # 2.4 KB of HTML, 600 forced page breaks
    d = decide(html_mail(html), BODY_POLICY)
    assert_quarantined_for(d, "render_pages", "more than 50 pages")
    assert d.hits == ("documents",)


def test_render_stops_at_the_first_page_past_the_limit() -> None:
    body = Body(sender=SENDER, to="ap@buyer.example", date="", subject="s", text=None,
                html=page_bomb_html(200))  # fmt: skip
    with pytest.raises(LimitExceeded) as caught:
        body_to_pdf(body, Limits(render_pages=3))
    assert caught.value.limit == "render_pages"
    assert "more than 3 pages" in str(caught.value)


def test_render_wall_time_is_limited() -> None:
    policy = Policy(allowed_senders=(SENDER,), rules=(BODY_BILL,), limits=Limits(render_seconds=0))
    d = decide(html_mail("<p>Amount due: 12.00 EUR</p>"), policy)
    assert_quarantined_for(d, "render_seconds", "took longer than 0 seconds")


def test_body_with_exactly_the_page_limit_is_rendered() -> None:
    # header block and three <br> pages: the last <br> breaks after itself, into a 4th page
    policy = Policy(allowed_senders=(SENDER,), rules=(BODY_BILL,), limits=Limits(render_pages=4))
    d = decide(html_mail(page_bomb_html(3)), policy)
    assert d.verdict is Verdict.IMPORT, d.reason
    assert d.documents[0].kind == "body_pdf"


def test_html_with_too_many_elements_is_not_laid_out() -> None:
    # Absolutely positioned boxes share one page, so no page report would stop their layout
    # (5,000 take ~10 s and 200 MB): the element count is checked before WeasyPrint runs.
    html = '<div style="position:absolute">x</div>' * 10_001
    d = decide(html_mail(html), BODY_POLICY)
    assert_quarantined_for(d, "render_elements", "more than 10,000 HTML elements")
    few = Policy(allowed_senders=(SENDER,), rules=(BODY_BILL,), limits=Limits(render_elements=20))
    assert_quarantined_for(decide(html_mail("<p>x</p>" * 20), few), "render_elements")
