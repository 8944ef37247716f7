"""The MIME tree of a mail found by scanning its text, for the cases the scan fully understands.

The standard library's feed parser reads a mail line by line in Python: about 0.6 ms of a 50 KB
mail with a PDF goes to walking its 700 base64 lines. ``message`` builds the same tree of
``compat32`` ``Message`` objects (headers as ``set_raw`` stores them, payloads, preambles,
epilogues) with ``str.find``: the header lines of each part are read one by one, but a body is
one slice up to the next boundary line, however long. Everything after the tree (decoding the
parts, file names, charsets, forwarded mails) is ``mime``'s own code, unchanged.

It gives up, returning None for the standard parser to take the mail, on anything where the
feed parser would note a defect or take a path not rebuilt here: a lone CR in a header block,
in a boundary line or before one (where it ends a line that counts), a header block
without its empty line, continuation or ``From `` lines in odd places, a missing or unusual
boundary, boundary lines that follow each other or match two boundaries, a missing start or end
boundary, multipart/digest, message/delivery-status, nesting deeper than ``MAX_DEPTH``. The
equivalence with the standard parser is tested on the corpus, generated and hostile mails
(tests/pipeline/test_mime_fast*.py).
"""

from __future__ import annotations

import re
from email import policy
from email.message import Message

from invoice_inbox.pipeline import mime_params

# Deeper structures go to the standard parser, which reports them as too complex to read.
MAX_DEPTH = 40

# email.feedparser.headerRE: what the feed parser takes for a header line
_HEADER_LINE = re.compile(r"^(From |[\041-\071\073-\176]*:|[\t ])")
# boundaries we match as the feed parser does: printable ASCII (a space only inside)
_IDENTITY = ("7bit", "8bit", "binary")  # transfer encodings a multipart body may have
_PLAIN_BOUNDARY = re.compile(r"[\x21-\x7e][\x20-\x7e]*")
_COMPAT32 = policy.compat32
# A lone CR also ends a line for the feed parser, which matters where lines are told apart:
# in a header block, in a boundary line and where a boundary line may start. Bodies are not
# searched for one as a whole (a quarter of the scan's time): only for a CR before a boundary.
_LONE_CR = re.compile("\r(?!\n)")
# where the first empty line starts after a line break, and ends
_EMPTY_LINE = re.compile("\n\r?\n")
_CHUNK = 4096  # bytes decoded at a time when some are 8-bit


def _as_text(raw: bytes) -> str:
    """``raw.decode("ascii", "surrogateescape")``, the text the feed parser reads. After the
    first 8-bit byte CPython decodes the rest of the bytes one by one (40 us for a 50 KB mail
    with an umlaut in its From): stretches of ASCII are decoded on their own, at memory speed."""
    if raw.isascii():
        return raw.decode("ascii")
    chunks = []
    for start in range(0, len(raw), _CHUNK):
        chunk = raw[start : start + _CHUNK]
        chunks.append(chunk.decode("ascii", "surrogateescape" if not chunk.isascii() else "strict"))
    return "".join(chunks)


class _GiveUp(Exception):
    """The mail holds something the scan does not rebuild exactly."""


def message(raw: bytes, head: tuple[Message, int] | None = None) -> Message | None:
    """The ``compat32`` message tree the standard ``BytesParser`` builds from *raw*, or None
    when the mail needs the standard parser. *head*: what ``read_head`` gave for the header
    block *raw* starts with (its fields are copied, not read again)."""
    try:
        msg, _, _ = _Scan(_as_text(raw)).message(0, (), 0, head)
    except _GiveUp:
        return None
    return msg


def header_message(block: bytes) -> Message | None:
    """A message holding the headers of *block* (a header block ending in its empty line) as
    the standard ``BytesHeaderParser`` stores them, or None when it needs that parser."""
    read = read_head(block)
    return None if read is None else read[0]


def read_head(block: bytes) -> tuple[Message, int] | None:
    """``header_message`` and where the body starts after it (the end of the empty line)."""
    text = block.decode("ascii", "surrogateescape")
    msg = Message()
    # the usual block (no envelope line first, an empty line, no lone CR) in one split; the
    # scan line by line for the rest
    if text.startswith(("\n", "\r\n")):
        return msg, 1 if text[0] == "\n" else 2
    empty = _EMPTY_LINE.search(text)
    if empty is not None:
        fields = header_fields(text[: empty.start() + 1])
        if fields is not None and not _LONE_CR.search(text, 0, empty.end()):
            for name, value in fields:
                msg.set_raw(name, value)
            return msg, empty.end()
    try:
        end = _Scan(text).headers(msg, 0)
    except _GiveUp:
        return None
    return msg, end


