"""A decision from a decide worker reaches the service's process with the same documents when
their bytes travel apart from the decision (``runtime.decision_wire``), and the same decision
when it travels as plain values (``runtime.decision_codec``) instead of pickled."""

from __future__ import annotations

import hashlib
import pickle
import threading
from collections.abc import Iterator
from dataclasses import replace
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from builders import Attachment, make_mail, make_pdf, make_sized_pdf
from corpus import CORPUS
from invoice_inbox.pipeline.decide import Decision, Policy, Verdict, decide
from invoice_inbox.pipeline.trust.result import AuthStatus, SenderAuth
from invoice_inbox.runtime import decision_codec, decision_wire
from invoice_inbox.runtime.workers import WorkerPool
from invoice_inbox.store.blob_folder import FolderBlobStore


@pytest.fixture
def pipe() -> Iterator[tuple[Connection, Connection]]:
    ours, theirs = Pipe()  # a socket pair, as between the pool and a worker
    try:
        yield ours, theirs
    finally:
        ours.close()
        theirs.close()


def _send(conn: Connection, d: Decision) -> threading.Thread:
    """Send as a worker does, from another thread: a socket holds less than a big document."""
    t = threading.Thread(target=decision_wire.send_decided, args=(conn, d))
    t.start()
    return t


def _decided(*attachments: Attachment) -> Decision:
    d = decide(make_mail(attachments=list(attachments)))
    assert d.verdict is Verdict.IMPORT
    return d


def _same(a: Decision, b: Decision) -> None:
    assert pickle.dumps(a.documents) and a.documents  # documents to compare
    assert [(x.data, x.sha256, x.filename, x.kind) for x in a.documents] == [
        (y.data, y.sha256, y.filename, y.kind) for y in b.documents
    ]
    rest = ("verdict", "reason", "headers", "hits", "misses", "skipped", "rule")
    assert [getattr(a, f) for f in rest] == [getattr(b, f) for f in rest]


def test_a_decision_arrives_with_its_documents(pipe: tuple[Connection, Connection]) -> None:
    ours, theirs = pipe
    big = make_sized_pdf(3 * 1024 * 1024, seed=3)
    d = _decided(Attachment("big.pdf", big), Attachment("small.pdf", make_pdf("Invoice 2")))
    assert len(d.documents) == 2
    sender = _send(theirs, d)
    kind, got = decision_wire.recv(ours)  # type: ignore[misc]
    sender.join()
    assert kind == "decided"
    assert isinstance(got, Decision)
    _same(d, got)
    assert got.documents[0].sha256 == hashlib.sha256(big).hexdigest()
    assert not ours.poll()  # nothing left over for the next message


def test_the_decision_sent_first_leaves_the_bytes_out(pipe: tuple[Connection, Connection]) -> None:
    ours, theirs = pipe
    big = make_sized_pdf(1024 * 1024, seed=4)
    d = _decided(Attachment("big.pdf", big))
    sender = _send(theirs, d)
    first = ours.recv_bytes()
    assert len(first) < 64 * 1024  # the decision without the document
    light, sizes = decision_codec.unpack(first)
    assert sizes == (len(big),) and not light.stored
    assert light.documents[0].data == b""
    assert light.documents[0].sha256 == hashlib.sha256(big).hexdigest()  # computed by the worker
    assert ours.recv_bytes() == big
    sender.join()


def _corpus_and_built_mails() -> list[bytes]:
    built = [
        make_mail(attachments=[Attachment("a.pdf", make_pdf("Invoice 9"))]),
        make_mail(attachments=[]),
        make_mail(subject="Rechnung \u00fc", attachments=[Attachment("\u00e4.pdf", make_pdf("9"))]),
        b"From: a@b.test\r\nDate: Tue, 1 Jul 2025 10:00:00 +0530\r\n\r\nbody\r\n",
        b"From: a@b.test\r\nDate: Tue, 1 Jul 2025 10:00:00 -0000\r\n\r\nbody\r\n",
        b"\x00\xff not a mail",
    ]
    return [*built, *(p.read_bytes() for p in sorted(CORPUS.glob("*.eml")))]


@pytest.mark.parametrize("stored", [True, False])
def test_a_packed_decision_comes_back_equal_to_the_pickled_one(stored: bool) -> None:
    """On every corpus mail and some built ones: what the service's process gets from a packed
    decision equals what it got from the pickled one, field by field and the digests too; a
    decision that cannot be packed is the one with an e-invoice or parts within a part."""
    packed = 0
    for raw in _corpus_and_built_mails():
        d = decide(raw)
        light = tuple(decision_wire._without_data(x, stored=stored) for x in d.documents)
        pickled = pickle.loads(pickle.dumps(replace(d, documents=light, stored=stored)))
        sizes = None if stored else tuple(len(x.data) for x in d.documents)
        data = decision_codec.pack(d, stored=stored, sizes=sizes)
        if data is None:
            nested = any(isinstance(v, tuple) for p in d.reason_parts for v in p.params.values())
            assert nested or any(x.einvoice is not None for x in d.documents), d.reason
            continue
        packed += 1
        got, got_sizes = decision_codec.unpack(data)
        assert got == pickled and got_sizes == sizes
        assert [x.__dict__ for x in got.documents] == [x.__dict__ for x in pickled.documents]
        assert got.headers == d.headers and repr(got.headers) == repr(d.headers)
    assert packed >= 10


