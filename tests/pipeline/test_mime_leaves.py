"""Leaf parts read straight from a mail's bytes (``mime_leaves``) against the standard parser.

Each mail below is read both ways (``assert_same``: the standard parser with ``mime.FAST`` off,
the fast paths with it on) and must give the same parsed message and decisions; the tests also
pin down which way ``mime_leaves`` takes it: as fields, as a ``Message`` for ``mime``'s own code,
or not at all (None: ``mime_fast`` and the standard parser read the mail as before).
"""

from __future__ import annotations

import base64
from email.message import Message

import pytest
from test_mime_fast import assert_same, benchmark_like_mail

from builders import Attachment, make_forward, make_mail, make_nested_mail, make_sized_pdf
from invoice_inbox.pipeline import mime, mime_fast, mime_leaves
from invoice_inbox.pipeline.decide import Policy

PDF = make_sized_pdf(3_000)
PDF64 = base64.encodebytes(PDF)


def leaves(raw: bytes) -> list[mime_leaves.Leaf] | None:
    read = mime_fast.read_head(mime.header_block(raw))
    assert read is not None
    return mime_leaves.leaves(raw, read[0], read[1])


def mail(part_headers: bytes, body: bytes, crlf: bool = True) -> bytes:
    """A multipart/mixed mail: a text part, then a part with *part_headers* and *body*."""
    raw = (
        b"From: Billing <billing@supplier.example>\n"
        b"Subject: Invoice 7\n"
        b"Date: Mon, 04 Mar 2024 10:00:00 +0100\n"
        b'Content-Type: multipart/mixed; boundary="=_b_1"\n'
        b"\n"
        b"--=_b_1\n"
        b"Content-Type: text/plain; charset=utf-8\n"
        b"\n"
        b"Please find the invoice attached.\n"
        b"--=_b_1\n" + part_headers + b"\n" + body + b"\n--=_b_1--\n"
    )
    return raw.replace(b"\n", b"\r\n") if crlf else raw


@pytest.mark.parametrize("crlf", [True, False])
def test_ordinary_mails_are_read_from_their_bytes(crlf: bool) -> None:
    mails = [
        benchmark_like_mail(),
        make_mail(attachments=[Attachment("a.pdf", PDF)], crlf=crlf),
        make_mail(html="<p>x</p>", attachments=[Attachment("a.pdf", PDF)], crlf=crlf),
        make_nested_mail(inner="related", pdf=PDF, crlf=crlf),
    ]
    for raw in mails:
        read = leaves(raw)
        assert read is not None
        assert all(isinstance(leaf, mime_leaves.Fields) for leaf in read)
        assert_same(raw, (Policy(),))


PLAIN_PARTS = {
    "base64 PDF": (
        b'Content-Type: application/pdf; name="a.pdf"\n'
        b'Content-Disposition: attachment; filename="b.pdf"\n'
        b"Content-Transfer-Encoding: base64\n",
        PDF64,
    ),
    "upper-case names and values": (
        b"CONTENT-TYPE: Application/PDF; NAME=A.PDF\n"
        b"content-transfer-encoding: BASE64\n"
        b"Content-Disposition: ATTACHMENT\n",
        PDF64,
    ),
    "name only in Content-Type": (
        b'Content-Type: application/octet-stream; name="scan.pdf"\n'
        b"Content-Transfer-Encoding: base64\n",
        PDF64,
    ),
    "an empty file name": (
        b'Content-Type: application/pdf; name=""\n'
        b'Content-Disposition: attachment; filename=""\n'
        b"Content-Transfer-Encoding: base64\n",
        PDF64,
    ),
    "an encoded-word file name": (
        b'Content-Type: application/pdf\nContent-Disposition: attachment; filename="=?utf-8?q?'
        b'Rechnung_M=C3=A4rz.pdf?="\nContent-Transfer-Encoding: base64\n',
        PDF64,
    ),
    "no Content-Type": (b"Content-Disposition: inline\n", b"just text"),
    "an empty Content-Type": (b"Content-Type: \n", b"just text"),
    "a type without a slash": (b"Content-Type: pdf; charset=UTF-8\n", b"text"),
    "a type with two slashes": (b"Content-Type: application/pdf/x\n", b"text"),
    "quoted-printable": (
        b"Content-Type: text/plain; charset=ISO-8859-1\n"
        b"Content-Transfer-Encoding: quoted-printable\n",
        b"Gr=FC=DFe, soft=\nbreak",
    ),
    "a base64 label with a space after it": (
        b"Content-Type: text/plain\nContent-Transfer-Encoding: base64 \n",
        b"not base64 at all",
    ),
    "an inline image with a Content-ID": (
        b"Content-Type: image/png\nContent-ID: < logo@x >\nContent-Transfer-Encoding: base64\n",
        base64.encodebytes(b"\x89PNG\r\n\x1a\nxxxx"),
    ),
    "a folded header": (
        b'Content-Type: application/pdf;\n\tname="folded.pdf"\nContent-Transfer-Encoding: base64\n',
        PDF64,
    ),
    "an empty body": (b"Content-Type: application/pdf\n", b""),
}


