"""The bodies of a batch of uids: ``UID FETCH set (UID BODY.PEEK[])``, read lean.

imaplib sends the command and reads its answer as always (tags, literals ``{n}`` read whole,
``* BYE``, ``BAD``, unsolicited EXISTS/EXPUNGE/FLAGS kept in ``untagged_responses`` as it keeps
them, the protocol trace where it is on). What costs is imapclient's general response parser,
which lexes every FETCH response token by token and builds a dict per mail. Here each FETCH
response is matched against exactly what this command can bring: ``UID n`` and ``BODY[]``
(a literal or NIL) in either order, with the unsolicited ``FLAGS (...)`` and ``MODSEQ (n)`` a
server may add. Any other response (a quoted body, an item never asked for) goes through
imapclient's parser, as before.

Kept from ``IMAPClient.fetch``: uids the server did not return (moved or expunged meanwhile)
are absent; a ``NO`` is ``"fetch failed: <the server's words>"``; a FETCH response for a uid
not asked for is dropped. A body of NIL is a mail expunged by another session whose EXPUNGE this
session has not been told yet (RFC 2180 §4.1.2; Dovecot answers so): absent too, where
imapclient gave None for bytes. Refused, once the answer is read whole (the connection stays
usable): a binary literal ``~{n}`` (RFC 3516, never asked for) and a body without its uid.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from imapclient.exceptions import IMAPClientError
from imapclient.response_parser import parse_fetch_response

if TYPE_CHECKING:
    from imapclient import IMAPClient

_LITERAL_END = re.compile(rb"(~?)\{\d+\}\Z")  # what imaplib read a literal after
_RESPONSE = re.compile(rb"(\d+) \((.*)\)\Z", re.DOTALL)
# one item and its separator; \x00 stands for a literal (IMAP text has no NUL)
_ITEM = re.compile(
    rb"(?:UID (\d+)|BODY\[\] (\x00|NIL)|FLAGS \([^()\x00]*\)|MODSEQ \(\d+\))(?: |\Z)"
)


class _Nil:
    """A body of NIL."""


_NIL = _Nil()


class _Unknown(Exception):
    """A FETCH response this reader does not take apart: imapclient's parser does."""


def uid_set(uids: Iterable[int]) -> bytes:
    """``1:3,7,9:10`` for 1 2 3 7 9 10: runs of consecutive uids as ranges."""
    out: list[bytes] = []
    ordered = sorted(set(uids))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        first, last = ordered[i], ordered[j]
        out.append(b"%d" % first if first == last else b"%d:%d" % (first, last))
        i = j + 1
    return b",".join(out)


def fetch_bodies(client: IMAPClient, uids: Sequence[int]) -> dict[int, bytes]:
    """UID FETCH *uids* (UID BODY.PEEK[]) in the selected folder: {uid: raw bytes} of those the
    server returned. Errors are imaplib's and imapclient's (``IMAPClientError`` and its abort)."""
    if not uids:
        return {}
    imap = client._imap
    imap.untagged_responses.pop("FETCH", None)  # left from earlier commands: not ours
    tag = imap._command("UID", "FETCH", uid_set(uids), "(UID BODY.PEEK[])")
    typ, data = imap._command_complete("FETCH", tag)
    if typ != "OK":
        raise IMAPClientError(f"fetch failed: {_words(data[0])}")
    return read_responses(imap.untagged_responses.pop("FETCH", []), set(uids))


def read_responses(data: list[Any], wanted: set[int]) -> dict[int, bytes]:
    """The bodies in imaplib's FETCH responses (each a run of ``(line, literal)`` tuples ended
    by the line after the last literal), for the uids in *wanted*."""
    bodies: dict[int, bytes] = {}
    start = 0
    for end, part in enumerate(data):
        if isinstance(part, tuple):
            continue
        response = data[start : end + 1]
        start = end + 1
        try:
            uid, body = _quick(response)
        except _Unknown:
            uid, body = _general(response)
        if body is None:
            continue  # e.g. an unsolicited FLAGS change
        if uid is None:
            raise IMAPClientError("UID FETCH: the server sent a message body without its UID")
        if uid not in wanted or isinstance(body, _Nil):
            continue  # not asked for, or expunged meanwhile (module doc)
        bodies[uid] = body
    return bodies


def _quick(response: list[Any]) -> tuple[int | None, bytes | _Nil | None]:
    """(uid, body) of one FETCH response of the expected shape (None: not there); raises
    ``_Unknown`` otherwise."""
    lines: list[bytes] = []
    literals: list[bytes] = []
    for part in response[:-1]:
        line, literal = part
        m = _LITERAL_END.search(line)
        if m is None:
            raise _Unknown
        if m.group(1):
            raise IMAPClientError(
                "UID FETCH: the server sent a binary literal (~{n}) not asked for"
            )
        lines.append(line[: m.start()])
        literals.append(literal)
    last = response[-1]
    if not isinstance(last, bytes):
        raise _Unknown
    lines.append(last)
    text = b"\x00".join(lines)
    m = _RESPONSE.match(text)
    if m is None:
        raise _Unknown
    items, pos = m.group(2), 0
    uid: int | None = None
    body: bytes | _Nil | None = None
    taken = 0
    while pos < len(items):
        item = _ITEM.match(items, pos)
        if item is None:
            raise _Unknown
        if item.group(1) is not None:
            uid = int(item.group(1))
        elif item.group(2) == b"\x00":
            body = literals[taken]
            taken += 1
        elif item.group(2) == b"NIL":
            body = _NIL
        pos = item.end()
    if taken != len(literals):
        raise _Unknown
    return uid, body


def _general(response: list[Any]) -> tuple[int | None, bytes | _Nil | None]:
    """(uid, body) of one FETCH response by imapclient's parser (None: not there)."""
    for items in parse_fetch_response(response, True, False).values():
        uid = items.get(b"UID")
        if b"BODY[]" not in items:
            return None, None
        body = items[b"BODY[]"]
        if body is not None and not isinstance(body, bytes):
            raise IMAPClientError("UID FETCH: the server sent a message body that is not a string")
        return (uid if isinstance(uid, int) else None), (_NIL if body is None else body)
    return None, None


def _words(arg: object) -> str:
    return arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