def header_fields(lines: str) -> list[tuple[str, str]] | None:
    """The header fields of *lines* (a header block's lines, each ending in its line break,
    without the empty line; no lone CR) as ``_Scan.headers`` stores them with ``set_raw``;
    None where it gives up (a line that is no header line, a continuation first, no name)."""
    fields: list[tuple[str, str]] = []
    value: list[str] = []
    for line in lines.split("\n")[:-1]:
        line += "\n"
        if line.startswith(("--", "From ")) or not _HEADER_LINE.match(line):
            return None
        if line[0] in " \t":
            if not value:
                return None
            value.append(line)
            continue
        if value:
            fields.append(_COMPAT32.header_source_parse(value))
        if line[0] == ":":
            return None
        value = [line]
    if value:
        fields.append(_COMPAT32.header_source_parse(value))
    return fields


def plain_boundary(msg: Message) -> str | None:
    """The boundary of multipart *msg* when the fast readers can follow it (plain characters,
    an identity transfer encoding), else None: the standard parser reads such a mail."""
    boundary = mime_params.boundary(msg)
    if boundary is None or not _PLAIN_BOUNDARY.fullmatch(boundary):
        return None
    if str(msg.get("content-transfer-encoding", "8bit")).lower() not in _IDENTITY:
        return None
    return boundary


