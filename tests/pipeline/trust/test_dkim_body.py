"""The DKIM body hash read piece by piece (``dkim_body``, used by ``dkim_check``) is byte for
byte dkimpy's: the same digest and canonical length as dkimpy's ``canonicalize_body`` of its
own reading of the body, on any body (CR, LF, CRLF, spaces and tabs, trailing empty lines)
cut into pieces of any size, on the corpus's signed mails, and the same verdict as dkimpy's
own verification on signed mail (relaxed/simple × relaxed/simple, with and without ``l=``).
A big mail is hashed without a copy of its body."""

from __future__ import annotations

import base64
import hashlib
import re
import tracemalloc

import dkim
import pytest
from dkim.canonicalization import CanonicalizationPolicy
from hypothesis import given, settings
from hypothesis import strategies as st
from trust_mail import mail, resolver, supplier_zone

from corpus import CORPUS
from harness.dkim_keys import DkimKey
from harness.dns_server import DnsServer
from invoice_inbox.pipeline.trust.dkim_body import body_hash
from invoice_inbox.pipeline.trust.dkim_check import (
    check_arc,
    check_dkim,
    header_block,
    split_message,
)

PIECES = [b"a", b"xy", b" ", b"\t", b"  \t", b"\r", b"\n", b"\r\n", b"\r\n\r\n", b"=\r\n"]
C_VALUES = [b"simple/simple", b"simple/relaxed", b"relaxed/simple", b"relaxed/relaxed"]
HEAD = b"From: a@supplier.test\r\nSubject: x\r\n\r\n"


def _dkimpys(raw: bytes, c: bytes, limit: int | None) -> tuple[bytes, int]:
    """What dkimpy hashes: its parse of the whole mail, canonicalized, cut at l=."""
    _, body = dkim.rfc822_parse(raw)
    canonical = CanonicalizationPolicy.from_c_value(c).canonicalize_body(body)
    cut = canonical if limit is None else canonical[:limit]
    return hashlib.sha256(cut).digest(), len(canonical)


def _ours(raw: bytes, c: bytes, limit: int | None, size: int) -> tuple[bytes, int]:
    _, start = header_block(raw)
    relaxed = c.endswith(b"/relaxed")
    return body_hash(raw, start, relaxed=relaxed, new_hash=hashlib.sha256, limit=limit, size=size)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\r\n",
        b"\r\n\r\n\r\n",
        b"text",
        b"text\r\n",
        b"text\r\n\r\n\r\n",  # trailing empty lines
        b"text\n\n\n",  # bare LF
        b"mixed\nends\r\nhere\r\r\n\r\n",  # a CR before the CRLF
        b"ends in a CR\r",
        b"spaces \t \r\n  at\t\tthe end  \r\n\r\n",
        b"  \r\n\t\r\n",  # only white space: relaxed makes it empty
        b" ",
        b"a" + b" " * 9000 + b"b\r\n" + b"\r\n" * 9000,  # runs longer than a piece
    ],
)
@pytest.mark.parametrize("c", [b"simple/simple", b"simple/relaxed"])
@pytest.mark.parametrize("limit", [None, 0, 3, 5000])
def test_body_hash_is_dkimpys(body: bytes, c: bytes, limit: int | None) -> None:
    raw = HEAD + body
    for size in (1, 2, 3, 7, 64, 4096, 1 << 20):
        assert _ours(raw, c, limit, size) == _dkimpys(raw, c, limit), size


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.sampled_from(PIECES), max_size=40),
    st.sampled_from([b"simple/simple", b"simple/relaxed"]),
    st.one_of(st.none(), st.integers(0, 60)),
    st.integers(1, 12),
    st.booleans(),
)
def test_body_hash_is_dkimpys_on_any_body(
    pieces: list[bytes], c: bytes, limit: int | None, size: int, lf_head: bool
) -> None:
    head = HEAD.replace(b"\r\n", b"\n") if lf_head else HEAD
    raw = head + b"".join(pieces)
    assert _ours(raw, c, limit, size) == _dkimpys(raw, c, limit)


def test_a_mail_without_a_body_or_a_header() -> None:
    for raw in (b"From: a@b.test\r\nSubject: x", b"From: a@b.test\r\n", b"\r\nbody only\n"):
        for c in C_VALUES:
            assert _ours(raw, c, None, 3) == _dkimpys(raw, c, None)


def _signatures(raw: bytes) -> list[dict[bytes, bytes]]:
    try:
        headers, _ = split_message(raw)
    except Exception:  # dkimpy cannot read its header (one starting with a space)
        return []
    return [
        dkim.util.parse_tag_value(value)
        for name, value in headers
        if name.lower() == b"dkim-signature"
    ]


