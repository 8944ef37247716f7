"""Parsing hard mails: encoded file names, raw 8-bit headers, dates, missing headers."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builders import make_pdf
from corpus import CORPUS
from invoice_inbox.pipeline import mime, mime_head
from invoice_inbox.pipeline.filenames import sanitize


def names(file: str) -> list[str | None]:
    return [p.filename for p in mime.parse((CORPUS / file).read_bytes()).parts if p.filename]


def attachment_named(disposition: bytes) -> list[str | None]:
    """File names of a mail whose one attachment has this Content-Disposition header value."""
    raw = (
        b"From: a@supplier.example\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: text/plain\r\n"
        b"Content-Disposition: " + disposition + b"\r\n\r\nnote\r\n--b--\r\n"
    )
    return [p.filename for p in mime.parse(raw).parts if p.filename]


def test_rfc2231_and_rfc2047_and_raw_8bit_file_names() -> None:
    assert names("mikel-mail__japanese_attachment.eml") == ["てすと.txt"]
    encoded_word_in_quotes = b'attachment; filename="=?iso-8859-1?Q?Preis=FCbersicht=2Etxt?="'
    raw_latin1 = b'attachment; filename="Preis\xfcbersicht.txt"'
    assert attachment_named(encoded_word_in_quotes) == ["Preisübersicht.txt"]
    assert attachment_named(raw_latin1) == ["Preisübersicht.txt"]


def test_headers() -> None:
    raw = (
        b"From: =?utf-8?q?M=C3=BCller_GmbH?= <Billing@Mueller.Example>\r\n"
        b"Subject: =?iso-8859-1?q?Rechnung_f=FCr_Mai?=\r\n"
        b"Date: Mon, 04 May 2026 10:00:00 -0000\r\n"
        b"Message-ID: <abc@mueller.example>\r\n\r\nbody\r\n"
    )
    h = mime.parse_headers(raw)
    assert h.sender == "billing@mueller.example"
    assert h.sender_name == "Müller GmbH"
    assert h.subject == "Rechnung für Mai"
    assert h.message_id == "<abc@mueller.example>"
    assert h.date == datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def test_each_from_is_read_as_written_however_often_it_repeats() -> None:
    """Addresses are remembered by their From value: the same value, the same address; any
    other value (a name in other case, a long list of mailboxes) is read for itself."""
    froms = [
        b"Billing <billing@a.example>",
        b"BILLING <Billing@A.example>",
        b"Billing <billing@a.example>",
        b", ".join(b"n%d <n%d@b.example>" % (n, n) for n in range(40)),
        b"x" * 300 + b" <long@c.example>",
    ]
    read = [mime.parse_headers(b"From: " + f + b"\r\n\r\n") for f in froms * 2]
    expected = [
        ("billing@a.example", "Billing"),
        ("billing@a.example", "BILLING"),
        ("billing@a.example", "Billing"),
        ("n0@b.example", "n0"),
        ("long@c.example", "x" * 300),
    ]
    assert [(h.sender, h.sender_name) for h in read] == expected * 2


def test_missing_and_broken_headers_become_none() -> None:
    h = mime.parse_headers(b"Date: not a date\r\nFrom: nobody\r\n\r\n")
    assert (h.sender, h.date, h.message_id, h.subject) == (None, None, None, "")


def test_sanitize() -> None:
    assert sanitize("../../etc/passwd") == "passwd"
    assert sanitize("C:\\Users\\x\\invoice.pdf") == "invoice.pdf"
    assert sanitize("..") == "document"
    assert sanitize(None, default="a.pdf") == "a.pdf"
    assert sanitize("a\x00b\nc.pdf") == "a_b_c.pdf"
    long = sanitize("x" * 400 + ".pdf")
    assert len(long) == 150 and long.endswith(".pdf")


def test_header_block_stops_at_the_first_empty_line() -> None:
    assert mime.header_block(b"A: 1\r\nB: 2\r\n\r\nbody\r\n\r\nmore") == b"A: 1\r\nB: 2\r\n\r\n"
    assert mime.header_block(b"A: 1\nB: 2\n\nbody") == b"A: 1\nB: 2\n\n"
    assert mime.header_block(b"A: 1") == b"A: 1"
    # whichever style of empty line comes first ends the block
    assert mime.header_block(b"A: 1\nB: 2\n\nbody\r\n\r\n") == b"A: 1\nB: 2\n\n"
    assert mime.header_block(b"A: 1\r\n\r\nbody\n\nmore") == b"A: 1\r\n\r\n"
    assert mime.header_block(b"A: 1\r\n\n\r\n\r\n") == b"A: 1\r\n\n"
    assert mime.header_block(b"A: 1\n\r\n\r\n\n") == b"A: 1\n\r\n\r\n"
    for path in sorted(CORPUS.glob("*.eml")):
        raw = path.read_bytes()
        assert mime.parse_headers(raw) == mime.parse(raw).headers, path.name


def _first_empty_line(raw: bytes) -> bytes:
    """``header_block`` written plainly: both styles searched in the whole text."""
    ends = [i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    if not ends:
        return raw
    end = min(ends)
    return raw[: end + (4 if raw.startswith(b"\r\n\r\n", end) else 2)]


@given(st.lists(st.sampled_from([b"\r", b"\n", b"\r\n", b"A", b": "]), max_size=30))
def test_header_block_is_the_text_up_to_the_first_empty_line(pieces: list[bytes]) -> None:
    raw = b"".join(pieces)
    assert mime.header_block(raw) == _first_empty_line(raw)


@given(
    st.lists(st.sampled_from([b"\r", b"\n", b"\r\n", b"A", b": "]), max_size=30),
    st.sampled_from([(1, 2**62), (3, 7, 2**62), (4, 5, 11, 2**62)]),
)
def test_header_block_is_the_same_whatever_the_search_windows(
    pieces: list[bytes], windows: tuple[int, ...]
) -> None:
    """The growing search windows (a few KB first) never change the block, wherever an empty
    line of either style lies against a window's end."""
    raw = b"".join(pieces)
    before = mime_head.WINDOWS
    mime_head.WINDOWS = windows
    try:
        assert mime.header_block(raw) == _first_empty_line(raw)
    finally:
        mime_head.WINDOWS = before


