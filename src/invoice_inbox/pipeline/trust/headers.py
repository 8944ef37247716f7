"""The header block of a raw mail, as sender authentication reads it: the fields in order (top
first), the From domain(s) and the Message-ID. Only the bytes before the first empty line are
parsed, so a large attachment costs nothing here; nothing in it raises on bad input.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from email.utils import getaddresses

MAX_HEADER_BYTES = 1_000_000  # a header block beyond this is not read further

_END = re.compile(rb"\r?\n\r?\n")
_FIELD = re.compile(rb"^([!-9;-~]+)[ \t]*:(.*)$")


@dataclass(frozen=True)
class Headers:
    fields: tuple[tuple[str, str], ...]  # (name as written, unfolded value), top first

    def get_all(self, name: str) -> list[str]:
        wanted = name.lower()
        return [v for n, v in self.fields if n.lower() == wanted]

    def first(self, name: str) -> str | None:
        found = self.get_all(name)
        return found[0] if found else None


def read_headers(raw: bytes) -> Headers:
    """The header fields of ``raw`` in order, unfolded; lines that are not fields are skipped."""
    end = _END.search(raw, 0, MAX_HEADER_BYTES)
    head = raw[: end.start()] if end else raw[:MAX_HEADER_BYTES]
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
        found.extend(addr for _, addr in getaddresses([value]) if addr)
    return found


def message_id(headers: Headers) -> str:
    return (headers.first("Message-ID") or "").strip()
