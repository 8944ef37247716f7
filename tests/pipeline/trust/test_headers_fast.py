"""``trust.headers``: the fast paths read every header block and From value exactly as the
line-by-line reading and ``email.utils.getaddresses`` do (the reference copies below are the
readers they replaced): generated blocks and From values, the corpus mails, and odd cases."""

from __future__ import annotations

import re
from email.utils import getaddresses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builders import make_mail
from corpus import CORPUS
from invoice_inbox.pipeline.trust.authenticate import FIELDS
from invoice_inbox.pipeline.trust.headers import (
    MAX_HEADER_BYTES,
    Headers,
    from_addresses,
    head_end,
    read_headers,
)

_FIELD = re.compile(rb"^([!-9;-~]+)[ \t]*:(.*)$")


def reference_headers(raw: bytes) -> tuple[tuple[str, str], ...]:
    """The header fields as sender authentication read them before the fast path."""
    end = re.search(rb"\r?\n\r?\n", raw[:MAX_HEADER_BYTES])
    head = raw[: end.start()] if end else raw[:MAX_HEADER_BYTES]
    fields: list[tuple[str, str]] = []
    for line in re.split(rb"\r?\n", head):
        if line[:1] in (b" ", b"\t"):
            if fields:
                name, value = fields[-1]
                fields[-1] = (name, value + " " + line.strip().decode("utf-8", "replace"))
            continue
        match = _FIELD.match(line)
        if match:
            value = match.group(2).strip().decode("utf-8", "replace")
            fields.append((match.group(1).decode("ascii"), value))
    return tuple(fields)


def reference_from(values: list[str]) -> list[str]:
    return [addr for value in values for _, addr in getaddresses([value]) if addr]


def same(raw: bytes) -> None:
    headers = read_headers(raw)
    assert headers.fields == reference_headers(raw)
    for name in {n.lower() for n, _ in headers.fields} | {"from", "dkim-signature"}:
        want = [v for n, v in headers.fields if n.lower() == name]
        assert headers.get_all(name.upper()) == want
        assert headers.first(name) == (want[0] if want else None)
    assert from_addresses(headers) == reference_from(headers.get_all("From"))
    for names in (FIELDS, {"x-odd", "from"}, set()):
        kept = tuple((n, v) for n, v in headers.fields if n.lower() in names)
        assert read_headers(raw, names).fields == kept


# lines of a header block: fields, folded lines, lines that are no field, odd line ends
_LINE = st.one_of(
    st.sampled_from(
        [
            b"From: Billing <billing@supplier.test>",
            b"From:billing@supplier.test",
            b"DKIM-Signature: v=1; a=rsa-sha256; d=supplier.test;",
            b"\tb=abc",
            b" h=from:to",
            b"   ",
            b"\t",
            b"not a field",
            b"X-Odd : value ",
            b"Subject: caf\xc3\xa9 \xff\xfe",
            b"Bad\x01Name: x",
            b":",
            b"\r",
            b"",
        ]
    ),
    st.binary(max_size=30),
)
_END = st.sampled_from([b"\n", b"\r\n", b"\r", b"\r\r\n"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_LINE, _END), max_size=12), st.sampled_from([b"", b"\r\n", b"\n"]))
def test_generated_header_blocks_read_as_before(
    lines: list[tuple[bytes, bytes]], tail: bytes
) -> None:
    raw = b"".join(line + end for line, end in lines) + tail + b"body\r\n\r\nmore\n\nend"
    same(raw)


def test_corpus_mails_read_as_before() -> None:
    mails = sorted(CORPUS.glob("*.eml"))
    assert len(mails) >= 20, f"expected the corpus at {CORPUS}"
    for path in mails:
        same(path.read_bytes())


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\n\nFrom: a@b.test\n",
        b"\r\n\r\nFrom: a@b.test\n",
        b"From: a@b.test",  # no body
        b"From: a@b.test\n",  # no body, a final line end
        b"From: a@b.test\r\nnot a field\r\n\tfolded after it\r\n\r\nbody",
        b" orphan\r\nFrom: a@b.test\r\n\r\n",
        b"From:\r\n a@b.test\r\n\r\n",  # an empty first line, then the value
        b"From: a@b.test\r\n\r\r\nTo: x@y.test\r\n\r\n",
        b"From: a@b.test\n\r\n",
        b"X: 1\rFrom: a@b.test\r\n\r\n",
        make_mail(from_="Billing <billing@supplier.test>", subject="Invoice 1"),
    ],
)
def test_odd_blocks_read_as_before(raw: bytes) -> None:
    same(raw)


