"""The DKIM body hash of a raw mail, read piece by piece: no copy of the whole body is made.

dkimpy hashes ``canonicalize_body(body)`` of the body as one bytes object: the body made with
CRLF line ends (a copy of the mail), then canonicalized (another, or three for relaxed), then
cut at ``l=`` (another). ``body_hash`` gives the same digest and canonical length from the raw
mail and the offset where its body starts, in pieces of about ``PIECE`` bytes (``RELAXED_PIECE``
for relaxed: ``re.sub`` holds a list of every stretch between two runs of white space), so a
50 MB mail costs a few hundred KB here, where dkimpy's relaxed ``re.sub`` over a whole body of
short words took many times the body. Byte for byte what dkimpy 1.1 hashes (RFC 6376 §3.4.3, §3.4.4,
§3.7):

- line ends: every LF not after a CR becomes CRLF (a lone CR stays);
- simple: the empty lines at the end are dropped, and the body ends with one CRLF (an empty
  body is CRLF);
- relaxed: runs of spaces and tabs before a CRLF are dropped, every other run becomes one
  space, the empty lines at the end are dropped, and a non-empty result ends with CRLF (an
  empty one stays empty);
- ``l=``: only the first ``limit`` canonical bytes are hashed; the canonical length is given
  so that the caller can tell that text was added after them.

A piece never ends in a space, a tab or a CR, so no run of white space and no CRLF is split
between two pieces, and each piece is canonicalized on its own; the CRLFs that end a piece are
held back until more text follows (they may be the body's trailing empty lines).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Protocol

PIECE = 64 * 1024  # bytes of raw mail read at a time
RELAXED_PIECE = 16 * 1024  # relaxed: re.sub holds a list of every stretch between matches
_BACK = 4096  # how far back a cut looks for a byte that is not white space
_BLANK = b" \t\r"
_NOT_BLANK = re.compile(rb"[^ \t\r]")
_WSP_BEFORE_CRLF = re.compile(rb"[\t ]+\r\n")
_WSP = re.compile(rb"[\t ]+")
_PAIRS_AT_ONCE = 32 * 1024  # held-back CRLFs hashed this many at a time


class Hash(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...

    def digest(self) -> bytes: ...


def pieces(raw: bytes, start: int, size: int = PIECE) -> Iterator[bytes]:
    """``raw[start:]`` with CRLF line ends (as dkimpy reads a body), in pieces of about *size*
    bytes, none of which ends in a space, tab or CR (but the last)."""
    end = len(raw)
    pos = start
    while pos < end:
        cut = min(pos + size, end)
        if cut < end:
            back, floor = cut, max(pos, cut - _BACK)
            while back > floor and raw[back - 1] in _BLANK:
                back -= 1
            if back > pos and raw[back - 1] not in _BLANK:
                cut = back
            else:  # white space as far as we looked back: cut after the next other byte
                found = _NOT_BLANK.search(raw, cut)
                cut = found.end() if found else end
        piece = raw[pos:cut]
        if piece.count(b"\n") != piece.count(b"\r\n"):
            piece = piece.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        yield piece
        pos = cut


def _trailing_crlfs(piece: bytes) -> int:
    """How many CRLFs end *piece* (CRLF line ends: every LF follows a CR)."""
    if not piece.endswith(b"\n"):
        return 0
    tail = piece[-64:]  # the line ends at the end, read without copying the piece ...
    if not tail.rstrip(b"\r\n"):  # ... unless they are more than that
        tail = piece
    tail = tail[len(tail.rstrip(b"\r\n")) :]
    lone = tail.rfind(b"\r\r")  # a CR that ends no line: the CRLFs after it are the trailing ones
    return (len(tail) - lone - 1) // 2 if lone >= 0 else len(tail) // 2


class _Sink:
    """The canonical body as it is made: its first *limit* bytes hashed, all of it counted."""

    def __init__(self, hasher: Hash, limit: int | None) -> None:
        self.hasher, self.limit = hasher, limit
        self.length = 0

    def add(self, data: bytes | memoryview) -> None:
        if self.limit is None:
            self.hasher.update(data)
        elif self.length < self.limit:
            room = self.limit - self.length
            self.hasher.update(data if len(data) <= room else data[:room])
        self.length += len(data)

    def add_crlfs(self, count: int) -> None:
        while count > 0:
            now = min(count, _PAIRS_AT_ONCE)
            self.add(b"\r\n" * now)
            count -= now


def body_hash(
    raw: bytes,
    start: int,
    *,
    relaxed: bool,
    new_hash: Callable[[], Hash],
    limit: int | None = None,
    size: int | None = None,
) -> tuple[bytes, int]:
    """(the digest of the canonical body of ``raw[start:]``, cut at *limit* bytes, and the
    canonical body's whole length), as dkimpy computes them (see the module docstring)."""
    sink = _Sink(new_hash(), limit)
    held = 0  # CRLFs held back: empty lines that may end the body
    for piece in pieces(raw, start, size or (RELAXED_PIECE if relaxed else PIECE)):
        if relaxed and (b" " in piece or b"\t" in piece):  # base64 has none: nothing to do
            piece = _WSP.sub(b" ", _WSP_BEFORE_CRLF.sub(b"\r\n", piece))
        crlfs = _trailing_crlfs(piece)
        text = memoryview(piece)[: len(piece) - 2 * crlfs]
        if text:
            sink.add_crlfs(held)
            sink.add(text)
            held = 0
        held += crlfs
    if sink.length or not relaxed:  # relaxed: an empty body stays empty, simple: it is CRLF
        sink.add(b"\r\n")
    return sink.hasher.digest(), sink.length
