"""Parameters of a Content-Type or Content-Disposition header (``charset``, ``boundary``,
``name``, ``filename``) exactly as ``email.message.Message`` gives them, read in one ``split``
for plain values.

``Message.get_param`` parses the whole header for every parameter asked for, in Python, with
RFC 2231 bookkeeping (about 3 us each, a tenth of deciding an invoice mail's parts). A plain
value (ASCII, no backslash, no ``*``, no ``;`` inside quotes) is split here instead, with the
same result: each parameter's name stripped and lower-cased, its value stripped and unquoted
once (the standard library's quote-then-unquote of it changes nothing without backslashes).
Anything else is left to the standard library's own method. The equivalence is tested on
generated header values (tests/pipeline/test_mime_params.py). ``filename`` reads a part's file
name from these parameters, decoded.
"""

from __future__ import annotations

import email.header
import email.utils
from email.message import Message

from invoice_inbox.pipeline.mime_text import bytes_to_text, declared_text, decode_header_value

# what get_param may return: a text, or (charset, language, text) for RFC 2231 values
Param = str | tuple[str | None, str | None, str]


def plain(value: object) -> list[tuple[str, str]] | None:
    """(name, value) of each ``;``-separated piece as ``get_param`` compares and returns them,
    or None when the value is not plain."""
    if not isinstance(value, str) or not value.isascii() or "\\" in value or "*" in value:
        return None
    params = []
    for piece in value.split(";"):
        if piece.count('"') % 2:  # a ";" inside quotes: the pieces are not these
            return None
        name, equals, text = piece.partition("=")
        if equals:
            params.append((name.strip().lower(), email.utils.unquote(text.strip())))
        else:
            params.append((piece.strip(), ""))
    return params


def find(params: list[tuple[str, str]], name: str) -> str | None:
    wanted = name.lower()
    for key, text in params:
        if key.lower() == wanted:
            return text
    return None


def param(msg: Message, name: str, header: str = "content-type") -> Param | None:
    """``msg.get_param(name, header=header)``."""
    params = plain(msg.get(header))
    if params is None:
        return msg.get_param(name, header=header)
    return find(params, name)


def charset(msg: Message) -> str | None:
    """``msg.get_content_charset()``."""
    params = plain(msg.get("content-type"))
    if params is None:
        return msg.get_content_charset()
    found = find(params, "charset")
    return None if found is None else found.lower()


def boundary(msg: Message) -> str | None:
    """``msg.get_boundary()``."""
    params = plain(msg.get("content-type"))
    if params is None:
        return msg.get_boundary()
    found = find(params, "boundary")
    return None if found is None else email.utils.collapse_rfc2231_value(found).rstrip()


def _with_8bit_headers_decoded(part: Message) -> Message:
    """compat32 turns a header with raw 8-bit bytes into a Header whose str() has lost them;
    rebuild the two headers that carry file names from the original bytes."""
    fixed = None
    for name in ("Content-Disposition", "Content-Type"):
        value = part.get(name)
        if isinstance(value, email.header.Header):
            if fixed is None:
                fixed = Message()
            raw = b"".join(
                c if isinstance(c, bytes) else c.encode("utf-8", "surrogateescape")
                for c, _ in email.header.decode_header(value)
            )
            fixed[name] = bytes_to_text(raw, None)
        elif value is not None and fixed is not None:
            fixed[name] = value
    if fixed is None:
        return part
    for name in ("Content-Disposition", "Content-Type"):
        if name not in fixed and part.get(name) is not None:
            fixed[name] = part.get(name)
    return fixed


def filename(part: Message) -> str | None:
    """``filename`` of Content-Disposition, else ``name`` of Content-Type, decoded (RFC 2231
    with any charset, even a broken one; RFC 2047)."""
    part = _with_8bit_headers_decoded(part)
    for header, name in (("content-disposition", "filename"), ("content-type", "name")):
        try:
            value = param(part, name, header)
        except TypeError:  # RFC 2231 parts beside a bare ``filename*=``: the standard library
            continue  # cannot order them; the name is unreadable, as if there were none
        if not value:
            continue
        if isinstance(value, tuple):  # RFC 2231: (charset, language, %-decoded text)
            charset, _, text = value
            try:
                raw = bytes(str(text), "raw-unicode-escape")
            except (UnicodeError, ValueError):
                raw = str(text).encode("utf-8", "replace")
            value = declared_text(raw, str(charset) if charset else None)
        return decode_header_value(email.utils.unquote(str(value))) or None
    return None