@pytest.mark.parametrize(
    ("raw", "sender", "name", "subject"),
    [
        # RFC 6532: UTF-8 written as it is, as every SMTPUTF8 mail has its header fields
        (
            "From: Jörg Müller <jörg.müller@x.test>\r\nSubject: Grüße\r\n\r\n".encode(),
            "jörg.müller@x.test",
            "Jörg Müller",
            "Grüße",
        ),
        # raw 8-bit from an old client (Windows-1252), and raw UTF-8 beside an encoded-word
        (
            "From: Jörg <j@x.test>\r\nSubject: Grüße\r\n\r\n".encode("cp1252"),
            "j@x.test",
            "Jörg",
            "Grüße",
        ),
        (
            "From: j@x.test\r\nSubject: Grüße =?utf-8?q?aus_M=C3=BCnchen?=\r\n\r\n".encode(),
            "j@x.test",
            "",
            "Grüße aus München",
        ),
    ],
)
def test_raw_8bit_header_fields_are_read_as_text(
    raw: bytes, sender: str, name: str, subject: str
) -> None:
    h = mime.parse_headers(raw)
    assert (h.sender, h.sender_name or "", h.subject) == (sender, name, subject)


def test_a_file_name_in_numbered_parts_beside_a_bare_one_is_read_as_none() -> None:
    """RFC 2231 parts (``filename*0*``, ``filename*1*``) beside ``filename*=``: the standard
    library cannot order them (TypeError); the part is read without the name, the mail decided."""
    raw = (
        b"From: billing@supplier.example\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b'Content-Type: application/pdf; name="scan.pdf"\r\nContent-Transfer-Encoding: base64\r\n'
        b"Content-Disposition: attachment; filename*=unicode_escape''a.pdf;\r\n"
        b" filename*0*=utf-8''%C2%A0; filename*1*=%F0%90%80%80\r\n\r\n"
        + base64.encodebytes(make_pdf("invoice"))
        + b"\r\n--b--\r\n"
    )
    (part,) = [p for p in mime.parse(raw).parts if p.content_type == "application/pdf"]
    assert part.filename == "scan.pdf", "the Content-Type name is used instead"


@given(
    st.lists(
        st.sampled_from(
            ["Jörg", "Grüße", " ", "=?utf-8?q?M=C3=BCnchen?=", "<a@b.test>", '"x"', "\t"]
        ),
        max_size=8,
    ),
    st.sampled_from(["utf-8", "cp1252", "latin-1"]),
)
def test_envelope_fields_with_8bit_bytes_read_as_through_the_standard_library(
    words: list[str], charset: str
) -> None:
    """``mime_head.envelope`` keeps a From, To or Subject with raw 8-bit bytes as text rather than
    the ``Header`` compat32 makes of it; decoded, both are the same."""
    from email.message import Message

    from invoice_inbox.pipeline.mime_text import decode_header_value

    value = "".join(words).encode(charset, "replace").decode("ascii", "surrogateescape")
    msg = Message()
    for name in ("From", "To", "Subject", "Date", "Message-ID"):
        msg.set_raw(name, value)
    fields = mime_head.envelope(msg)
    for name in ("From", "To", "Subject"):
        assert decode_header_value(fields[name.lower()]) == decode_header_value(msg.get(name))
    for name in ("Date", "Message-ID"):
        assert str(fields[name.lower()]) == str(msg.get(name))
    assert mime._headers_of(msg).subject == decode_header_value(msg.get("Subject"))
