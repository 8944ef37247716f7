"""A decision on its way from a decide worker to the service's process, its documents' bytes
sent apart from the rest.

Pickled whole, a decision with a 50 MB document costs the worker a 50 MB pickle next to the
document, and the receiving process the pickle plus the document unpickled from it: one more
copy of the attachment on each side. ``send_decided`` pickles the decision with its documents'
bytes left out (and their sizes), then sends each document's bytes as a message of its own,
straight from the document; ``recv`` reads a message as ``Connection.recv`` does and, for a
decision, the bytes that follow it, and gives ``("decided", decision)`` with its documents
whole. Bytes of another size than announced (a worker that failed half-way) raise
``EOFError``, as a worker that ended does.

Given the blob folder (``store``), the worker puts the raw mail and the documents' bytes there
itself (``blob_folder.stage``: renamed into place, not synced) and sends the decision without
them, ``stored``, each document with its size and SHA-256: the service's process then only makes
them durable with the batch's one sync, and neither reads nor writes their bytes. A worker that
cannot write there (a full disk) sends the bytes as above, and the service's own write reports
the error.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path

from invoice_inbox.pipeline import mime
from invoice_inbox.pipeline.decide import Decision, Document, Verdict, decision
from invoice_inbox.reasons import ReasonPart, part
from invoice_inbox.runtime import decision_codec
from invoice_inbox.store.blob_folder import stage

DECIDED = "decided"


def send_decided(
    conn: Connection,
    decision: Decision,
    *,
    raw: bytes = b"",
    store: Path | None = None,
    raw_sha256: str | None = None,
) -> None:
    """Send ``decision`` with its documents' bytes as messages after it (no pickled copy), or,
    given the blob folder *store*, with the mail *raw* and the documents put there (module
    doc); *raw_sha256*: the fetch process's digest of *raw*, or None to hash it here. A plain
    decision goes as plain values (``decision_codec``), any other pickled."""
    if store is not None and _staged(decision, raw, store, raw_sha256):
        packed = decision_codec.pack(decision, stored=True, sizes=None)
        if packed is not None:
            conn.send_bytes(packed)
            return
        stored = tuple(_without_data(d, stored=True) for d in decision.documents)
        _send(conn, (DECIDED, replace(decision, documents=stored, stored=True), None))
        return
    sizes = tuple(len(d.data) for d in decision.documents)
    packed = decision_codec.pack(decision, stored=False, sizes=sizes)
    if packed is not None:
        conn.send_bytes(packed)
    else:
        light = replace(decision, documents=tuple(_without_data(d) for d in decision.documents))
        _send(conn, (DECIDED, light, sizes))  # pickled whole before anything is written
    for doc in decision.documents:
        conn.send_bytes(doc.data)


def _send(conn: Connection, message: tuple[object, ...]) -> None:
    """``conn.send(message)`` without ``ForkingPickler``, whose every pickler copies the copyreg
    table (3 us a mail here); a decision holds nothing it reduces (sockets, connections)."""
    conn.send_bytes(pickle.dumps(message, pickle.HIGHEST_PROTOCOL))


def recv(conn: Connection) -> object:
    """The next message from a worker; a decision comes whole: ``("decided", decision)``."""
    data = conn.recv_bytes()
    if data[:1] == decision_codec.MARK:
        decision, sizes = decision_codec.unpack(data)
    else:
        message = pickle.loads(data)
        if not (isinstance(message, tuple) and len(message) == 3 and message[0] == DECIDED):
            return message
        _, decision, sizes = message
        if not isinstance(decision, Decision):
            raise EOFError("the worker sent a decision out of order")
    if sizes is None and decision.stored:  # its bytes are in the blob folder
        return (DECIDED, decision)
    if sizes is None or len(sizes) != len(decision.documents):
        raise EOFError("the worker sent a decision out of order")
    documents = []
    for doc, size in zip(decision.documents, sizes, strict=True):
        data = conn.recv_bytes()
        if len(data) != size:
            raise EOFError("the worker sent a document of another size than announced")
        documents.append(_with_data(doc, data))
    return (DECIDED, replace(decision, documents=tuple(documents)))


def _staged(decision: Decision, raw: bytes, store: Path, raw_sha256: str | None = None) -> bool:
    """Put *raw* (under *raw_sha256*, hashed here when None) and the decision's documents into
    the blob folder; False when it cannot."""
    try:
        stage(store, raw_sha256 or hashlib.sha256(raw).hexdigest(), raw)
        for doc in decision.documents:
            stage(store, doc.sha256, doc.data)
    except OSError:
        return False
    return True


def _without_data(doc: Document, *, stored: bool = False) -> Document:
    """*doc* without its bytes (with their size when *stored*), its SHA-256 computed here (the
    worker) and kept: a ``cached_property`` lives in the instance's dictionary, which pickling
    carries."""
    light = replace(doc, data=b"", stored_size=len(doc.data) if stored else None)
    light.__dict__["sha256"] = doc.sha256
    return light


def _with_data(doc: Document, data: bytes) -> Document:
    full = replace(doc, data=data)
    digest = doc.__dict__.get("sha256")
    if digest is not None:  # computed by the worker: not hashed again here
        full.__dict__["sha256"] = digest
    return full


HEADERS_IN_PARENT = 256 * 1024  # a stopped mail's header block read here only up to this size

NOT_PROCESSED = part("not_processed")  # "could not be processed: ..."


def quarantined(raw: bytes, *reason: ReasonPart) -> Decision:
    """A decision made without deciding (a mail that stopped its worker), in the service's
    process: quarantined with *reason* (its parts). The envelope is read here only from a header
    block of ordinary size."""
    headers = None
    if len(mime.header_block(raw)) <= HEADERS_IN_PARENT:
        try:
            headers = mime.parse_headers(raw)
        except Exception:  # unreadable headers: the row shows none
            headers = None
    return decision(Verdict.QUARANTINED, reason, headers, hits=("limits",))
