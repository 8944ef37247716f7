"""Test data builders: small valid PDFs and raw RFC 5322 messages, always returned as bytes.

Usage::

    pdf = make_pdf("Invoice 4711")
    raw = make_mail(subject="Invoice 4711", attachments=[Attachment("INV-4711.pdf", pdf)])
    tricky = make_mail(attachments=[Attachment("scan.txt", pdf, "text/plain")])
    nested = make_nested_mail(inner="related")
"""

from __future__ import annotations

import email
import email.policy
import io
import itertools
import random
import struct
import uuid
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime
from typing import Literal

MESSAGE_ID_DOMAIN = "builders.invoice-inbox.test"
_counter = itertools.count(1)


def _pdf_literal(text: str) -> bytes:
    """A PDF literal string for Helvetica with WinAnsiEncoding (cp1252; others become '?')."""
    raw = text.encode("cp1252", "replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def make_pdf(text: str = "Invoice") -> bytes:
    """A small, valid one-page A4 PDF showing ``text`` (one line per ``\\n``).

    Hand-written with a correct xref table; the full text is also stored as the document
    title (UTF-16), so different texts always give different bytes.
    """
    lines = text.split("\n") or [""]
    ops = [b"BT", b"/F1 18 Tf", b"22 TL", b"72 770 Td"]
    for i, line in enumerate(lines):
        ops.append(_pdf_literal(line) + (b" Tj" if i == 0 else b" '"))
    ops.append(b"ET")
    content = b"\n".join(ops) + b"\n"
    title = b"<FEFF" + text.encode("utf-16-be").hex().upper().encode() + b">"

    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"endstream",
        b"<< /Title " + title + b" /Producer (invoice-inbox tests) >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n" % (len(objects) + 1)
    out += b"0000000000 65535 f \n"
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\n" % (len(objects) + 1)
    out += b"startxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(out)


@dataclass
class Attachment:
    """One MIME leaf part. ``disposition=None`` leaves out Content-Disposition entirely."""

    filename: str | None
    data: bytes
    content_type: str = "application/pdf"
    disposition: str | None = "attachment"


def new_message_id() -> str:
    return f"<{next(_counter)}.{uuid.uuid4().hex}@{MESSAGE_ID_DOMAIN}>"


def _leaf(att: Attachment) -> MIMEPart:
    maintype, _, subtype = att.content_type.partition("/")
    part = MIMEPart(policy=email.policy.default)
    part.set_content(
        att.data,
        maintype=maintype,
        subtype=subtype or "octet-stream",
        disposition=att.disposition,
        filename=att.filename,
    )
    if att.disposition is None and "Content-Disposition" in part:
        del part["Content-Disposition"]
    return part


def _headers(
    msg: EmailMessage,
    *,
    from_: str,
    to: str,
    subject: str,
    date: str | None,
    message_id: str | None,
    extra_headers: dict[str, str] | None,
) -> None:
    msg["From"] = from_
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = date or format_datetime(datetime.now(UTC))
    msg["Message-ID"] = message_id or new_message_id()
    msg["MIME-Version"] = "1.0"
    for name, value in (extra_headers or {}).items():
        msg[name] = value


def _serialize(msg: EmailMessage, crlf: bool) -> bytes:
    policy = email.policy.SMTP if crlf else email.policy.default
    return msg.as_bytes(policy=policy)


def make_mail(
    *,
    from_: str = "Billing <billing@supplier.example>",
    to: str = "invoices@buyer.example",
    subject: str = "Invoice 1",
    date: str | None = None,
    message_id: str | None = None,
    body: str = "Please find the invoice attached.",
    html: str | None = None,
    attachments: Iterable[Attachment] = (),
    crlf: bool = True,
    extra_headers: dict[str, str] | None = None,
) -> bytes:
    """A raw message: text/plain body (+ text/html alternative), then the attachments in a
    multipart/mixed. ``message_id=None`` gives a fresh unique Message-ID."""
    msg = EmailMessage(policy=email.policy.default)
    _headers(
        msg,
        from_=from_,
        to=to,
        subject=subject,
        date=date,
        message_id=message_id,
        extra_headers=extra_headers,
    )
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    attachments = list(attachments)
    if attachments:
        msg.make_mixed()
        for att in attachments:
            msg.attach(_leaf(att))
    return _serialize(msg, crlf)


def make_nested_mail(
    *,
    inner: Literal["related", "alternative"] = "related",
    pdf: bytes | None = None,
    filename: str | None = "invoice.pdf",
    disposition: str | None = "attachment",
    from_: str = "Billing <billing@supplier.example>",
    to: str = "invoices@buyer.example",
    subject: str = "Invoice 1",
    date: str | None = None,
    message_id: str | None = None,
    body: str = "Please find the invoice attached.",
    crlf: bool = True,
) -> bytes:
    """A PDF that is not a direct child of the top-level multipart.

    ``inner="related"`` (Apple Mail style)::

        multipart/mixed
          multipart/alternative
            text/plain
            multipart/related
              text/html
              application/pdf   <- the PDF
          text/plain (footer)

    ``inner="alternative"``: ``multipart/mixed > multipart/alternative > [text/plain,
    application/pdf]``.
    """
    pdf = make_pdf("Nested invoice") if pdf is None else pdf
    pdf_part = _leaf(Attachment(filename, pdf, "application/pdf", disposition))

    alternative = MIMEPart(policy=email.policy.default)
    alternative.set_content(body)
    alternative.make_alternative()
    if inner == "related":
        related = MIMEPart(policy=email.policy.default)
        related.set_content(f"<html><body><p>{body}</p></body></html>", subtype="html")
        related.make_related()
        related.attach(pdf_part)
        alternative.attach(related)
    elif inner == "alternative":
        alternative.attach(pdf_part)
    else:
        raise ValueError(f"inner must be 'related' or 'alternative', not {inner!r}")

    msg = EmailMessage(policy=email.policy.default)
    _headers(
        msg,
        from_=from_,
        to=to,
        subject=subject,
        date=date,
        message_id=message_id,
        extra_headers=None,
    )
    msg.set_content("-- \nSent from the supplier portal")
    msg.make_mixed()
    footer = msg.get_payload()[0]
    msg.set_payload([alternative, footer])
    return _serialize(msg, crlf)


def make_forward(
    inner: bytes,
    *,
    from_: str = "Clerk <clerk@buyer.example>",
    to: str = "invoices@buyer.example",
    subject: str = "Fwd: invoice",
    filename: str | None = "forwarded.eml",
    crlf: bool = True,
) -> bytes:
    """A mail forwarding *inner* as an attachment (``message/rfc822``), as mail clients do."""
    msg = EmailMessage(policy=email.policy.default)
    _headers(
        msg, from_=from_, to=to, subject=subject, date=None, message_id=None, extra_headers=None
    )
    msg.set_content("See the forwarded mail.")
    msg.make_mixed()
    part = MIMEPart(policy=email.policy.default)
    part.set_content(email.message_from_bytes(inner, policy=email.policy.default))
    if filename:
        part["Content-Disposition"] = f'attachment; filename="{filename}"'
    msg.attach(part)
    return _serialize(msg, crlf)


def make_zip(files: dict[str, bytes]) -> bytes:
    """A ZIP archive (deflated) holding *files* in order."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def _tnef_attribute(level: int, kind: int, ident: int, data: bytes) -> bytes:
    """One TNEF attribute: level, id (type << 16 | id), length, data, 16-bit checksum."""
    checksum = sum(data) & 0xFFFF
    return (
        struct.pack("<BII", level, (kind << 16) | ident, len(data))
        + data
        + struct.pack("<H", checksum)
    )


def make_tnef(files: dict[str, bytes]) -> bytes:
    """A winmail.dat (TNEF) stream carrying *files* as attachments, as Outlook writes them
    (MS-OXTNEF: attTnefVersion, attOemCodepage, then per file attAttachRendData,
    attAttachTitle and attAttachData)."""
    out = bytearray(struct.pack("<IH", 0x223E9F78, 0x0001))
    out += _tnef_attribute(1, 0x0008, 0x9006, struct.pack("<I", 0x00010000))  # version
    out += _tnef_attribute(1, 0x0006, 0x9007, struct.pack("<II", 1252, 0))  # code page
    for name, data in files.items():
        rend = struct.pack("<HIHHI", 1, 0xFFFFFFFF, 0, 0, 0)  # file attachment, no position
        out += _tnef_attribute(2, 0x0006, 0x9002, rend)
        out += _tnef_attribute(2, 0x0001, 0x8010, name.encode("cp1252") + b"\x00")
        out += _tnef_attribute(2, 0x0006, 0x800F, data)
    return bytes(out)


def make_sized_pdf(size: int, seed: int = 50) -> bytes:
    """A well-formed one-page PDF of exactly *size* bytes; a stream of random bytes fills it."""

    def build(filler: int) -> bytes:
        bodies = [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
            b"<< /Length %d >>\nstream\n" % filler
            + random.Random(seed).randbytes(filler)
            + b"\nendstream",
        ]
        out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for number, body in enumerate(bodies, start=1):
            offsets.append(len(out))
            out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
        xref = len(out)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(bodies) + 1)
        out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
        out += b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(bodies) + 1)
        out += b"startxref\n%d\n%%%%EOF\n" % xref
        return bytes(out)

    filler = size - len(build(0))
    data = build(filler)
    data = build(filler + size - len(data))  # the /Length and xref digits may have grown
    if len(data) != size:
        raise AssertionError(f"PDF is {len(data)} bytes, not {size}")
    return data


def make_many_lines_mail(lines: int, subject: str = "lines") -> bytes:
    """A mail of one-character lines: costly to parse on purpose (the standard MIME parser
    handles each line in Python: about 0.3 s of CPU time and 100 MB per million lines). Its one
    part has no closing boundary, which makes the fast path (``pipeline.mime_fast``, which would
    read the lines cheaply) hand it to the standard parser, as any sender can make it do."""
    head = (
        b"From: Billing <billing@supplier.example>\r\nTo: ap@buyer.example\r\n"
        b"Subject: %s\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="lines"\r\n\r\n'
        b"--lines\r\nContent-Type: text/plain\r\n\r\n"
    ) % subject.encode()
    return head + b"a\r\n" * lines
