"""The leaf parts of an ordinary multipart mail read straight from its bytes, without a tree.

``mime_fast`` builds the standard parser's ``Message`` tree, and ``mime`` then asks each leaf
for its fields through ``Message.get`` (about 30 calls a mail, each comparing every header
name lower-cased) and decodes its base64 from a ``str`` copy of the body: two thirds of reading
a 50 KB invoice mail. ``leaves`` scans the same bytes by the same rules as ``mime_fast._Scan``
(which mirrors the feed parser) and gives, for each leaf, the fields ``mime._leaf`` would read
from it: its declared type, file name, disposition, Content-ID, charset and decoded bytes.

It takes less than ``mime_fast``: a multipart mail (any depth up to ``MAX_DEPTH``) whose parts'
header lines are ASCII and read without a defect, and no forwarded mail (``message/*``); for
anything else it returns None and ``mime`` reads the mail as before. Within a mail it takes, a
leaf whose fields are not plain (RFC 2231 or quoted ``;`` in a parameter, base64 that is not
canonical, uuencode) is given as a ``Message`` built as ``mime_fast`` builds it, for ``mime``'s
own code. A part's header block is read once for a while (``_remembered_head``): a text part's,
or a supplier's attachment's, repeat from mail to mail. The equivalence with the standard
parser is tested with ``mime_fast``'s (tests/pipeline/test_mime_fast.py compares whole parsed
mails and decisions) and in tests/pipeline/test_mime_leaves.py.
"""

from __future__ import annotations

import binascii
import email.utils
import functools
import re
from email import policy
from email.message import Message
from typing import NamedTuple

from invoice_inbox.pipeline import mime_base64, mime_fast, mime_params
from invoice_inbox.pipeline.mime_fast import MAX_DEPTH
from invoice_inbox.pipeline.mime_text import decode_header_value

MAX_LEAVES = 4000  # more parts: ``mime`` counts them against its own limit

# email.feedparser.headerRE, on a line decoded as ASCII
_HEADER_LINE = re.compile(r"^(From |[\041-\071\073-\176]*:|[\t ])")
_LONE_CR = re.compile(rb"\r(?!\n)")
_EMPTY_LINE = re.compile(rb"\n\r?\n")
_COMPAT32 = policy.compat32
_UUENCODE = ("x-uuencode", "uuencode", "uue", "x-uue")


class Fields(NamedTuple):
    """What ``mime._leaf`` reads from a leaf part without defects."""

    content_type: str
    filename: str | None
    disposition: str | None
    data: bytes
    content_id: str | None
    charset: str | None


Leaf = Fields | Message


class _GiveUp(Exception):
    """The mail holds something not read here."""


class _NotPlain(Exception):
    """A leaf field that ``mime``'s own code reads from a ``Message``."""


def leaves(raw: bytes, top: Message, body: int) -> list[Leaf] | None:
    """The leaf parts of *raw*, in document order, or None when the mail is not read here.
    *top*: the mail's header fields as ``mime_fast.read_head`` read them; *body*: where its
    body starts."""
    ctype = top.get_content_type()
    if not ctype.startswith("multipart/") or ctype == "multipart/digest":
        return None
    try:
        scan = _Scan(raw)
        scan.multipart(top, body, (), 0)
    except _GiveUp:
        return None
    return scan.leaves


def _content_type(value: str | None) -> str:
    """``Message.get_content_type`` outside a multipart/digest."""
    if value is None:
        return "text/plain"
    ctype = value.partition(";")[0].strip().lower()
    return ctype if ctype.count("/") == 1 else "text/plain"


