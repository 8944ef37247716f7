"""The header block of a mail and the fields ``mime.Headers`` is made of, read cheaply.

``header_block`` finds the first empty line without crossing a whole body for the kind of
line break a mail does not use; ``envelope`` takes the envelope fields in one pass over a
message's header fields instead of one ``Message.get`` each.
"""

from __future__ import annotations

from email import policy
from email.message import Message


def header_block(raw: bytes) -> bytes:
    """The bytes up to the first empty line (CRLF or LF style); the whole message if none."""
    # Both kinds are looked for in a growing window: neither search crosses a whole body for
    # the kind of empty line a mail does not use. The first of each kind in a window is the
    # first in the mail, and one found alone comes before any of the other kind (that one
    # would start near the window's end, past it).
    for window in WINDOWS:
        crlf = raw.find(b"\r\n\r\n", 0, window)
        # an LF one counts only before a CRLF one: the search stops there (a CRLF mail's
        # header block is read once for each kind)
        lf = raw.find(b"\n\n", 0, crlf + 1 if crlf >= 0 else window)
        if lf >= 0:
            return raw[: lf + 2]
        if crlf >= 0:
            return raw[: crlf + 4]
        if window >= len(raw):
            break
    return raw


WINDOWS = (8 * 1024, 256 * 1024, 2**62)


# the fields Headers is made of, by their lower-cased names
ENVELOPE = frozenset(("from", "to", "subject", "date", "message-id"))


def envelope(msg: Message) -> dict[str, object]:
    """``msg.get(name)`` of each ``ENVELOPE`` field present, in one pass over the fields. For
    From, To and Subject a text with raw 8-bit bytes stays text: ``decode_header_value`` gives
    the same for it as for the ``Header`` compat32 would make of it (one unknown-8bit chunk)."""
    found: dict[str, object] = {}
    exact = msg.policy is not policy.compat32
    for key, value in msg._headers:  # type: ignore[attr-defined]  # (name, value) as stored
        name = key.lower()
        if name in ENVELOPE and name not in found:
            if exact or not isinstance(value, str) or name in ("date", "message-id"):
                value = msg.policy.header_fetch_parse(key, value)
            found[name] = value
    return found