class _Scan:
    """One mail's text (bytes as ASCII with surrogate escapes, as the feed parser reads them).

    A body ends at the first line that is a boundary line of any enclosing multipart, as in the
    feed parser, whose end-of-file checks run from the innermost boundary outwards."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.size = len(text)

    def message(
        self,
        pos: int,
        bounds: tuple[str, ...],
        depth: int,
        head: tuple[Message, int] | None = None,
    ) -> tuple[Message, int, Message]:
        """The message starting at *pos* inside multiparts with *bounds*: the message, where it
        ends (the start of the boundary line that ends it, or the end of the text) and the last
        message read in it (whose trailing line break the enclosing multipart removes). *head*:
        its header fields already read (``read_head``) and where its body starts."""
        if depth > MAX_DEPTH:
            raise _GiveUp
        msg = Message()
        if head is None:
            pos = self.headers(msg, pos)
        else:  # the same fields as headers() stores them, in a list of the message's own
            msg._headers = list(head[0]._headers)  # type: ignore[attr-defined]
            unixfrom = head[0].get_unixfrom()
            if unixfrom is not None:
                msg.set_unixfrom(unixfrom)
            pos = head[1]
        ctype = msg.get_content_type()
        if ctype in ("multipart/digest", "message/delivery-status"):
            raise _GiveUp
        maintype = ctype.split("/")[0]  # as get_content_maintype
        if maintype == "message":  # another mail follows: parse it as a message of its own
            inner, end, last = self.message(pos, bounds, depth + 1)
            msg.attach(inner)
            return msg, end, last
        if maintype == "multipart":
            end = self.multipart(msg, pos, bounds, depth)
            return msg, end, msg
        end = self.next_boundary_line(pos, bounds)
        msg.set_payload(self.text[pos:end])
        return msg, end, msg

    def headers(self, msg: Message, pos: int) -> int:
        """Read the header lines at *pos* into *msg*; where the body starts (after the empty
        line)."""
        text = self.text
        lines: list[str] = []
        first = pos
        while True:
            newline = text.find("\n", pos)
            if newline < 0:  # the text ends inside the header block
                raise _GiveUp
            line = text[pos : newline + 1]
            pos = newline + 1
            if line in ("\n", "\r\n"):
                break
            # not a header (a missing empty line), a boundary line, an envelope line
            if line.startswith(("--", "From ")) or not _HEADER_LINE.match(line):
                if pos - len(line) != first or not line.startswith("From "):
                    raise _GiveUp
                msg.set_unixfrom(_without_line_break(line))  # an mbox envelope line first
                continue
            lines.append(line)
        if _LONE_CR.search(text, first, pos):
            raise _GiveUp
        value: list[str] = []
        for line in lines:  # as FeedParser._parse_headers, for lines it takes without a defect
            if line[0] in " \t":
                if not value:  # the first line is a continuation
                    raise _GiveUp
                value.append(line)
                continue
            if value:
                msg.set_raw(*_COMPAT32.header_source_parse(value))
            if line[0] == ":":  # no header name
                raise _GiveUp
            value = [line]
        if value:
            msg.set_raw(*_COMPAT32.header_source_parse(value))
        return pos

    def multipart(self, msg: Message, pos: int, bounds: tuple[str, ...], depth: int) -> int:
        """Read the parts of multipart *msg*, whose body starts at *pos*; where it ends."""
        boundary = plain_boundary(msg)
        if boundary is None:
            raise _GiveUp
        inner = (*bounds, boundary)
        own = len(bounds)
        start = self.next_boundary_line(pos, inner)
        found = self.boundary_line(start, inner)
        if found is None or found[0] != own or found[1]:  # no start boundary before the end
            raise _GiveUp
        if start > pos:
            msg.preamble = _without_line_break(self.text[pos:start])
        after = found[2]
        while True:
            # a separator line must be followed by a part, not by another boundary line
            if after >= self.size or self.boundary_line(after, inner) is not None:
                raise _GiveUp
            part, end, last = self.message(after, inner, depth + 1)
            msg.attach(part)
            found = self.boundary_line(end, inner)
            if found is None or found[0] != own:  # the text or an outer multipart ends first
                raise _GiveUp
            _drop_last_line_break(last)
            after = found[2]
            if found[1]:  # the close boundary: the rest, up to the outer boundary, is epilogue
                end = self.next_boundary_line(after, bounds)
                msg.epilogue = self.text[after:end]
                return end

    def next_boundary_line(self, pos: int, bounds: tuple[str, ...]) -> int:
        """The start of the first line at or after *pos* (a line start) that is a boundary line
        of one of *bounds*; the end of the text when there is none.

        Each boundary is looked for with its own needle, ``--`` and the boundary: a long needle
        lets ``str.find`` skip ahead (a 50 KB base64 body in a fifth of the time of ``\n--``),
        and the nearest one found so far bounds the search for the next. What comes before a
        find tells a line start (a line break) from a lone CR (which gives up: a line starts
        there for the feed parser) and from the middle of a line. As with one needle, a line
        matching two boundaries gives up, as may a lone CR after the body's end (met before a
        nearer boundary of another multipart is found): the standard parser then reads the
        mail, as for any give-up."""
        if not bounds:
            return self.size
        text = self.text
        if text.startswith("--", pos) and self.boundary_line(pos, bounds) is not None:
            return pos
        end = self.size
        for boundary in bounds:
            needle = "--" + boundary
            at = text.find(needle, pos + 1, end)
            while at >= 0:
                before = text[at - 1]
                if before == "\r":
                    raise _GiveUp
                if before == "\n" and self.boundary_line(at, bounds) is not None:
                    end = at
                    break
                at = text.find(needle, at + 1, end)
        return end

    def boundary_line(self, at: int, bounds: tuple[str, ...]) -> tuple[int, bool, int] | None:
        """Whether the line at *at* is a boundary line (``--boundary``, ``--`` after it for the
        close, spaces or tabs, the line break) of one of *bounds*: which one, whether it is the
        close, and where the next line starts. Gives up when it is one of two."""
        text = self.text
        if not text.startswith("--", at):
            return None
        found = None
        for index, boundary in enumerate(bounds):
            if not text.startswith(boundary, at + 2):
                continue
            end = at + 2 + len(boundary)
            close = text.startswith("--", end)
            if close:
                end += 2
            while end < self.size and text[end] in " \t":
                end += 1
            if end == self.size:
                line_end = end
            elif text.startswith("\n", end):
                line_end = end + 1
            elif text.startswith("\r\n", end):
                line_end = end + 2
            elif text.startswith("\r", end):  # a lone CR: a boundary line for the feed parser
                raise _GiveUp
            else:
                continue
            if found is not None:  # "--a--" is the close of "a" and a separator of "a--"
                raise _GiveUp
            found = (index, close, line_end)
        return found


def _without_line_break(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith("\n"):
        return text[:-1]
    return text


def _drop_last_line_break(last: Message) -> None:
    """The line break before a boundary line belongs to the boundary (RFC 2046): the feed
    parser takes it off the payload, or the epilogue, of the last message it read."""
    if last.is_multipart():  # here the same as a multipart/* type: those were read as such
        if last.epilogue == "":
            last.epilogue = None
        elif last.epilogue is not None:
            last.epilogue = _without_line_break(last.epilogue)
        return
    # the feed parser edits its private _payload the same way (typeshed does not list it)
    payload = last._payload  # type: ignore[attr-defined]
    if isinstance(payload, str):
        last._payload = _without_line_break(payload)  # type: ignore[attr-defined]
