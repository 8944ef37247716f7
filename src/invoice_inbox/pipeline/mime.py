"""Parse raw message bytes into the facts the pipeline needs: headers and decoded leaf parts.

Parsing uses the standard library's ``email`` package with the ``compat32`` policy, which is about
twice as fast as ``policy.default`` on a 50 KB invoice mail; the headers we use are decoded here
explicitly (RFC 2047 encoded-words, RFC 2231 parameters, raw 8-bit bytes). Parsing never raises
for malformed input: problems become ``defects`` on the result. The parser's message tree is
built by ``mime_fast``'s scan wherever that gives the very same tree (``FAST``): on a 50 KB
mail with a PDF in about a fifth of the parser's time (``parse`` as a whole: 4 x as fast,
benchmarks/mime_fast.py). An ordinary multipart mail skips the tree: ``mime_leaves`` reads
its leaf parts' fields and bytes from the mail's bytes directly, by the same rules.
"""

from __future__ import annotations

import base64
import binascii
import email.header
import email.utils
import quopri
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser
from typing import cast

from invoice_inbox.pipeline import mime_base64, mime_fast, mime_large, mime_leaves, mime_params
from invoice_inbox.pipeline.mime_head import envelope
from invoice_inbox.pipeline.mime_head import header_block as header_block  # mime.header_block
from invoice_inbox.pipeline.mime_text import address, decode_header_value
from invoice_inbox.pipeline.mime_text import bytes_to_text as _bytes_to_text

_parser = BytesParser(policy=policy.compat32)
_header_parser = BytesHeaderParser(policy=policy.compat32)

# Build the message tree by scanning (``mime_fast``) where that gives the standard parser's
# tree; False: always the standard parser (the equivalence tests compare the two).
FAST = True


@dataclass(frozen=True, slots=True)
class Headers:
    """The envelope facts of a message.

    ``sender`` is the bare, lower-cased address of the first ``From:`` mailbox, or None when the
    header is missing or holds no address. ``date`` is None when ``Date:`` is missing or unreadable.
    """

    sender: str | None
    sender_name: str
    to: str
    subject: str
    message_id: str | None
    date: datetime | None


@dataclass(frozen=True, slots=True)
class Part:
    """One non-multipart part of a message, decoded.

    ``filename`` is the decoded name as the mail gives it (not yet safe for a path) or None when the
    part has none. ``disposition`` is ``attachment``, ``inline`` or None when the header is missing.
    ``content_type`` is what the mail *declares*; the pipeline judges files by their bytes.
    ``origin`` is the header of the forwarded mail (``message/rfc822``) the part came in, the
    innermost one when forwards are nested, or None for the mail's own parts.
    """

    content_type: str
    filename: str | None
    disposition: str | None
    data: bytes
    defects: tuple[str, ...] = ()
    content_id: str | None = None
    charset: str | None = None
    origin: Headers | None = None

    @property
    def is_attachment(self) -> bool:
        """A part a person would call an attachment rather than the text of the mail."""
        if self.disposition == "attachment" or self.filename:
            return True
        return not self.content_type.startswith("text/")

    @property
    def is_body(self) -> bool:
        """The mail's own text: a text/plain or text/html part that is not an attachment."""
        return not self.is_attachment and self.content_type in ("text/plain", "text/html")

    @property
    def damaged(self) -> bool:
        """The transfer encoding could not be fully decoded (bytes were skipped or left raw)."""
        return any(d.startswith("InvalidBase64") for d in self.defects)

    def text(self) -> str:
        """The part's bytes as text in its declared charset (UTF-8, then Windows-1252 when the
        declaration is missing or wrong); never raises."""
        return _bytes_to_text(self.data, self.charset)


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """Headers plus every leaf part in document order, and what was wrong with the structure."""

    headers: Headers
    parts: tuple[Part, ...]
    defects: tuple[str, ...] = field(default=())

    def body(self, subtype: str) -> str | None:
        """The first ``text/<subtype>`` body part as text, preferring the mail's own over a
        forwarded one's; None when there is none."""
        wanted = f"text/{subtype}"
        candidates = [p for p in self.parts if p.is_body and p.content_type == wanted]
        candidates.sort(key=lambda p: p.origin is not None)
        return candidates[0].text() if candidates else None

    def inline_images(self) -> dict[str, tuple[str, bytes]]:
        """Parts with a Content-ID, by id (without ``<>``), for ``cid:`` references."""
        return {
            p.content_id: (p.content_type, p.data) for p in self.parts if p.content_id and p.data
        }


class MessageTooComplex(ValueError):
    """The MIME structure exceeds what we read (nesting depth, number of parts)."""


# Forwarded mails inside forwarded mails: real ones stop at a handful of levels.
MAX_FORWARD_DEPTH = 20
MAX_PARTS = 5000


