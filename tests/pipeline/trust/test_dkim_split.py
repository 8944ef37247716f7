"""``dkim_check.split_message`` reads a mail exactly as dkimpy's own ``rfc822_parse`` does
(headers, body with CRLF line ends, the same error for a broken header), only faster."""

from __future__ import annotations

import dkim
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invoice_inbox.pipeline.trust.dkim_check import split_message

PIECES = [b"A", b"b", b":", b" ", b"\t", b"\r", b"\n", b"\r\n", b"From ", b"X-Y: z", b"\xff"]


def _same(raw: bytes) -> None:
    try:
        expected = dkim.rfc822_parse(raw)
    except Exception as exc:  # a broken header: the same error (dkim_check records it)
        with pytest.raises(type(exc)):
            split_message(raw)
        return
    assert split_message(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        b"From: a@b.test\r\nSubject: x\r\n\r\nbody\r\nline\r\n",
        b"From: a@b.test\nSubject: x\n\nbody\nline\n",  # bare LF
        b"From: a@b.test\r\n folded\r\n\r\nmixed\nends\r\nhere\r\r\n",
        b"From: a@b.test\r\n\r\n",  # empty body
        b"From: a@b.test\r\nSubject: no body",  # no blank line: all headers
        b"\r\nbody only\n",  # no header
        b"\nbody only\r\n",
        b"From x  Mon Jan 1\nFrom: a@b.test\n\nbody",  # an mbox From line
        b"From: a@b.test\r\r\n\r\nbody\r",  # a CR before the CRLF
        b"Broken header line\r\n\r\nbody",
        b"",
    ],
)
def test_split_is_dkimpys_parse(raw: bytes) -> None:
    _same(raw)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=40))
def test_split_is_dkimpys_parse_on_any_mail(pieces: list[bytes]) -> None:
    _same(b"".join(pieces))