class _Scan:
    """The bytes of one mail, scanned as ``mime_fast._Scan`` scans its text."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.size = len(raw)
        self.leaves: list[Leaf] = []
        # the last boundary line read: a part's end is read again by its multipart
        self.last: tuple[int, tuple[bytes, ...], tuple[int, bool, int] | None] | None = None

    def part(self, pos: int, bounds: tuple[bytes, ...], depth: int) -> int:
        """Read the part at *pos* inside multiparts with *bounds*; the start of the boundary
        line that ends it."""
        if depth > MAX_DEPTH:
            raise _GiveUp
        head, pos = self.headers(pos)
        maintype = head.ctype.split("/")[0]
        if maintype == "message" or head.ctype == "multipart/digest":
            raise _GiveUp
        if maintype == "multipart":
            node = Message()
            for name, value in head.fields:
                node.set_raw(name, value)
            return self.multipart(node, pos, bounds, depth)
        end = self.next_boundary_line(pos, bounds)
        # the line break before the boundary line belongs to it (mime_fast._drop_last_line_break)
        stop = end
        if stop - 2 >= pos and self.raw.startswith(b"\r\n", stop - 2):
            stop -= 2
        elif stop - 1 >= pos and self.raw.startswith(b"\n", stop - 1):
            stop -= 1
        if len(self.leaves) >= MAX_LEAVES:
            raise _GiveUp
        self.leaves.append(_leaf(head, self.raw[pos:stop]))
        return end

    def headers(self, pos: int) -> tuple[_Head, int]:
        """The header block at *pos*, read; where the body starts (after its empty line)."""
        raw = self.raw
        if raw.startswith(b"\n", pos):
            block, body = b"", pos + 1
        elif raw.startswith(b"\r\n", pos):
            block, body = b"", pos + 2
        else:  # the first empty line ends the first line that ends in a line break before it
            found = _EMPTY_LINE.search(raw, pos)
            if found is None:
                raise _GiveUp
            block, body = raw[pos : found.start() + 1], found.end()
        head = _remembered_head(block) if len(block) <= _REMEMBERED_BLOCK else _read_head(block)
        if head is None:
            raise _GiveUp
        return head, body

    def multipart(self, msg: Message, pos: int, bounds: tuple[bytes, ...], depth: int) -> int:
        """Read the parts of multipart *msg*, whose body starts at *pos*; where it ends."""
        boundary = mime_fast.plain_boundary(msg)
        if boundary is None:
            raise _GiveUp
        inner = (*bounds, boundary.encode("ascii"))
        own = len(bounds)
        start = self.next_boundary_line(pos, inner)
        found = self.boundary_line(start, inner)
        if found is None or found[0] != own or found[1]:
            raise _GiveUp
        after = found[2]
        while True:
            if after >= self.size or self.boundary_line(after, inner) is not None:
                raise _GiveUp
            end = self.part(after, inner, depth + 1)
            found = self.boundary_line(end, inner)
            if found is None or found[0] != own:
                raise _GiveUp
            after = found[2]
            if found[1]:
                return self.next_boundary_line(after, bounds)

    def next_boundary_line(self, pos: int, bounds: tuple[bytes, ...]) -> int:
        """``mime_fast._Scan.next_boundary_line`` on bytes."""
        if not bounds:
            return self.size
        raw = self.raw
        if raw.startswith(b"--", pos) and self.boundary_line(pos, bounds) is not None:
            return pos
        end = self.size
        # every boundary line starts with a dash, which base64 never holds: one memchr finds
        # where to start looking for the boundaries, past a whole base64 body
        dash = raw.find(b"-", pos + 1)
        if dash < 0:
            return end
        for boundary in bounds:
            needle = b"--" + boundary
            at = raw.find(needle, dash, end)
            while at >= 0:
                before = raw[at - 1]
                if before == 13:  # a lone CR
                    raise _GiveUp
                if before == 10 and self.boundary_line(at, bounds) is not None:
                    end = at
                    break
                at = raw.find(needle, at + 1, end)
        return end

    def boundary_line(self, at: int, bounds: tuple[bytes, ...]) -> tuple[int, bool, int] | None:
        """``mime_fast._Scan.boundary_line`` on bytes."""
        raw = self.raw
        if not raw.startswith(b"--", at):
            return None
        last = self.last
        if last is not None and last[0] == at and last[1] is bounds:
            return last[2]
        found = None
        for index, boundary in enumerate(bounds):
            if not raw.startswith(boundary, at + 2):
                continue
            end = at + 2 + len(boundary)
            close = raw.startswith(b"--", end)
            if close:
                end += 2
            while end < self.size and raw[end] in (32, 9):
                end += 1
            if end == self.size:
                line_end = end
            elif raw.startswith(b"\n", end):
                line_end = end + 1
            elif raw.startswith(b"\r\n", end):
                line_end = end + 2
            elif raw.startswith(b"\r", end):
                raise _GiveUp
            else:
                continue
            if found is not None:
                raise _GiveUp
            found = (index, close, line_end)
        self.last = (at, bounds, found)
        return found


class _Meta(NamedTuple):
    """What ``mime._leaf`` reads from a leaf's header fields."""

    content_type: str
    cte: str
    filename: str | None
    disposition: str | None
    content_id: str | None
    charset: str | None


