"""Big base64 bodies of a mail, set aside so the ``email`` parser never sees them.

The standard parser decodes the whole mail to text, splits it into lines and joins them again:
a 68 MB mail with a 50 MB PDF takes about 530 MB of allocations that way. ``set_aside`` finds the
long runs of base64 lines that stand between a part's blank line and the next line starting with
``--`` (or the end of the mail), and gives the mail with each run replaced by a one-line token;
``mime.parse`` parses that small mail and decodes each token's run straight from the raw bytes.

Why the structure stays the same: a run holds only base64 characters and line breaks (no blank
line, no ``--``, no ``:``, no ``=`` except as final padding), so the parser treats each of its
lines, and the token that replaces them, alike: a body line. Which part a run belongs to is left
to the parser; a token counts only when it is the whole payload of one base64 leaf, every token
is used exactly once, and otherwise ``mime.parse`` parses the raw mail the usual way.
"""

from __future__ import annotations

import binascii
import re
import secrets
from dataclasses import dataclass, field

# Mails below this size parse quickly enough the usual way; runs below MIN_BODY are left in place.
MIN_MAIL = 4 * 1024 * 1024
MIN_BODY = 1024 * 1024

_NOT_BASE64_LINE = re.compile(rb"[^A-Za-z0-9+/=\r\n]")
_BLANK_LINE = re.compile(rb"\n\r?\n")


@dataclass
class SetAside:
    """The mail with its big bodies replaced by tokens, and where each body is in ``raw``."""

    raw: bytes
    mail: bytes
    spans: dict[str, tuple[int, int]]
    used: dict[str, int] = field(default_factory=dict)

    def take(self, payload: object, cte: str) -> bytes | None:
        """The decoded body for a leaf whose whole payload is a token (None for any other)."""
        if not isinstance(payload, str) or cte != "base64":
            return None
        token = payload.strip()
        span = self.spans.get(token)
        if span is None:
            return None
        self.used[token] = self.used.get(token, 0) + 1
        return binascii.a2b_base64(memoryview(self.raw)[span[0] : span[1]])

    def all_used_once(self) -> bool:
        return self.used.keys() == self.spans.keys() and all(n == 1 for n in self.used.values())


def set_aside(raw: bytes, min_body: int | None = None) -> SetAside | None:
    """The base64 bodies of *raw* of at least *min_body* bytes (``MIN_BODY``) set aside, or None
    when it has none."""
    min_body = MIN_BODY if min_body is None else min_body
    spans: list[tuple[int, int]] = []
    start = 0
    while start < len(raw):
        dashes = raw.find(b"\n--", start)
        end = len(raw) if dashes < 0 else dashes + 1
        if end - start >= min_body:
            span = _base64_body(raw, start, end)
            if span is not None and span[1] - span[0] >= min_body:
                spans.append(span)
        start = end
        if dashes >= 0:  # past the "--" line itself
            newline = raw.find(b"\n", end)
            start = len(raw) if newline < 0 else newline + 1
    if not spans:
        return None
    salt = secrets.token_hex(8)
    pieces: list[bytes] = []
    tokens: dict[str, tuple[int, int]] = {}
    last = 0
    for number, (begin, finish) in enumerate(spans):
        token = f"LargeBody{salt}n{number}"
        if raw.find(token.encode()) >= 0:
            return None
        tokens[token] = (begin, finish)
        pieces += [raw[last:begin], token.encode()]
        last = finish
    pieces.append(raw[last:])
    return SetAside(raw=raw, mail=b"".join(pieces), spans=tokens)


def _base64_body(raw: bytes, start: int, end: int) -> tuple[int, int] | None:
    """The lines after the first blank line in ``raw[start:end]`` when they are clean base64
    (what the parser would decode without a defect): their span, without the last line break."""
    blank = _BLANK_LINE.search(raw, start, end)
    if blank is None:
        return None
    begin = blank.end()
    while end > begin and raw[end - 1] in b"\r\n":
        end -= 1
    if end <= begin or (raw.startswith(b"\r", end) and not raw.startswith(b"\r\n", end)):
        return None
    if _NOT_BASE64_LINE.search(raw, begin, end) is not None:
        return None
    # only CRLF or LF line breaks, and no blank line among the body's lines
    if raw.count(b"\r", begin, end) != raw.count(b"\r\n", begin, end):
        return None
    if raw.find(b"\n\n", begin, end) >= 0 or raw.find(b"\n\r\n", begin, end) >= 0:
        return None
    # padding only at the very end, at most two "=", and whole groups of four
    pad = raw.find(b"=", begin, end)
    if pad >= 0 and (end - pad > 2 or raw.count(b"=", pad, end) != end - pad):
        return None
    characters = end - begin - raw.count(b"\r", begin, end) - raw.count(b"\n", begin, end)
    if characters % 4:
        return None
    return begin, end
