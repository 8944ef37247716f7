"""The fast path for reading mail (``mime_fast``) against the standard library's parser.

Both paths must give the same decision, reason, documents (bytes, names, kinds) and skipped parts,
and the same parsed message, on every corpus mail (also ``../shared/corpus`` when it is there),
on mails the property tests generate and mutate, and on the hostile mails. Where the fast path
takes a mail, its message tree must be the standard parser's, field by field.
"""

from __future__ import annotations

import base64
import quopri
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy as email_policy
from email.message import Message
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
import test_hostile as hostile
from hostile_samples import deep_mime
from hypothesis import given, settings
from hypothesis import strategies as st
from test_properties import (
    POLICIES,
    PROPERTY,
    Mutation,
    Recipe,
    builder_mails,
    corpus_mail,
    dictionary_mutations,
    mutate,
    mutations,
    samples,
)

from builders import Attachment, make_forward, make_mail, make_nested_mail, make_sized_pdf
from corpus import CORPUS
from invoice_inbox.pipeline import mime, mime_fast
from invoice_inbox.pipeline.decide import Decision, Policy, decide

SHARED_CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
STDLIB = BytesParser(policy=email_policy.compat32)
PDF = hostile.PDF


@contextmanager
def fast_path(on: bool) -> Iterator[None]:
    before = mime.FAST
    mime.FAST = on
    try:
        yield
    finally:
        mime.FAST = before


def outcome(d: Decision) -> tuple[Any, ...]:
    """Everything a decision says, documents down to their bytes."""
    documents = [
        (x.filename, x.media_type, x.kind, x.data, x.damaged, x.iban, x.einvoice, x.rule)
        for x in d.documents
    ]
    origins = [(x.origin_sender, x.origin_date) for x in d.documents]
    return (d.verdict, d.reason, d.headers, d.hits, d.misses, d.skipped, d.rule, documents, origins)


def parsed(raw: bytes) -> object:
    try:
        return mime.parse(raw)
    except mime.MessageTooComplex as exc:
        return ("too complex", str(exc))


def assert_same(raw: bytes, policies: tuple[Policy, ...] = POLICIES) -> None:
    """Both paths read *raw* alike: headers, parsed message, and the decision per policy."""
    results = []
    for on in (False, True):
        with fast_path(on):
            results.append(
                (mime.parse_headers(raw), parsed(raw), [outcome(decide(raw, p)) for p in policies])
            )
    standard, fast = results
    assert fast[0] == standard[0], "headers differ"
    assert fast[1] == standard[1], "parsed messages differ"
    assert fast[2] == standard[2], "decisions differ"
    tree = mime_fast.message(raw)
    if tree is not None:
        assert as_tree(tree) == as_tree(STDLIB.parsebytes(raw))
    head = mime_fast.read_head(mime.header_block(raw))
    if head is not None:  # continuing from the header block read for the envelope: the same
        continued = mime_fast.message(raw, head)
        assert (None if continued is None else as_tree(continued)) == (
            None if tree is None else as_tree(tree)
        )


def as_tree(msg: Message) -> tuple[Any, ...]:
    """A message as the parser left it: headers, envelope, preamble, epilogue, default type,
    defects and the payload (the parts, recursively)."""
    # what the parser stored: get_payload() would decode 8-bit text by the declared charset,
    # which raises for some (a NUL in its name), on both trees alike
    payload = msg._payload
    if isinstance(payload, list):
        payload = [as_tree(p) for p in payload]
    defects = [type(d).__name__ for d in msg.defects]
    return (
        msg._headers,  # what the parser stored, before any decoding
        msg.get_unixfrom(),
        msg.preamble,
        msg.epilogue,
        msg.get_default_type(),
        defects,
        payload,
    )


def corpus_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.eml"))


# -- the fast path is on, and taken by ordinary mail -----------------------------------------


def test_the_fast_path_is_on_by_default() -> None:
    assert mime.FAST is True


def benchmark_like_mail() -> bytes:
    return make_mail(
        subject="Invoice 4711",
        html="<p>Please find the invoice attached.</p>",
        attachments=[Attachment("INV-4711.pdf", make_sized_pdf(36_000))],
    )


@pytest.mark.parametrize("crlf", [True, False])
def test_ordinary_mails_take_the_fast_path(crlf: bool) -> None:
    pdf = make_sized_pdf(2_000)
    mails = [
        benchmark_like_mail(),
        make_mail(attachments=[Attachment("a.pdf", pdf)], crlf=crlf),
        make_nested_mail(inner="related", pdf=pdf, crlf=crlf),
        make_forward(make_mail(attachments=[Attachment("a.pdf", pdf)]), crlf=crlf),
        b"From mbox@host Mon Mar  4 10:00:00 2024\n" + make_mail(crlf=crlf),
    ]
    for raw in mails:
        assert mime_fast.message(raw) is not None
        assert mime_fast.header_message(mime.header_block(raw)) is not None
        assert_same(raw, (Policy(),))


