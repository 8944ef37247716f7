"""Header and body text of a mail decoded to str: RFC 2047 encoded-words, raw 8-bit bytes,
declared charsets that are wrong or no codec at all. Never raises for what a mail contains."""

from __future__ import annotations

import email.header
import email.utils
import functools
import re

MAX_HEADER_CHARS = 16 * 1024
# what BytesParser leaves of raw 8-bit bytes in a header: lone surrogates
_SURROGATES = re.compile("[\udc80-\udcff]")


def decode_header_value(value: object) -> str:
    """Decode an RFC 2047 header value to text; undecodable bytes are replaced, never raised."""
    if value is None:
        return ""
    if isinstance(value, email.header.Header):  # raw 8-bit bytes in the field (RFC 6532)
        raw = "".join(
            bytes_to_text(chunk, charset) if isinstance(chunk, bytes) else chunk
            for chunk, charset in email.header.decode_header(value)
        )
    else:
        raw = fix_8bit(str(value))
    # the standard decoder is quadratic in the number of encoded words; no real header is long
    raw = raw[:MAX_HEADER_CHARS]
    if "=?" not in raw:  # no encoded word: the decoder would give the text back as it is
        return raw.replace("\r", "").replace("\n", "")
    try:
        chunks = email.header.decode_header(raw)
    except Exception:  # malformed encoded-words: keep the text as it is
        return raw
    out = []
    for chunk, charset in chunks:
        if isinstance(chunk, bytes):
            out.append(bytes_to_text(chunk, charset))
        else:
            out.append(chunk)
    return "".join(out).replace("\r", "").replace("\n", "")


def bytes_to_text(data: bytes, charset: str | None) -> str:
    for cs in (charset, "utf-8"):
        if cs and cs != "unknown-8bit":
            try:
                return data.decode(cs)
            # unknown names, and codecs that are not for text ("undefined", "idna", "utf\0-8")
            except (LookupError, UnicodeError, ValueError):
                continue
    return data.decode("cp1252", errors="replace")


def declared_text(data: bytes, charset: str | None) -> str:
    """Text in the charset the mail declares, bad bytes replaced (U+FFFD); when the name is not
    a usable codec at all, as ``bytes_to_text`` guesses it."""
    if charset:
        try:
            return data.decode(charset, errors="replace")
        except (LookupError, UnicodeError, ValueError):
            pass
    return bytes_to_text(data, None)


def fix_8bit(text: str) -> str:
    """Header text from BytesParser carries raw 8-bit bytes as surrogates: decode them as UTF-8,
    falling back to Windows-1252 (what mail clients that send raw 8-bit use most)."""
    if _SURROGATES.search(text) is None:
        return text
    raw = text.encode("ascii", errors="surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


# From values up to this long are remembered: a supplier's mails repeat theirs
_REMEMBERED_FROM = 256


@functools.lru_cache(maxsize=1024)
def _remembered_address(from_value: str) -> tuple[str, str]:
    return _parsed_address(from_value)


def address(from_value: str) -> tuple[str, str]:
    """``parseaddr`` of a From value (9 us of a decide worker's CPU for a usual one), the
    same value read once; ("", "") when it cannot be read."""
    if len(from_value) <= _REMEMBERED_FROM:
        return _remembered_address(from_value)
    return _parsed_address(from_value)


def _parsed_address(from_value: str) -> tuple[str, str]:
    try:
        return email.utils.parseaddr(from_value)
    except RecursionError:  # thousands of nested (comments): no address can be read
        return "", ""
