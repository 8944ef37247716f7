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
own code. The equivalence with the standard parser is tested with ``mime_fast``'s
(tests/pipeline/test_mime_fast*.py compare whole parsed mails and decisions).
"""

from __future__ import annotations

import binascii
import email.utils
import re
from email import policy
from email.message import Message
from typing import NamedTuple

from invoice_inbox.pipeline import mime_base64, mime_params
from invoice_inbox.pipeline.mime_fast import MAX_DEPTH
from invoice_inbox.pipeline.mime_text import decode_header_value

MAX_LEAVES = 4000  # more parts: ``mime`` counts them against its own limit

# email.feedparser.headerRE, on a line decoded as ASCII
_HEADER_LINE = re.compile(r"^(From |[\041-\071\073-\176]*:|[\t ])")
_PLAIN_BOUNDARY = re.compile(r"[\x21-\x7e][\x20-\x7e]*")
_LONE_CR = re.compile(rb"\r(?!\n)")
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


# A part's header fields as set_raw stores them, and the first value of each lower-cased name:
# ``Message.get(name)`` for values without 8-bit bytes (no ``Header`` objects)
HeaderList = list[tuple[str, str]]
First = dict[str, str]


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
        headers, first, pos = self.headers(pos)
        ctype = _content_type(first.get("content-type"))
        maintype = ctype.split("/")[0]
        if maintype == "message" or ctype == "multipart/digest":
            raise _GiveUp
        if maintype == "multipart":
            node = Message()
            for name, value in headers:
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
        self.leaves.append(_leaf(headers, first, self.raw[pos:stop]))
        return end

    def headers(self, pos: int) -> tuple[HeaderList, First, int]:
        """The header fields at *pos* as ``set_raw`` stores them; where the body starts."""
        raw = self.raw
        lines: list[str] = []
        first = pos
        while True:
            newline = raw.find(b"\n", pos)
            if newline < 0:
                raise _GiveUp
            chunk = raw[pos : newline + 1]
            pos = newline + 1
            if chunk in (b"\n", b"\r\n"):
                break
            if not chunk.isascii():
                raise _GiveUp
            line = chunk.decode("ascii")
            if line.startswith(("--", "From ")) or not _HEADER_LINE.match(line):
                raise _GiveUp
            lines.append(line)
        if _LONE_CR.search(raw, first, pos):
            raise _GiveUp
        fields: HeaderList = []
        value: list[str] = []
        for line in lines:  # as mime_fast._Scan.headers
            if line[0] in " \t":
                if not value:
                    raise _GiveUp
                value.append(line)
                continue
            if value:
                fields.append(_COMPAT32.header_source_parse(value))
            if line[0] == ":":
                raise _GiveUp
            value = [line]
        if value:
            fields.append(_COMPAT32.header_source_parse(value))
        by_name: First = {}
        for name, text in fields:
            by_name.setdefault(name.lower(), text)
        return fields, by_name, pos

    def multipart(self, msg: Message, pos: int, bounds: tuple[bytes, ...], depth: int) -> int:
        """Read the parts of multipart *msg*, whose body starts at *pos*; where it ends."""
        boundary = mime_params.boundary(msg)
        if boundary is None or not _PLAIN_BOUNDARY.fullmatch(boundary):
            raise _GiveUp
        if str(msg.get("content-transfer-encoding", "8bit")).lower() not in (
            "7bit",
            "8bit",
            "binary",
        ):
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


def _leaf(headers: HeaderList, first: First, payload: bytes) -> Leaf:
    """The fields of a leaf, or the ``Message`` ``mime_fast`` builds for it when a field is
    not plain."""
    try:
        return _fields(first, payload)
    except _NotPlain:
        node = Message()
        for name, value in headers:
            node.set_raw(name, value)
        node.set_payload(payload.decode("ascii", "surrogateescape"))
        return node


def _fields(first: First, payload: bytes) -> Fields:
    declared = first.get("content-type")
    params = None if declared is None else _params(declared)
    cte = first.get("content-transfer-encoding", "").lower()
    if cte == "base64":
        data = _base64(payload)
    elif cte == "quoted-printable":
        data = binascii.a2b_qp(payload)  # quopri.decodestring, as get_payload decodes it
    elif cte in _UUENCODE:
        raise _NotPlain
    else:
        data = payload
    charset = None
    if params is not None:
        found = mime_params.find(params, "charset")
        charset = found.lower() if found else None
    disposition = first.get("content-disposition")
    content_id = first.get("content-id")
    return Fields(
        content_type=_content_type(declared),
        filename=_filename(disposition, params),
        disposition=disposition.split(";", 1)[0].strip().lower() or None if disposition else None,
        data=data,
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