class _Head(NamedTuple):
    """A part's header block, read: its fields as ``set_raw`` stores them, its content type
    (``Message.get_content_type``), and what a leaf's fields are (None: not plain)."""

    fields: tuple[tuple[str, str], ...]
    ctype: str
    meta: _Meta | None


def _read_head(block: bytes) -> _Head | None:
    """The header block *block* (its lines, up to the empty line) read as ``mime_fast._Scan``
    reads it, or None where that gives up or a line has 8-bit bytes."""
    if not block.isascii() or _LONE_CR.search(block):
        return None
    fields = mime_fast.header_fields(block.decode("ascii"))
    if fields is None:
        return None
    first: dict[str, str] = {}
    for name, text in fields:
        first.setdefault(name.lower(), text)
    try:
        meta = _meta(first)
    except _NotPlain:
        meta = None
    return _Head(tuple(fields), _content_type(first.get("content-type")), meta)


# Parts' header blocks repeat from mail to mail (a text part's, a supplier's attachment's):
# the small ones are read once for a while. The result is never changed by its users.
_REMEMBERED_BLOCK = 1024
_remembered_head = functools.lru_cache(maxsize=512)(_read_head)


def _leaf(head: _Head, payload: bytes) -> Leaf:
    """The fields of a leaf, or the ``Message`` ``mime_fast`` builds for it when a field is
    not plain."""
    meta = head.meta
    try:
        if meta is None:
            raise _NotPlain
        return Fields(
            content_type=meta.content_type,
            filename=meta.filename,
            disposition=meta.disposition,
            data=_data(meta.cte, payload),
            content_id=meta.content_id,
            charset=meta.charset,
        )
    except _NotPlain:
        node = Message()
        for name, value in head.fields:
            node.set_raw(name, value)
        node.set_payload(payload.decode("ascii", "surrogateescape"))
        return node


def _data(cte: str, payload: bytes) -> bytes:
    """The decoded bytes of a leaf's *payload*, as ``mime._payload`` gives them without
    defects."""
    if cte == "base64":
        return _base64(payload)
    if cte == "quoted-printable":
        return binascii.a2b_qp(payload)  # quopri.decodestring, as get_payload decodes it
    if cte in _UUENCODE:
        raise _NotPlain
    return payload


def _meta(first: dict[str, str]) -> _Meta:
    declared = first.get("content-type")
    params = None if declared is None else _params(declared)
    charset = None
    if params is not None:
        found = mime_params.find(params, "charset")
        charset = found.lower() if found else None
    disposition = first.get("content-disposition")
    content_id = first.get("content-id")
    return _Meta(
        content_type=_content_type(declared),
        cte=first.get("content-transfer-encoding", "").lower(),
        filename=_filename(disposition, params),
        disposition=disposition.split(";", 1)[0].strip().lower() or None if disposition else None,
        content_id=content_id.strip().strip("<>").strip() or None if content_id else None,
        charset=charset,
    )


def _base64(payload: bytes) -> bytes:
    """``mime_base64.decoded`` of an ASCII payload; base64 it does not take is not plain."""
    if not payload.isascii():
        raise _NotPlain
    data = mime_base64.decode_canonical(mime_base64.without_line_breaks(payload))
    if data is None:
        raise _NotPlain
    return data


def _params(value: str) -> list[tuple[str, str]]:
    params = mime_params.plain(value)
    if params is None:
        raise _NotPlain
    return params


def _filename(disposition: str | None, declared: list[tuple[str, str]] | None) -> str | None:
    """``mime_params.filename`` for header values without 8-bit bytes; *declared*: the
    parameters of Content-Type."""
    for params, name in ((disposition, "filename"), (declared, "name")):
        if params is None:
            continue
        if isinstance(params, str):
            params = _params(params)
        found = mime_params.find(params, name)
        if not found:
            continue
        return decode_header_value(email.utils.unquote(found)) or None
    return None