def _headers_of(msg: Message) -> Headers:
    fields = envelope(msg)
    name, parsed = address(decode_header_value(fields.get("from")))
    addr = parsed.strip().lower() or None
    if addr and "@" not in addr:
        addr = None
    date = None
    if fields.get("date"):
        try:
            date = email.utils.parsedate_to_datetime(str(fields["date"]))
        except (TypeError, ValueError, IndexError, OverflowError):
            date = None
        if date is not None and date.tzinfo is None:  # "-0000": UTC, origin zone unknown
            date = date.replace(tzinfo=UTC)
    mid = str(fields.get("message-id") or "").strip() or None
    return Headers(
        sender=addr,
        sender_name=name,
        to=decode_header_value(fields.get("to")),
        subject=decode_header_value(fields.get("subject")),
        message_id=mid,
        date=date,
    )


def parse_headers(raw: bytes) -> Headers:
    """Read only the header block: cheap, for decisions that need no body (the parser would
    otherwise still split the whole body into lines)."""
    return read_headers(raw)[0]


@dataclass(frozen=True, slots=True)
class Head:
    """A header block as ``read_headers`` read it: ``parse`` of the same mail continues from it
    rather than reading the block again."""

    block: bytes
    message: Message
    end: int  # where the body starts


def read_headers(raw: bytes) -> tuple[Headers, Head | None]:
    """``parse_headers``, and the header block read, for ``parse`` (None: nothing to reuse)."""
    block = header_block(raw)
    read = mime_fast.read_head(block) if FAST else None
    if read is None:
        return _headers_of(_header_parser.parsebytes(block)), None
    return _headers_of(read[0]), Head(block, read[0], read[1])


def _disposition(part: Message) -> str | None:
    value = part.get("Content-Disposition")
    if value is None:
        return None
    return str(value).split(";", 1)[0].strip().lower() or None


def _payload(part: Message, aside: mime_large.SetAside | None) -> tuple[bytes, list[str]]:
    if aside is not None:  # a big body set aside before parsing: clean base64, no defects
        cte = str(part.get("content-transfer-encoding", "")).lower()  # as get_payload reads it
        data = aside.take(part.get_payload(decode=False), cte)
        if data is not None:
            return data, []
    fast = mime_base64.decoded(part)  # plain base64: the same bytes, no defects, 30x faster
    if fast is not None:
        return fast, []
    defects_before = len(part.defects)
    # decode=True on a leaf part: its bytes (typeshed's overload also allows a Message)
    data = cast("bytes | None", part.get_payload(decode=True))
    defects = [type(d).__name__ for d in part.defects[defects_before:]]
    if data is None:
        data = b""
    if defects and not _meant_as_base64(part):
        # plain text under a wrong "base64" label (some clients do this): the text is the data
        raw = part.get_payload(decode=False)
        data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else data
        defects = ["MislabeledBase64Defect"]
    return data, defects


_BASE64_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


def _meant_as_base64(part: Message) -> bool:
    """Damaged base64 still looks like base64: lines without spaces, nearly all of the base64
    alphabet; lines of words are plain text that only claims to be base64."""
    raw = part.get_payload(decode=False)
    if not isinstance(raw, str):
        return True
    lines = [line.strip() for line in raw.splitlines() if line.strip()]
    if not lines:
        return True
    encoded = 0
    for line in lines:
        if " " in line or "\t" in line:
            continue
        if sum(ch in _BASE64_ALPHABET for ch in line) >= 0.9 * len(line):
            encoded += 1
    return encoded >= 0.9 * len(lines)


def _content_id(part: Message) -> str | None:
    value = part.get("Content-ID")
    if value is None:
        return None
    return str(value).strip().strip("<>").strip() or None


def _leaf(node: Message, origin: Headers | None, aside: mime_large.SetAside | None) -> Part:
    data, defects = _payload(node, aside)
    try:
        charset = mime_params.charset(node)
    except (LookupError, UnicodeError, ValueError):  # a charset parameter that is not a name
        charset = None
    return Part(
        content_type=node.get_content_type().lower(),
        filename=mime_params.filename(node),
        disposition=_disposition(node),
        data=data,
        defects=tuple(defects),
        content_id=_content_id(node),
        charset=str(charset) if charset else None,
        origin=origin,
    )


def _parse_bytes(raw: bytes, head: Head | None = None) -> Message:
    top = (head.message, head.end) if head is not None else None
    msg = mime_fast.message(raw, top) if FAST else None
    if msg is not None:
        return msg
    try:
        return _parser.parsebytes(raw)
    except RecursionError:
        raise MessageTooComplex("the MIME structure is nested too deeply to read") from None