@pytest.mark.parametrize("size", [10, 1000, MAX_HEADER_BYTES - 2, MAX_HEADER_BYTES + 10])
def test_head_end_is_the_first_empty_line(size: int) -> None:
    for blank in (b"\n\n", b"\r\n\r\n", b"\n\r\n", b"\r\n\n"):
        raw = b"X: " + b"a" * size + blank + b"body\n\nmore"
        found = re.search(rb"\r?\n\r?\n", raw[:MAX_HEADER_BYTES])
        assert head_end(raw) == (found.start() if found else -1)


_ADDRESS_PIECES = st.sampled_from(
    [
        "billing@supplier.test",
        "a.b@c.d",
        "a..b@c.d",
        ".a@c.d",
        "a.@c.d",
        "a@b",
        "a@b.",
        "a@.b",
        "a@-b.c",
        "<",
        ">",
        "<a@b.test>",
        '"',
        '"Billing, Inc"',
        "\\",
        "(",
        ")",
        ",",
        ";",
        ":",
        "@",
        ".",
        " ",
        "\t",
        "[",
        "]",
        "=?utf-8?q?billing=40supplier.test?=",
        "Billing",
        "Müller",
        "x",
        "<>",
        "é@f.test",
        "+",
        "#",
    ]
)


@settings(max_examples=1000, deadline=None)
@given(st.lists(_ADDRESS_PIECES, max_size=8))
def test_generated_from_values_give_the_addresses_getaddresses_gives(pieces: list[str]) -> None:
    value = "".join(pieces)
    assert from_addresses(Headers((("From", value),))) == reference_from([value])


@settings(max_examples=1000, deadline=None)
@given(
    st.lists(_ADDRESS_PIECES, max_size=4),
    st.sampled_from(["<", " <", "<<", '" <', ""]),
    _ADDRESS_PIECES,
    st.sampled_from([">", "> ", ">>", ""]),
)
def test_generated_name_and_address_give_what_getaddresses_gives(
    name: list[str], opening: str, address: str, closing: str
) -> None:
    value = "".join(name) + opening + address + closing
    assert from_addresses(Headers((("From", value),))) == reference_from([value])


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x17F), max_size=40))
def test_any_from_value_gives_the_addresses_getaddresses_gives(value: str) -> None:
    assert from_addresses(Headers((("From", value),))) == reference_from([value])


@pytest.mark.parametrize(
    "value",
    [
        "Billing <billing@supplier.test>",
        '"Acme, Inc." <billing@supplier.test>',
        "billing@supplier.test",
        "  <billing@supplier.test>  ",
        "=?utf-8?q?billing=40evil.test?= <billing@supplier.test>",
        "billing@supplier.test <other@evil.test>",
        '"billing@supplier.test" <other@evil.test>',
        "a@b.test, c@d.test",
        "Group: a@b.test, c@d.test;",
        "a@b.test (comment)",
        "Billing<billing@supplier.test>",
        "x, <billing@supplier.test>",
        "Billing, Inc <billing@supplier.test>",
        "J. Smith <billing@supplier.test>",
        "Müller <billing@supplier.test>",
        "Billing <billing@supplier.test>, other@evil.test",
        "<billing@supplier.test",
    ],
)
def test_from_forms_give_the_addresses_getaddresses_gives(value: str) -> None:
    headers = read_headers(f"From: {value}\r\nFrom: x@y.test\r\n\r\nbody".encode())
    assert from_addresses(headers) == reference_from([value, "x@y.test"])
