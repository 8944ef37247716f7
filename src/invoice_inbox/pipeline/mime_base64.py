"""A leaf part's base64 body decoded with pybase64 (SIMD) when it is plain, canonical base64.

The standard library decodes a part's base64 at about 120 MB/s (``binascii.a2b_base64`` in
Python 3.11, after joining the lines), a third of what deciding a 50 KB invoice mail costs.
``decoded`` gives the same bytes as ``Message.get_payload(decode=True)`` for the cases it takes:
an ASCII body of the base64 alphabet and line breaks only, whole quads, padding only at the end.
For anything else (other characters, missing padding, 8-bit bytes, padding inside) it returns
None and the standard library decodes the part as before, defects and all. The equivalence is
tested on generated and damaged bodies (tests/pipeline/test_mime_base64.py).
"""

from __future__ import annotations

import binascii
from email.message import Message

import pybase64


def decoded(part: Message) -> bytes | None:
    """The decoded body of a ``Content-Transfer-Encoding: base64`` leaf, or None when the part
    is something else or its base64 is not plain and canonical (the caller decodes it then)."""
    if part.is_multipart():
        return None
    if str(part.get("content-transfer-encoding", "")).lower() != "base64":
        return None
    payload = part.get_payload(decode=False)
    if not isinstance(payload, str) or not payload.isascii():
        return None
    return decode_canonical(without_line_breaks(payload.encode("ascii")))


def without_line_breaks(encoded: bytes) -> bytes:
    """*encoded* without its CRs and LFs (two single-byte deletions: a fifth of the time of one
    ``replace(b"\\r\\n", b"")``)."""
    return encoded.replace(b"\r", b"").replace(b"\n", b"")


def decode_canonical(encoded: bytes) -> bytes | None:
    """*encoded* (no line breaks) decoded, when it is whole quads with padding only at the end;
    else None. Characters outside the alphabet are refused by pybase64's ``validate``."""
    size = len(encoded)
    if size % 4:
        return None
    pad = encoded.find(b"=")
    if pad != -1 and not (pad == size - 1 or (pad == size - 2 and encoded[-1:] == b"=")):
        return None
    try:
        return pybase64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