def parse(raw: bytes, headers: Headers | None = None, head: Head | None = None) -> ParsedMessage:
    """Parse a whole message into its leaf parts, following forwarded mails (``message/rfc822``)
    to any depth up to ``MAX_FORWARD_DEPTH``. Raises ``MessageTooComplex`` for structures beyond
    the limits; every other problem becomes a defect. A big mail's big base64 bodies are decoded
    from *raw* directly (``mime_large``), with the same result. *headers*: what
    ``parse_headers(raw)`` gave, when the caller has it (the same fields, not read again);
    *head*: what ``read_headers(raw)`` gave with them (the header block, not scanned again)."""
    aside = mime_large.set_aside(raw) if len(raw) >= mime_large.MIN_MAIL else None
    if aside is not None:
        parsed = _parse(aside.mail, aside, headers)
        if aside.all_used_once():
            return parsed
    if head is not None and not raw.startswith(head.block):
        head = None  # the header block of another mail
    if FAST:
        if head is None:
            block = header_block(raw)
            read = mime_fast.read_head(block)
            head = None if read is None else Head(block, read[0], read[1])
        if head is not None:
            scanned = _from_leaves(raw, head, headers)
            if scanned is not None:
                return scanned
    return _parse(raw, None, headers, head)


def _from_leaves(raw: bytes, head: Head, headers: Headers | None) -> ParsedMessage | None:
    """The parsed message from ``mime_leaves``, the parts read from the bytes; None when it
    does not read the mail."""
    leaves = mime_leaves.leaves(raw, head.message, head.end)
    if leaves is None:
        return None
    parts = tuple(
        _leaf(leaf, None, None)
        if isinstance(leaf, Message)
        else Part(
            content_type=leaf.content_type,
            filename=leaf.filename,
            disposition=leaf.disposition,
            data=leaf.data,
            content_id=leaf.content_id,
            charset=leaf.charset,
        )
        for leaf in leaves
    )
    if headers is None:
        headers = _headers_of(head.message)
    return ParsedMessage(headers=headers, parts=parts)


def _parse(
    raw: bytes,
    aside: mime_large.SetAside | None,
    headers: Headers | None = None,
    head: Head | None = None,
) -> ParsedMessage:
    msg = _parse_bytes(raw, head)
    parts: list[Part] = []
    defects = [type(d).__name__ for d in msg.defects]
    # an explicit stack, not recursion: a hostile mail may nest thousands of levels
    stack: list[tuple[Message, Headers | None, int]] = [(msg, None, 0)]
    while stack:
        node, origin, depth = stack.pop()
        if len(parts) >= MAX_PARTS:
            raise MessageTooComplex(f"the message has more than {MAX_PARTS} parts")
        # one '/' in a content type: the main type "message" and the subtype "rfc822"
        if node.get_content_type() == "message/rfc822":
            inner = _forwarded(node)
            if inner is not None:
                if depth >= MAX_FORWARD_DEPTH:
                    raise MessageTooComplex(
                        f"forwarded mails are nested more than {MAX_FORWARD_DEPTH} levels deep"
                    )
                defects.extend(type(d).__name__ for d in inner.defects)
                stack.append((inner, _headers_of(inner), depth + 1))
                continue
        if node.is_multipart():
            if node is not msg:
                defects.extend(type(d).__name__ for d in node.defects)
            children = cast("list[Message]", node.get_payload())  # a multipart's parts
            stack.extend((child, origin, depth) for child in reversed(children))
            continue
        parts.append(_leaf(node, origin, aside))
    if headers is None:
        headers = _headers_of(msg)
    return ParsedMessage(headers=headers, parts=tuple(parts), defects=tuple(defects))


def _forwarded(node: Message) -> Message | None:
    """The mail inside a message/rfc822 part. The parser has already parsed it, but when the part
    was sent base64- or quoted-printable-encoded (RFC 2046 forbids it; some clients do it) what
    it parsed is the encoded text: decode that and parse the mail."""
    payload = node.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    if inner is not None and not isinstance(inner, Message):
        return None
    cte = str(node.get("Content-Transfer-Encoding", "")).strip().lower()
    if cte not in ("base64", "quoted-printable"):
        return inner
    encoded = _source_of(inner) if inner is not None else _as_bytes(payload)
    try:
        data = (
            base64.b64decode(_NOT_BASE64.sub(b"", encoded))
            if cte == "base64"
            else quopri.decodestring(encoded)
        )
    except (binascii.Error, ValueError):
        return inner
    return _parse_bytes(data) if data.strip() else inner


_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/=]")


def _source_of(msg: Message) -> bytes:
    """The text a (mis)parsed message came from, as closely as the parser kept it: header lines
    as they were, and no blank line added where the text had none (encoded text is no mail)."""
    lines = [f"{name}: {value}\r\n" for name, value in msg.raw_items()]
    separated = not any(type(d).__name__ == "MissingHeaderBodySeparatorDefect" for d in msg.defects)
    body = msg.get_payload()
    text = "".join(lines) + ("\r\n" if lines and separated else "")
    return text.encode("ascii", "surrogateescape") + _as_bytes(body)


def _as_bytes(payload: object) -> bytes:
    if isinstance(payload, bytes):
        return payload
    return str(payload or "").encode("ascii", "surrogateescape")