@pytest.mark.parametrize("crlf", [True, False])
@pytest.mark.parametrize("name", PLAIN_PARTS)
def test_plain_parts_are_read_as_fields(name: str, crlf: bool) -> None:
    headers, body = PLAIN_PARTS[name]
    raw = mail(headers, body, crlf)
    read = leaves(raw)
    assert read is not None
    assert all(isinstance(leaf, mime_leaves.Fields) for leaf in read)
    assert_same(raw)


OTHER_PARTS = {
    "an RFC 2231 file name": (
        b"Content-Type: application/pdf\n"
        b"Content-Disposition: attachment; filename*=utf-8''Rechnung%20M%C3%A4rz.pdf\n"
        b"Content-Transfer-Encoding: base64\n",
        PDF64,
    ),
    "a quoted ; in a parameter": (
        b'Content-Type: application/pdf; name="a;b.pdf"\nContent-Transfer-Encoding: base64\n',
        PDF64,
    ),
    "base64 without padding": (
        b"Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n",
        base64.b64encode(PDF + b"\n" * (len(PDF) % 3 == 0)).rstrip(b"="),
    ),
    "damaged base64": (
        b"Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n",
        PDF64[:200] + b"!!" + PDF64[200:],
    ),
    "base64 of plain text": (
        b"Content-Type: text/plain\nContent-Transfer-Encoding: base64\n",
        b"this is plain text, labelled base64",
    ),
    "uuencode": (
        b"Content-Type: application/octet-stream\nContent-Transfer-Encoding: x-uuencode\n",
        b"begin 644 a.txt\n#86)C\n`\nend",
    ),
}


@pytest.mark.parametrize("name", OTHER_PARTS)
def test_parts_that_are_not_plain_are_given_as_messages(name: str) -> None:
    headers, body = OTHER_PARTS[name]
    raw = mail(headers, body)
    read = leaves(raw)
    assert read is not None
    assert isinstance(read[0], mime_leaves.Fields)
    assert isinstance(read[1], Message)
    assert_same(raw)


NOT_READ = {
    "a forwarded mail": make_forward(make_mail(attachments=[Attachment("a.pdf", PDF)])),
    "8-bit bytes in a part's header": mail(
        'Content-Type: application/pdf; name="Gebühr.pdf"\n'.encode()
        + b"Content-Transfer-Encoding: base64\n",
        PDF64,
    ),
    "an envelope line in a part": mail(b"From x Mon Mar  4 10:00:00 2024\n", b"x"),
    "a digest": mail(b"Content-Type: multipart/digest; boundary=d\n", b"--d\n\nx\n--d--"),
    "a single part": make_mail(),
    "a lone CR in a part's header": mail(
        b"Content-Type: text/plain\rContent-Disposition: attachment; filename=a.pdf\n",
        base64.encodebytes(PDF),
        False,
    ),
    "a part without an empty line": mail(b"Content-Type: text/plain\nno header\n", b"x"),
    "a lone CR before a boundary": mail(b"Content-Type: text/plain\n", b"x\r--=_b_1\ny", False),
}


@pytest.mark.parametrize("name", NOT_READ)
def test_mails_it_does_not_read_go_the_old_way(name: str) -> None:
    raw = NOT_READ[name]
    assert leaves(raw) is None
    assert_same(raw)