ODD = {
    "lone CR": b"From: a@b.example\r\nSubject: x\rY\r\n\r\nbody\r\n",
    "no empty line after the headers": b"From: a@b.example\r\nnot a header\r\n",
    "first line a continuation": b" x\r\nFrom: a@b.example\r\n\r\nbody",
    "no start boundary": b'Content-Type: multipart/mixed; boundary="b"\r\n\r\nnone\r\n',
    "no close boundary": b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n\r\nx\r\n',
    "two boundary lines": b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n--b\r\n'
    b"\r\nx\r\n--b--\r\n",
    "no boundary": b"Content-Type: multipart/mixed\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n",
    "a line of two boundaries": b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
    b'Content-Type: multipart/mixed; boundary="b--"\r\n\r\n--b--\r\n\r\nx\r\n--b----\r\n--b--\r\n',
    "digest": b'Content-Type: multipart/digest; boundary="b"\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n',
    # the inner part ends at the outer boundary line, before its own close: no close for "c"
    "an outer boundary inside an inner part": b'Content-Type: multipart/mixed; boundary="b"\r\n'
    b'\r\n--b\r\nContent-Type: multipart/mixed; boundary="c"\r\n\r\n--c\r\n\r\nx\r\n--cc\r\n'
    b"--b\r\ny\r\n--c--\r\n--b--\r\n",
    "encoded multipart": b'Content-Type: multipart/mixed; boundary="b"\r\n'
    b"Content-Transfer-Encoding: base64\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n",
    "two envelope lines": b"From a@b Mon Mar  4 10:00:00 2024\r\n" * 2 + b"A: 1\r\n\r\nbody\r\n",
    "nested too deep": deep_mime(mime_fast.MAX_DEPTH + 1, PDF),
}


@pytest.mark.parametrize("raw", ODD.values(), ids=ODD.keys())
def test_mails_the_scan_does_not_rebuild_go_to_the_standard_parser(raw: bytes) -> None:
    assert mime_fast.message(raw) is None
    assert_same(raw)


LONE_CR_HEAD = b'From: a@b.example\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
# where a lone CR is (it ends a line for the feed parser), and whether the scan takes the mail
LONE_CR = {
    "in a body": (b"\r\nline\rmore\r\n--b--\r\n", True),
    "in a body before a line of dashes": (b"\r\nx\r--c\r\n--b--\r\n", True),
    "before a boundary": (b"\r\nx\r--b\r\ny\r\n--b--\r\n", False),
    "ending a boundary line": (b"\r\nx\r\n--b\r\r\ny\r\n--b--\r\n", False),
    "in a part's headers": (b"A: 1\rB: 2\r\n\r\nx\r\n--b--\r\n", False),
    "as a part's empty line": (b"A: 1\r\n\rx\r\n--b--\r\n", False),
}


@pytest.mark.parametrize("name", LONE_CR)
def test_a_lone_cr_gives_up_only_where_it_ends_a_line_that_counts(name: str) -> None:
    rest, taken = LONE_CR[name]
    raw = LONE_CR_HEAD + rest
    assert (mime_fast.message(raw) is not None) is taken
    assert_same(raw, (Policy(),))


# -- the corpus ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", corpus_files(CORPUS), ids=lambda p: p.name)
def test_every_corpus_mail_reads_the_same(path: Path) -> None:
    assert_same(path.read_bytes())


def test_every_shared_corpus_mail_reads_the_same() -> None:
    if not SHARED_CORPUS.is_dir():
        pytest.skip(f"no shared corpus at {SHARED_CORPUS} (it is not there in CI)")
    files = corpus_files(SHARED_CORPUS)
    assert files
    for path in files:
        assert_same(path.read_bytes())


# -- generated and mutated mails -------------------------------------------------------------

EQUIVALENCE = settings(PROPERTY, max_examples=150)


@EQUIVALENCE
@given(recipe=builder_mails(), policy=st.sampled_from(POLICIES))
def test_generated_mails_read_the_same(recipe: Recipe, policy: Policy) -> None:
    assert_same(recipe.build(), (policy,))


@EQUIVALENCE
@given(
    recipe=st.one_of(builder_mails(), corpus_mail()),
    steps=st.lists(st.one_of(mutations, dictionary_mutations), min_size=1, max_size=8),
    policy=st.sampled_from(POLICIES),
)
def test_mutated_mails_read_the_same(
    recipe: Recipe | bytes, steps: list[Mutation], policy: Policy
) -> None:
    raw = recipe.build() if isinstance(recipe, Recipe) else recipe
    assert_same(mutate(raw, steps), (policy,))


@EQUIVALENCE
@given(raw=st.binary(max_size=2048))
def test_random_bytes_read_the_same(raw: bytes) -> None:
    assert_same(raw, (Policy(),))


BOUNDARY_PIECES = (
    b"--b", b"--b--", b"--c", b"--c--", b"\r\n", b"\n", b" ", b"\t", b"x", b"Content-Type: "
    b'multipart/mixed; boundary="c"\r\n', b"Content-Type: message/rfc822\r\n", b"\r\n\r\n",
    b"From x\r\n", b"A: 1\r\n", b" cont\r\n", b"\r",
)  # fmt: skip


