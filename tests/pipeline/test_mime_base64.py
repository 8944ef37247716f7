"""pybase64's decoding of a part's base64 body gives exactly what the standard library's
``get_payload(decode=True)`` gives, for every body it takes; anything unusual is left to the
standard library (None)."""

from __future__ import annotations

import base64
import email
from email import policy
from email.message import Message

from hypothesis import given, settings
from hypothesis import strategies as st

from invoice_inbox.pipeline import mime_base64

JUNK = st.sampled_from([b"=", b"==", b" ", b"\t", b"!", b"\x00", b"-", b"_", b"\xc3\xa9", b"\r"])


def part_with(body: bytes, cte: str = "base64") -> Message:
    raw = (
        b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: "
        + cte.encode()
        + b"\r\n\r\n"
        + body
    )
    return email.message_from_bytes(raw, policy=policy.compat32)


def assert_same(body: bytes) -> None:
    part = part_with(body)
    fast = mime_base64.decoded(part)
    if fast is None:
        return
    slow = part_with(body)
    assert fast == slow.get_payload(decode=True)
    assert slow.defects == []  # the standard library found nothing wrong either


@settings(max_examples=400, deadline=None)
@given(data=st.binary(max_size=3000), crlf=st.booleans(), width=st.sampled_from([76, 64, 4, 1]))
def test_clean_base64_decodes_the_same_and_takes_the_fast_path(
    data: bytes, crlf: bool, width: int
) -> None:
    encoded = base64.b64encode(data)
    lines = [encoded[i : i + width] for i in range(0, len(encoded), width)]
    body = (b"\r\n" if crlf else b"\n").join(lines) + b"\r\n"
    assert mime_base64.decoded(part_with(body)) == data
    assert_same(body)


@settings(max_examples=600, deadline=None)
@given(
    data=st.binary(max_size=300),
    cuts=st.lists(st.tuples(st.integers(0, 500), st.one_of(JUNK, st.just(b""))), max_size=4),
    drop_padding=st.booleans(),
)
def test_damaged_base64_reads_as_the_standard_library_reads_it(
    data: bytes, cuts: list[tuple[int, bytes]], drop_padding: bool
) -> None:
    body = base64.encodebytes(data)
    if drop_padding:
        body = body.replace(b"=", b"")
    for at, piece in cuts:
        at = min(at, len(body))
        body = body[:at] + piece + body[at + (0 if piece else 1) :]
    assert_same(body)


def test_unusual_bodies_are_left_to_the_standard_library() -> None:
    assert mime_base64.decoded(part_with(b"QQ=A\r\n")) is None  # padding inside
    assert mime_base64.decoded(part_with(b"QQ\r\n")) is None  # not whole quads
    assert mime_base64.decoded(part_with(b"QU I=\r\n")) is None  # a space
    assert mime_base64.decoded(part_with(b"QUJD\r\n", cte="quoted-printable")) is None
    assert mime_base64.decoded(part_with(b"QUJD\r\n")) == b"ABC"