def test_a_decision_that_cannot_be_packed_is_pickled(pipe: tuple[Connection, Connection]) -> None:
    ours, theirs = pipe
    d = _decided(Attachment("a.pdf", make_pdf("Invoice 10")))
    checked = replace(d, sender_auth=SenderAuth(AuthStatus.PASS, "DKIM pass"))
    assert decision_codec.pack(checked, stored=False, sizes=(1,)) is None
    sender = _send(theirs, checked)
    kind, got = decision_wire.recv(ours)  # type: ignore[misc]
    sender.join()
    assert kind == "decided" and got.sender_auth == checked.sender_auth
    _same(checked, got)
    with pytest.raises(ValueError):
        decision_codec.unpack(pickle.dumps(("decided", checked, None)))


def test_a_decision_without_documents_and_other_messages(
    pipe: tuple[Connection, Connection],
) -> None:
    ours, theirs = pipe
    d = decide(make_mail(attachments=[]))
    assert not d.documents
    decision_wire.send_decided(theirs, d)
    kind, got = decision_wire.recv(ours)  # type: ignore[misc]
    assert kind == "decided" and got.reason == d.reason and got.verdict is d.verdict
    for message in ("ready", ("memory", None), ("failed", "ValueError: x")):
        theirs.send(message)
        assert decision_wire.recv(ours) == message


def test_bytes_of_another_size_end_like_a_stopped_worker(
    pipe: tuple[Connection, Connection],
) -> None:
    ours, theirs = pipe
    d = _decided(Attachment("a.pdf", make_pdf("Invoice 3")))
    light = decision_wire._without_data(d.documents[0])
    theirs.send(("decided", Decision(d.verdict, d.reason, d.headers, (light,)), (10,)))
    theirs.send_bytes(b"12345")  # a worker that failed half-way and said something else
    with pytest.raises(EOFError):
        decision_wire.recv(ours)


def test_sizes_not_matching_the_documents_end_like_a_stopped_worker(
    pipe: tuple[Connection, Connection],
) -> None:
    ours, theirs = pipe
    d = _decided(Attachment("a.pdf", make_pdf("Invoice 3")))
    light = decision_wire._without_data(d.documents[0])
    theirs.send(("decided", Decision(d.verdict, d.reason, d.headers, (light,)), ()))
    with pytest.raises(EOFError):
        decision_wire.recv(ours)


def test_the_worker_pool_gives_the_same_documents_as_deciding_here() -> None:
    big = make_mail(attachments=[Attachment("scan.pdf", make_sized_pdf(5 * 1024 * 1024))])
    small = make_mail(attachments=[Attachment("a.pdf", make_pdf("Invoice 4"))])
    got = WorkerPool(Policy(), size=1).decide([big, small, big])
    for raw, d in zip([big, small, big], got, strict=True):
        _same(decide(raw), d)


def test_given_the_blob_folder_the_worker_stores_the_bytes_itself(
    pipe: tuple[Connection, Connection], tmp_path: Path
) -> None:
    ours, theirs = pipe
    store = FolderBlobStore(tmp_path / "blobs")
    raw = make_mail(attachments=[Attachment("a.pdf", make_pdf("Invoice 5"))])
    d = decide(raw)
    decision_wire.send_decided(theirs, d, raw=raw, store=store.root)
    first = ours.recv_bytes()
    assert len(first) < 64 * 1024 and not ours.poll()  # no bytes follow the decision
    theirs.send_bytes(first)
    kind, got = decision_wire.recv(ours)  # type: ignore[misc]
    assert kind == "decided" and isinstance(got, Decision) and got.stored
    (doc,) = got.documents
    assert doc.data == b"" and doc.size == len(d.documents[0].data)
    assert doc.sha256 == d.documents[0].sha256
    assert store.get(doc.sha256) == d.documents[0].data
    assert store.get(hashlib.sha256(raw).hexdigest()) == raw
    assert not list((tmp_path / "blobs").rglob("*.tmp"))  # renamed into place


def test_a_worker_that_cannot_write_sends_the_bytes(
    pipe: tuple[Connection, Connection], tmp_path: Path
) -> None:
    ours, theirs = pipe
    not_a_folder = tmp_path / "file"
    not_a_folder.write_bytes(b"")  # its sub-folders cannot be made: OSError, as on a full disk
    d = _decided(Attachment("a.pdf", make_pdf("Invoice 6")))
    raw = make_mail(attachments=[Attachment("a.pdf", make_pdf("Invoice 6"))])
    sender = threading.Thread(
        target=decision_wire.send_decided,
        args=(theirs, d),
        kwargs={"raw": raw, "store": not_a_folder},
    )
    sender.start()
    kind, got = decision_wire.recv(ours)  # type: ignore[misc]
    sender.join()
    assert kind == "decided" and isinstance(got, Decision) and not got.stored
    _same(d, got)


def test_a_pool_with_the_blob_folder_gives_stored_decisions(tmp_path: Path) -> None:
    store = FolderBlobStore(tmp_path / "blobs")
    raws = [make_mail(attachments=[Attachment("a.pdf", make_pdf(f"Invoice {n}"))]) for n in (7, 8)]
    got = WorkerPool(Policy(), size=1, store=store.staging_root()).decide(raws)
    for raw, d in zip(raws, got, strict=True):
        here = decide(raw)
        assert d.stored and [x.sha256 for x in d.documents] == [x.sha256 for x in here.documents]
        assert [store.get(x.sha256) for x in d.documents] == [x.data for x in here.documents]
        assert store.get(hashlib.sha256(raw).hexdigest()) == raw
