"""A decision as plain values, the way a decide worker sends the common one to the service.

``pickle`` rebuilds a decision object by object: its class looked up, each frozen dataclass
restored attribute by attribute, each enum and each dated header through its constructor. That
cost the service's process, whose one interpreter takes every worker's answers, about 55 us of
CPU a mail at 10,000 mails (three times what the same unpickling costs in a quiet loop).
:func:`pack` writes a decision as nested tuples of strings, numbers and ``None`` with
``marshal`` (which builds only those), and :func:`unpack` makes the objects from them directly.

Only what a worker decides is packed: a decision without sender authentication or look-alike
(both set later, in the service's process), whose documents carry no e-invoice and whose
reason parameters are plain values. :func:`pack` returns None for any other, and the caller
pickles it as before. ``marshal`` reads only the types it writes; it runs no code on loading.
"""

from __future__ import annotations

import marshal
from datetime import datetime
from typing import Any

from invoice_inbox.pipeline import mime
from invoice_inbox.pipeline.decide import Decision, Verdict
from invoice_inbox.pipeline.extract import Document, Kind, Skipped
from invoice_inbox.reasons import ReasonPart

MARK = b"D"  # the first byte of a packed decision; a pickle (protocol 2 on) starts with 0x80
_VERSION = 4  # marshal's format (the newest, Python 3.4 on); both ends are one installation
_PLAIN = (str, int, float, type(None))
_VERDICTS = {str(v): v for v in Verdict}
_KINDS = {str(k): k for k in Kind}


def pack(decision: Decision, *, stored: bool, sizes: tuple[int, ...] | None) -> bytes | None:
    """*decision* as bytes (``MARK`` first), its documents without their bytes: *stored* (the
    worker put them into the blob folder: each document's size and SHA-256 go along) or with
    *sizes*, those of the bytes sent after it. None when it is not a plain one (module doc)."""
    d = decision
    if d.sender_auth is not None or d.lookalike_of is not None:
        return None
    docs = []
    for doc in d.documents:
        if doc.einvoice is not None:
            return None
        docs.append((
            doc.filename, doc.media_type, str(doc.kind), doc.rule, doc.origin_sender,
            _date(doc.origin_date), doc.damaged, doc.iban,
            len(doc.data) if stored else doc.stored_size, doc.sha256,
        ))  # fmt: skip
    parts = []
    for p in d.reason_parts:
        if not all(isinstance(v, _PLAIN) for v in p.params.values()):
            return None  # parts within a part
        parts.append((p.code, dict(p.params)))
    h = d.headers
    head = None if h is None else (
        h.sender, h.sender_name, h.to, h.subject, h.message_id, _date(h.date)
    )  # fmt: skip
    values = (
        str(d.verdict), d.reason, head, tuple(docs), d.hits, d.misses,
        tuple((s.name, s.reason) for s in d.skipped), d.rule, tuple(parts), stored, sizes,
    )  # fmt: skip
    try:
        return MARK + marshal.dumps(values, _VERSION)
    except ValueError:  # a value marshal does not write (a subclass of str, say)
        return None


def unpack(data: bytes | memoryview) -> tuple[Decision, tuple[int, ...] | None]:
    """The decision :func:`pack` wrote into *data*, and the sizes of the bytes that follow it
    (None when it was stored). Raises ``ValueError`` on anything else."""
    if bytes(data[:1]) != MARK:
        raise ValueError("not a packed decision")
    values: Any = marshal.loads(data[1:])
    verdict, reason, head, docs, hits, misses, skipped, rule, parts, stored, sizes = values
    documents = []
    for (
        filename,
        media_type,
        kind,
        doc_rule,
        origin,
        origin_date,
        damaged,
        iban,
        size,
        digest,
    ) in docs:
        doc = Document(
            filename, media_type, b"", _KINDS[kind], None, doc_rule, origin,
            _datetime(origin_date), damaged, iban, size,
        )  # fmt: skip
        doc.__dict__["sha256"] = digest  # hashed by the worker (a cached_property's place)
        documents.append(doc)
    headers = None
    if head is not None:
        sender, name, to, subject, message_id, date = head
        headers = mime.Headers(sender, name, to, subject, message_id, _datetime(date))
    decision = Decision(
        _VERDICTS[verdict], reason, headers, tuple(documents), hits, misses,
        tuple(Skipped(n, r) for n, r in skipped), rule,
        reason_parts=tuple(ReasonPart(code, params) for code, params in parts), stored=stored,
    )  # fmt: skip
    return decision, sizes


def _date(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _datetime(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