@EQUIVALENCE
@given(pieces=st.lists(st.sampled_from(BOUNDARY_PIECES), max_size=40))
def test_boundary_soup_reads_the_same(pieces: list[bytes]) -> None:
    """Boundary lines, nested multiparts, headers and line breaks in any order."""
    head = b'From: a@supplier.example\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
    assert_same(head + b"".join(pieces), (Policy(),))


@EQUIVALENCE
@given(recipe=builder_mails(), keep=st.lists(st.booleans(), min_size=1, max_size=64))
def test_mixed_line_breaks_read_the_same(recipe: Recipe, keep: list[bool]) -> None:
    """CRLF and LF in one mail: the n-th line break stays CRLF when ``keep[n % len(keep)]``."""
    lines = recipe.build().replace(b"\r\n", b"\n").split(b"\n")
    breaks = [b"\r\n" if keep[n % len(keep)] else b"\n" for n in range(len(lines) - 1)]
    raw = b"".join(line + end for line, end in zip(lines, breaks, strict=False)) + lines[-1]
    assert_same(raw, (Policy(),))


# -- hostile mails ---------------------------------------------------------------------------


def hostile_mails() -> dict[str, bytes]:
    pdf = PDF
    mails = {
        "deep MIME 50": hostile.deep_multipart(50),
        "deep MIME 1000": hostile.deep_multipart(1000),
        "forwards 3 deep": hostile.forward_chain(3),
        "forwards 30 deep": hostile.forward_chain(30),
        "more parts than the limit": hostile.raw_mail(
            *[b"Content-Type: text/plain\r\n\r\nx\r\n"] * (mime.MAX_PARTS + 1)
        ),
        "cid logo": hostile.html_with_cid_logo(None),
        "text claiming base64": (
            CORPUS / "enmime__mime-bad-content-transfer-encoding.eml"
        ).read_bytes(),
        "8-bit file name": hostile.raw_mail(hostile.part(b'filename="Preis\xfcbersicht.pdf"', pdf)),
        "8-bit subject": hostile.raw_mail(subject=b"Rechnung f\xfcr M\xe4rz"),
    }
    for cte, encode in (("base64", hostile.crlf_base64), ("quoted-printable", None)):
        inner = make_mail(attachments=[Attachment("x.pdf", pdf)])
        encoded = encode(inner) if encode else quopri.encodestring(inner)
        mails[f"forward as {cte}"] = hostile.raw_mail(
            b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: "
            + cte.encode()
            + b"\r\n\r\n"
            + encoded
        )
    for name, params in hostile.HOSTILE_PARAMS.items():
        mails[f"name: {name}"] = hostile.raw_mail(hostile.part(params, pdf))
    for name, encoded in {**hostile.BROKEN, **hostile.DAMAGED_BUT_DECODED}.items():
        mails[f"base64: {name}"] = hostile.broken_base64_mail(encoded)
    with_pdf = make_mail(attachments=[Attachment("a.pdf", pdf)])
    for header, value in (
        (b"Subject", b"=?x-no-such-charset?q?Invoice?="),
        (b"Subject", b"x" * 100_000),
        (b"From", b"<" * 10_000),
        (b"Content-Disposition", b"attachment; filename*=utf\x008''a.pdf"),
        (b"Content-Type", b"multipart/mixed; boundary*=utf-8''%E2%82%AC\""),
    ):
        mails[f"header {header.decode()}: {value[:20]!r}"] = hostile.with_header(
            with_pdf, header, value
        )
    for index, sample in enumerate(samples()):
        mails[f"sample {index}"] = make_mail(
            attachments=[Attachment("s.bin", sample, "application/octet-stream")]
        )
    return mails


HOSTILE = hostile_mails()


@pytest.mark.parametrize("raw", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_mails_read_the_same(raw: bytes) -> None:
    assert_same(raw)


def test_a_big_mail_reads_the_same() -> None:
    """Over ``mime_large.MIN_MAIL``: its big body is set aside, the rest scanned."""
    pdf = make_sized_pdf(5 * 1024 * 1024)
    raw = make_mail(attachments=[Attachment("big.pdf", pdf)])
    assert_same(raw, (Policy(),))
    assert mime_fast.message(raw) is not None


def test_a_base64_forward_is_scanned_after_decoding() -> None:
    inner = make_mail(attachments=[Attachment("x.pdf", PDF)])
    raw = hostile.raw_mail(
        b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(inner).replace(b"\n", b"\r\n")
    )
    assert mime_fast.message(inner) is not None
    assert_same(raw)


@given(st.lists(st.sampled_from([b"A" * 3000, b"xy\r\n" * 700, b"\xc3\xbc", b"\xff", b"\x80"])))
def test_the_text_of_a_mail_is_its_bytes_as_the_feed_parser_decodes_them(
    pieces: list[bytes],
) -> None:
    """8-bit bytes anywhere (one in a header, many in a body): the scan reads the same text."""
    raw = b"".join(pieces)
    assert mime_fast._as_text(raw) == raw.decode("ascii", "surrogateescape")
