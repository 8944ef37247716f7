"""The header block of a raw mail, as sender authentication reads it: the fields in order (top
first), the From domain(s) and the Message-ID. Only the bytes before the first empty line are
parsed, so a large attachment costs nothing here; nothing in it raises on bad input.

Every mail of a run is read here, so the common cases take a fast path with the same result:
a header block whose every line is a field or its continuation is read with one regular
expression (any other line, one the slow path skips, sends the block to the slow path), and a
From value of the plain forms ``Name <local@domain>``, ``"Name" <local@domain>`` and
``local@domain`` gives its address without ``email.utils.getaddresses`` (anything else goes to
it).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from email.utils import getaddresses

MAX_HEADER_BYTES = 1_000_000  # a header block beyond this is not read further

_END = re.compile(rb"\n\r?\n")
_FIELD = re.compile(rb"^([!-9;-~]+)[ \t]*:(.*)$")
# a field with its continuation lines; each match covers whole lines of the block
_FOLDED = re.compile(rb"^([!-9;-~]+)[ \t]*:([^\n]*(?:\n[ \t][^\n]*)*)", re.M)
# a line after the first that is neither a field nor a continuation: the slow path appends the
# continuation lines after it to the field before it, which _FOLDED would not
_ODD_LINE = re.compile(rb"\n(?![!-9;-~]+[ \t]*:|[ \t])")

# the plain From forms getaddresses reads as one address, exactly: a dot-atom local part and a
# domain of letters, digits and hyphens, after an optional display name of atext and spaces or
# a quoted one without escapes
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDR = rf"{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_PLAIN_FROM = re.compile(
    rf"[ \t]*(?:(?:\"[^\"\\\r\n]*\"|[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~ \t-]*)[ \t]*<({_ADDR})>"
    rf"|({_ADDR}))[ \t]*"
)


@dataclass(frozen=True)
class Headers:
    fields: tuple[tuple[str, str], ...]  # (name as written, unfolded value), top first
    _by_name: dict[str, list[str]] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        for name, value in self.fields:  # the values of each name, for get_all
            self._by_name.setdefault(name.lower(), []).append(value)

    def get_all(self, name: str) -> list[str]:
        return list(self._by_name.get(name.lower(), ()))

    def first(self, name: str) -> str | None:
        found = self._by_name.get(name.lower())
        return found[0] if found else None


def read_headers(raw: bytes, names: Collection[str] | None = None) -> Headers:
    """The header fields of ``raw`` in order, unfolded; lines that are not fields are skipped.
    *names* (lower case): only the fields of these names are kept (the others are not decoded)."""
    end = head_end(raw)
    head = raw[:end] if end >= 0 else raw[:MAX_HEADER_BYTES]
    if _ODD_LINE.search(head) is not None:
        read = _read_lines(head)
        if names is None:
            return read
        return Headers(tuple((n, v) for n, v in read.fields if n.lower() in names))
    wanted = None if names is None else {n.encode("ascii") for n in names}
    fields: list[tuple[str, str]] = []
    for name, value in _FOLDED.findall(head):
        if wanted is not None and name.lower() not in wanted:
            continue
        if b"\n" in value:  # continuation lines: each stripped, joined by one space
            text = " ".join(_text(line.strip()) for line in value.split(b"\n"))
        else:
            text = _text(value.strip())
        fields.append((name.decode("ascii"), text))
    return Headers(tuple(fields))


def head_end(raw: bytes) -> int:
    """Where the first empty line within ``MAX_HEADER_BYTES`` starts (its CR, if its line ends
    in CR LF), or -1. Searched as LF, optional CR, LF: a pattern that starts with a fixed byte is
    searched ten times faster than one that starts with an optional CR."""
    found = _END.search(raw, 0, MAX_HEADER_BYTES)
    if found is None:
        return -1
    at = found.start()
    return at - 1 if at > 0 and raw[at - 1] == 13 else at  # 13: \r


def _read_lines(head: bytes) -> Headers:
    """The header block read line by line (every block reads the same here; slower)."""
    fields: list[tuple[str, str]] = []
    for line in re.split(rb"\r?\n", head):
        if line[:1] in (b" ", b"\t"):
            if fields:
                name, value = fields[-1]
                fields[-1] = (name, value + " " + _text(line.strip()))
            continue
        match = _FIELD.match(line)
        if match:
            fields.append((match.group(1).decode("ascii"), _text(match.group(2).strip())))
    return Headers(tuple(fields))


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace")


def normalize_domain(domain: str) -> str:
    """Lower case, no final dot, IDN as its ASCII (xn--) form where it converts."""
    domain = domain.strip().rstrip(".").lower()
    if domain and not domain.isascii():
        with contextlib.suppress(UnicodeError):
            domain = domain.encode("idna").decode("ascii")
    return domain


def address_domain(address: str) -> str | None:
    """The domain of ``local@domain`` (None without one)."""
    local, at, domain = address.strip().strip("<>").rpartition("@")
    if not at or not local or not domain:
        return None
    domain = normalize_domain(domain)
    return domain if re.fullmatch(r"[a-z0-9_.-]+", domain) and "." in domain else None


def from_addresses(headers: Headers) -> list[str]:
    """Every address in every From field. Encoded words stay encoded: a display name decoded
    to ``billing@supplier.test`` must not be read as the address."""
    found: list[str] = []
    for value in headers.get_all("From"):
        plain = _PLAIN_FROM.fullmatch(value)
        if plain is not None:
            found.append(plain.group(1) or plain.group(2))
        else:
            found.extend(addr for _, addr in getaddresses([value]) if addr)
    return found


def message_id(headers: Headers) -> str:
    return (headers.first("Message-ID") or "").strip()
