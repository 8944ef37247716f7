"""Decide what to do with one message: import its documents, or not, always with a reason.

The checks run in the order of ``CHECKS``; the first that stops the message sets the verdict and
the reason. Every check's name is recorded as a hit (it stopped the message) or a miss (it let the
message pass), so the ledger can answer "why?" for every mail.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

from invoice_inbox.pipeline import mime, senders, sniff
from invoice_inbox.pipeline.filenames import sanitize


class Verdict(StrEnum):
    """What happens to a message."""

    IMPORT = "import"  # its documents go to the queue; the mail is filed as imported
    NOT_IMPORTED = "not_imported"  # a check stopped it; the mail is filed as not imported
    QUARANTINED = "quarantined"  # it could not be read; kept with the reason, run goes on


@dataclass(frozen=True, kw_only=True)
class Policy:
    """A source's settings that decide, as plain data (no database, no mailbox)."""

    allowed_senders: tuple[str, ...] = ()
    require_attachment: bool = True  # a valid invoice mail has an attachment
    require_pdf: bool = True  # ... and that attachment is a PDF, judged by its bytes


@dataclass(frozen=True)
class Document:
    """One file taken from a message. ``kind`` says how it was found (``attachment``)."""

    filename: str
    media_type: str
    data: bytes = field(repr=False)
    kind: str = "attachment"

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class Decision:
    """The verdict for one message, the one sentence that explains it, and its documents."""

    verdict: Verdict
    reason: str
    headers: mime.Headers | None
    documents: tuple[Document, ...] = ()
    hits: tuple[str, ...] = ()
    misses: tuple[str, ...] = ()


@dataclass
class _Work:
    """What the checks share while they run on one message."""

    raw: bytes
    policy: Policy
    headers: mime.Headers
    parsed: mime.ParsedMessage | None = None
    documents: list[Document] = field(default_factory=list)

    def full(self) -> mime.ParsedMessage:
        if self.parsed is None:
            self.parsed = mime.parse(self.raw)
        return self.parsed


# A check returns None to let the message pass, or (verdict, reason) to stop it.
Check = Callable[[_Work], "tuple[Verdict, str] | None"]

# Executables and scripts are never documents, whatever a source allows.
_NEVER = (b"MZ", b"\x7fELF", b"#!", b"\xca\xfe\xba\xbe", b"\xcf\xfa\xed\xfe")


def check_allowed_sender(w: _Work) -> tuple[Verdict, str] | None:
    """The sender must be on the source's allowed list (empty list: everyone)."""
    if senders.is_allowed(w.headers.sender, w.policy.allowed_senders):
        return None
    who = w.headers.sender or "(no sender address)"
    return Verdict.NOT_IMPORTED, f"sender {who} is not on the allowed list"


def check_has_attachment(w: _Work) -> tuple[Verdict, str] | None:
    """A valid invoice mail has an attachment."""
    if not w.policy.require_attachment:
        return None
    if any(p.is_attachment for p in w.full().parts):
        return None
    return Verdict.NOT_IMPORTED, "no attachment"


def check_documents(w: _Work) -> tuple[Verdict, str] | None:
    """PDF attachments (judged by their bytes) become documents; other attachments only when
    the source does not require a PDF."""
    seen: set[bytes] = set()
    others: list[str] = []
    for index, part in enumerate(w.full().parts, start=1):
        media = sniff.media_type(part.data)
        if media == sniff.PDF:
            wanted = True
        elif not w.policy.require_pdf and part.is_attachment and part.data:
            wanted = not part.data.startswith(_NEVER)
            media = part.content_type or "application/octet-stream"
        else:
            wanted = False
        if not wanted:
            if part.is_attachment:
                others.append(part.filename or part.content_type)
            continue
        digest = hashlib.sha256(part.data).digest()
        if digest in seen:  # the same file attached twice is one document
            continue
        seen.add(digest)
        default = f"attachment-{index}.pdf" if media == sniff.PDF else f"attachment-{index}"
        w.documents.append(Document(sanitize(part.filename, default=default), media, part.data))
    if w.documents:
        return None
    if others:
        return Verdict.NOT_IMPORTED, f"no PDF attachment (found: {', '.join(others[:5])})"
    return Verdict.NOT_IMPORTED, "no PDF attachment"


# The whole policy, in order (Mailman's chain, as a table).
CHECKS: tuple[tuple[str, Check], ...] = (
    ("allowed-sender", check_allowed_sender),
    ("has-attachment", check_has_attachment),
    ("documents", check_documents),
)


def decide(raw: bytes, policy: Policy | None = None) -> Decision:
    """Decide for one raw message. Never raises for bad input: unreadable mail is quarantined."""
    policy = policy or Policy()
    try:
        w = _Work(raw=raw, policy=policy, headers=mime.parse_headers(raw))
    except Exception as exc:  # the header block itself is unreadable
        return Decision(Verdict.QUARANTINED, f"could not read the message headers: {exc}", None)
    misses: list[str] = []
    for name, check in CHECKS:
        try:
            stop = check(w)
        except Exception as exc:
            reason = f"could not read the message ({name}): {type(exc).__name__}: {exc}"
            return Decision(Verdict.QUARANTINED, reason, w.headers, hits=(name,))
        if stop is not None:
            verdict, reason = stop
            return Decision(verdict, reason, w.headers, hits=(name,), misses=tuple(misses))
        misses.append(name)
    names = ", ".join(d.filename for d in w.documents)
    count = len(w.documents)
    reason = f"{count} document{'s' if count != 1 else ''} from {w.headers.sender}: {names}"
    return Decision(Verdict.IMPORT, reason, w.headers, tuple(w.documents), misses=tuple(misses))
