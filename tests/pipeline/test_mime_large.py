"""Big base64 bodies are decoded from the raw mail, not by the ``email`` parser (mime_large).

The fast path must give exactly the parts of the usual parse, for valid, mutated, corpus and
hostile mails (here with the size thresholds lowered so every small mail takes it), and must
keep a big attachment's parse within a small multiple of the mail's size.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import pytest
from hostile_samples import MIB, deep_mime
from hypothesis import given
from hypothesis import strategies as st
from test_properties import (
    PROPERTY,
    Recipe,
    builder_mails,
    corpus_mail,
    corpus_mails,
    dictionary_mutations,
    mutate,
    mutations,
)

from builders import Attachment, make_forward, make_mail, make_sized_pdf
from invoice_inbox.pipeline import mime, mime_large


@contextmanager
def thresholds(min_mail: int, min_body: int) -> Iterator[None]:
    with mock.patch.multiple(mime_large, MIN_MAIL=min_mail, MIN_BODY=min_body):
        yield


def both_ways(raw: bytes) -> tuple[object, object]:
    """The parse with every base64 body of 8+ bytes set aside, and the usual parse; each is the
    result or the exception it raised."""
    results = []
    for min_mail, min_body in ((0, 8), (10**12, 10**12)):
        with thresholds(min_mail, min_body):
            try:
                results.append(mime.parse(raw))
            except mime.MessageTooComplex as e:
                results.append(("too complex", str(e)))
    return results[0], results[1]


def takes_fast_path(raw: bytes) -> bool:
    aside = mime_large.set_aside(raw, 8)
    if aside is None:
        return False
    mime._parse(aside.mail, aside)
    return aside.all_used_once()


@PROPERTY
@given(recipe=builder_mails())
def test_builder_mails_parse_the_same(recipe: Recipe) -> None:
    fast, slow = both_ways(recipe.build())
    assert fast == slow


@PROPERTY
@given(
    recipe=st.one_of(builder_mails(), corpus_mail()),
    steps=st.lists(st.one_of(mutations, dictionary_mutations), min_size=1, max_size=6),
)
def test_mutated_mails_parse_the_same(recipe: Recipe | bytes, steps: list) -> None:
    raw = recipe.build() if isinstance(recipe, Recipe) else recipe
    fast, slow = both_ways(mutate(raw, steps))
    assert fast == slow


def test_corpus_mails_parse_the_same() -> None:
    fast_ones = 0
    for raw in corpus_mails():
        fast, slow = both_ways(raw)
        assert fast == slow
        fast_ones += takes_fast_path(raw)
    assert fast_ones >= 3  # the corpus has base64 attachments: the comparison is not vacuous


PDF = make_sized_pdf(64 * 1024)
B64_NOISE = b"QUJD\r\n" * 50  # base64-looking lines


@pytest.mark.parametrize(
    "raw",
    [
        make_mail(attachments=[Attachment("a.pdf", PDF)]),
        make_mail(attachments=[Attachment("a.pdf", PDF)], crlf=False),
        make_mail(attachments=[Attachment("a.pdf", PDF), Attachment("b.pdf", PDF[:-1])]),
        make_forward(make_mail(attachments=[Attachment("a.pdf", PDF)]), from_="x@y.example"),
        make_forward(
            make_forward(make_mail(attachments=[Attachment("a.pdf", PDF)]), from_="a@b.example"),
            from_="c@d.example",
        ),
    ],
    ids=["crlf", "lf", "two", "forward", "forward2"],
)
def test_valid_mails_take_the_fast_path_with_the_same_parts(raw: bytes) -> None:
    assert takes_fast_path(raw)
    fast, slow = both_ways(raw)
    assert fast == slow


HOSTILE = {
    # the closing boundary is missing: the body runs to the end
    "no closing boundary": b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n" + B64_NOISE,
    # the same boundary twice, an inner part that claims the outer boundary
    "duplicated boundary": b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
    b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n" + B64_NOISE + b"--b--\r\n--b--\r\n",
    # a "--" line that is no boundary ends our run but not the parser's part
    "boundary-like line": b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n"
    + B64_NOISE
    + b"--nope\r\n"
    + B64_NOISE
    + b"--b--\r\n",
    # base64 lines in the headers of a part (no blank line before them)
    "body in headers": b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
    b"Content-Transfer-Encoding: base64\r\n" + B64_NOISE + b"\r\n" + B64_NOISE + b"--b--\r\n",
    # a message/rfc822 part sent base64-encoded: its text is re-parsed, not a leaf
    "encoded forward": b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
    b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    + b"U3ViamVjdDogaGkNCg0KaGVsbG8NCg==\r\n" * 20
    + b"--b--\r\n",
    # a base64 run under another transfer encoding stays text
    "7bit label": b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
    b"Content-Transfer-Encoding: 7bit\r\n\r\n" + B64_NOISE + b"--b--\r\n",
    "trailing space in the label": b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
    b"Content-Transfer-Encoding: base64 \r\n\r\n" + B64_NOISE + b"--b--\r\n",
    "bad padding": b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    + B64_NOISE
    + b"QUI\r\n",
    "1000 levels": deep_mime(1000, PDF),
    "too many parts": b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
    + b"--b\r\nContent-Transfer-Encoding: base64\r\n\r\nQUJD\r\n" * (mime.MAX_PARTS + 1)
    + b"--b--\r\n",
}


@pytest.mark.parametrize("raw", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_structure_parses_the_same(raw: bytes) -> None:
    fast, slow = both_ways(raw)
    assert fast == slow


def test_a_40_mb_attachment_parses_within_twice_the_mail_size() -> None:
    """The usual parse allocated about 8 times the mail (decoded text, a line object per line,
    the lines joined again); the big body is now decoded from the raw bytes once."""
    pdf = make_sized_pdf(40 * MIB)
    raw = make_mail(attachments=[Attachment("scan.pdf", pdf)])
    tracemalloc.start()
    try:
        parsed = mime.parse(raw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [p.data for p in parsed.parts if p.filename == "scan.pdf"] == [pdf]
    assert peak < 2 * len(raw), f"{peak / MIB:.0f} MB for a {len(raw) / MIB:.0f} MB mail"