def test_the_corpus_signed_mails_hash_as_dkimpy_hashes_them() -> None:
    checked = intact = 0
    for path in sorted(CORPUS.glob("*.eml")):
        raw = path.read_bytes()
        if raw[:1] == b" ":  # a few start with a line of spaces: dkimpy reads them without it
            raw = raw.split(b"\n", 1)[-1]
        for sig in _signatures(raw):
            c = sig.get(b"c", b"simple/simple")
            limit = int(sig[b"l"]) if b"l" in sig else None
            new_hash = dkim.HASH_ALGORITHMS[sig[b"a"]]
            _, start = header_block(raw)
            ours = body_hash(
                raw, start, relaxed=c.endswith(b"/relaxed"), new_hash=new_hash, limit=limit
            )
            _, body = dkim.rfc822_parse(raw)
            canonical = CanonicalizationPolicy.from_c_value(c).canonicalize_body(body)
            cut = canonical if limit is None else canonical[:limit]
            assert ours == (new_hash(cut).digest(), len(canonical)), path.name
            checked += 1
            bh = base64.b64decode(re.sub(rb"\s+", b"", sig[b"bh"]))
            intact += ours[0] == bh
    assert checked >= 3
    assert intact >= 1  # a real signer's body hash, not only dkimpy's


BODIES = [
    "Hello,\r\nplease find invoice 2026-17 attached.\r\n",
    "Hello,  \t\r\nplease  find\tinvoice 2026-17 attached. \r\n\r\n\r\n\r\n",
    "no line end at the end",
    "",
]


def _dkimpy_passes(raw: bytes, dns_server: DnsServer) -> bool:
    def txt(name: bytes, timeout: float = 5) -> bytes | None:
        found = resolver(dns_server).lookup(name.decode().rstrip("."), "TXT")
        return found[0].encode() if found else None

    return bool(dkim.verify(raw, dnsfunc=txt))


def _sign(raw: bytes, key: DkimKey, c: tuple[bytes, bytes], *, length: bool = False) -> bytes:
    return (
        dkim.sign(raw, b"s1", b"supplier.test", key.private_pem, canonicalize=c, length=length)
        + raw
    )


@pytest.mark.parametrize("head", [b"simple", b"relaxed"])
@pytest.mark.parametrize("body_c", [b"simple", b"relaxed"])
@pytest.mark.parametrize("length", [False, True])
@pytest.mark.parametrize("lf", [False, True])
def test_check_dkim_agrees_with_dkimpy_on_signed_mail(
    dns_server: DnsServer, head: bytes, body_c: bytes, length: bool, lf: bool
) -> None:
    key = supplier_zone(dns_server)
    for body in BODIES:
        raw = mail(body=body)
        if lf:  # a mail stored with LF line ends
            raw = raw.replace(b"\r\n", b"\n")
        signed = _sign(raw, key, (head, body_c), length=length)
        variants = [(signed, "pass"), (signed + b"\r\n\r\n", "pass")]  # empty lines: the same
        if b"invoice" in signed:
            variants.append((signed.replace(b"invoice", b"1nvoice"), "fail"))
        added = signed + b"Our bank details changed.\r\n"
        for variant, expected in variants:
            [found] = check_dkim(variant, resolver(dns_server))
            assert found["result"] == expected, (body, found)
            assert _dkimpy_passes(variant, dns_server) is (expected == "pass")
        [found] = check_dkim(added, resolver(dns_server))
        assert found["result"] == "fail", (body, found)  # with l=, dkimpy may pass it: not we
        if not length:
            assert not _dkimpy_passes(added, dns_server)


def test_a_big_mail_is_hashed_without_a_copy_of_its_body(dns_server: DnsServer) -> None:
    key = supplier_zone(dns_server)
    line = base64.b64encode(bytes(range(256)) * 3)[:76] + b" \r\n"  # a space for relaxed
    raw = mail(body="") + line * (8 * 1024 * 1024 // len(line))
    signed = key.sign(raw)
    relaxed = _sign(raw, key, (b"relaxed", b"relaxed"))
    for mail_ in (signed, relaxed):
        check_dkim(mail_, resolver(dns_server))  # imports, the key cached
        tracemalloc.start()
        [found] = check_dkim(mail_, resolver(dns_server))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert found["result"] == "pass"
        assert peak < len(mail_) // 8, f"{peak} bytes for a {len(mail_)}-byte mail"


def test_check_arc_hashes_the_body_as_dkimpy_does(dns_server: DnsServer) -> None:
    sealer = DkimKey.generate("forwarder.test", "arc")
    sealer.publish(dns_server)
    checked = b"Authentication-Results: mx.forwarder.test; dkim=pass header.d=supplier.test\r\n"
    line = b"forwarded  by the\tAP list \r\n"  # relaxed/relaxed: white space rewritten
    for body in (line, line * (4 * 1024 * 1024 // len(line))):
        sealed = sealer.arc_seal(checked + mail(body=body.decode()), "mx.forwarder.test")
        changed = sealed.replace(b"AP list", b"AP 1ist", 1)
        for raw, cv in ((sealed, "pass"), (changed, "fail")):
            tracemalloc.start()
            found = check_arc(raw, resolver(dns_server))
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            assert found is not None and found["cv"] == cv, found
            assert found["cv"] == _dkimpy_arc(raw, dns_server)
            assert peak < max(len(raw) // 8, 1024 * 1024), f"{peak} bytes, {len(raw)}-byte mail"


def _dkimpy_arc(raw: bytes, dns_server: DnsServer) -> str:
    def txt(name: bytes, timeout: float = 5) -> bytes | None:
        found = resolver(dns_server).lookup(name.decode().rstrip("."), "TXT")
        return found[0].encode() if found else None

    cv, _, _ = dkim.arc_verify(raw, dnsfunc=txt)
    return str(cv.decode()).lower()
