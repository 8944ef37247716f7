"""Batches overlap (runtime.pipelined) against a real Dovecot: the next batch downloads while the
one before it is still being committed, the same mail in two batches in flight is imported once,
and a failure at any stage leaves what a one-step-at-a-time run would have left."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import pytest

from builders import Attachment, make_mail, make_pdf
from conftest import AP
from harness.dovecot import write_maildir
from invoice_inbox.errors import ConnectorError
from invoice_inbox.runtime import runner
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.sync import Key, Step
from invoice_inbox.runtime.sync_steps import BATCH, BATCH_BYTES, BATCH_MOST, Batches

FILED = ("--move-imported-to", "Imported")
WAIT = 20.0  # seconds an observer waits for another stage before giving up (never in a pass)


def invoice(n: int) -> bytes:
    return make_mail(
        subject=f"Invoice {n}",
        message_id=f"<inv-{n}@supplier.example>",
        attachments=[Attachment(f"INV-{n}.pdf", make_pdf(f"invoice {n}"))],
    )


def fetch(ap: AP, observer: Callable[[Step, str, Sequence[Key]], None], batch: int) -> None:
    app = App.open(ap.data_dir)
    try:
        runner.fetch(app, "ap", observer=observer, batch_size=batch)
    finally:
        app.close()


def test_a_backlog_is_fetched_in_batches_that_grow_from_the_first(ap: AP, tmp_path) -> None:
    """Without a batch size, a folder's first batch is ``BATCH`` mails (a small folder is one
    small batch) and each next one twice the one before, up to ``BATCH_MOST``; each batch is
    committed whole, in order, every mail once."""
    count = BATCH + 2 * BATCH + BATCH_MOST + 7  # 100, 200, 400, then the 7 left
    mails = (
        make_mail(subject=f"Note {n}", message_id=f"<n{n}@supplier.example>") for n in range(count)
    )
    ap.mailbox.server.import_maildir(ap.mailbox.user, write_maildir(tmp_path / "md", mails))
    listed = ap.mailbox.uids()
    ap.add_source("--move-not-imported-to", "Not imported")
    committed: list[Sequence[Key]] = []

    def observer(step: Step, folder: str, keys: Sequence[Key]) -> None:
        if step == Step.COMMITTED:
            committed.append(list(keys))

    app = App.open(ap.data_dir)
    try:
        summary = runner.fetch(app, "ap", observer=observer)
    finally:
        app.close()
    assert [len(keys) for keys in committed] == [BATCH, 2 * BATCH, BATCH_MOST, 7]
    assert [k for keys in committed for k in keys] == listed
    assert summary.messages_seen == summary.not_imported == count
    assert ap.mailbox.count("Not imported") == count


def test_a_batch_size_given_is_every_batch() -> None:
    assert [len(b) for b in Batches(list(range(7)), 3)] == [3, 3, 1]
    assert [len(b) for b in Batches(list(range(1550)))] == [100, 200, 400, 400, 400, 50]
    assert (BATCH, BATCH_MOST) == (100, 400)


def test_batches_of_large_mails_grow_only_as_far_as_their_bytes_allow() -> None:
    """The next batch is as many mails as the last one's average size fits into BATCH_BYTES
    (never fewer than the first batch): a folder of 500 KB mails keeps batches of 100."""
    for mail_size, expected in ((50_000, 400), (200_000, 125), (500_000, 100)):
        sizes = Batches(list(range(5000)))
        got = []
        for keys in sizes:
            got.append(len(keys))
            sizes.downloaded(len(keys), len(keys) * mail_size)
        assert got[0] == BATCH and max(got) == min(expected, BATCH_MOST), mail_size
        assert max(got) * mail_size <= max(BATCH_BYTES, BATCH * mail_size)


def test_next_batch_downloads_while_the_one_before_is_committed(ap: AP) -> None:
    for n in range(1, 7):
        ap.mailbox.append("INBOX", invoice(n))
    ap.add_source("--allow-sender", "billing@supplier.example", *FILED)
    third_downloaded = threading.Event()
    overlapped: list[bool] = []

    def observer(step: Step, folder: str, keys: Sequence[Key]) -> None:
        if step == Step.DOWNLOADED and 5 in keys:
            third_downloaded.set()
        if step == Step.BLOBS_WRITTEN and 1 in keys:  # batch 1 not committed yet
            overlapped.append(third_downloaded.wait(WAIT))

    fetch(ap, observer, batch=2)
    assert overlapped == [True], "batch 3 was not downloaded before batch 1 was committed"
    assert sorted(d["filename"] for d in ap.documents()) == [f"INV-{n}.pdf" for n in range(1, 7)]
    assert ap.mailbox.count("Imported") == 6


def test_next_batch_commits_while_the_one_before_is_filed(ap: AP) -> None:
    """Filing is a stage of its own (runtime.filing_stage): batch 2 is committed while the
    server still moves batch 1, which is moved only after its own commit."""
    for n in range(1, 5):
        ap.mailbox.append("INBOX", invoice(n))
    ap.add_source("--allow-sender", "billing@supplier.example", *FILED)
    second_committed = threading.Event()
    overlapped: list[bool] = []
    imported_when_filed: list[int] = []

    def observer(step: Step, folder: str, keys: Sequence[Key]) -> None:
        if step == Step.COMMITTED and 3 in keys:
            second_committed.set()
        if step == Step.FILED and 1 in keys:  # batch 1 moved, its rows not yet disposed
            imported_when_filed.append(ap.mailbox.count("Imported"))
            overlapped.append(second_committed.wait(WAIT))

    fetch(ap, observer, batch=2)
    assert overlapped == [True], "batch 2 was not committed while batch 1 was being filed"
    assert imported_when_filed == [2], "batch 1 alone was moved when its filing ended"
    assert ap.mailbox.count("Imported") == 4
    assert all(m["state"] == "disposed" for m in ap.messages())


def test_a_copy_in_the_next_batch_is_a_duplicate_of_a_mail_not_yet_committed(ap: AP) -> None:
    first, other = invoice(1), invoice(2)
    for raw in (first, invoice(3), first, other):  # batches of 2: [1, 3] and [1 again, 2]
        ap.mailbox.append("INBOX", raw)
    ap.add_source("--allow-sender", "billing@supplier.example", *FILED)
    second_deciding = threading.Event()
    held: list[bool] = []

    def observer(step: Step, folder: str, keys: Sequence[Key]) -> None:
        if step == Step.DECIDING and 4 in keys:  # batch 2's fresh mail: its copies are known
            second_deciding.set()
        if step == Step.BLOBS_WRITTEN and 1 in keys:
            held.append(second_deciding.wait(WAIT))

    fetch(ap, observer, batch=2)
    assert held == [True], "batch 2 was not decided while batch 1 was still uncommitted"
    rows = {m["uid"]: m for m in ap.messages()}
    assert rows[3]["decision"] == "duplicate"
    assert rows[3]["duplicate_of"] == rows[1]["id"]
    names = sorted(d["filename"] for d in ap.documents())
    assert names == ["INV-1.pdf", "INV-2.pdf", "INV-3.pdf"], "the copy added no document"
    assert ap.mailbox.count("INBOX") == 0


class Boom(Exception):
    pass


@pytest.mark.parametrize(
    ("step", "uid"),
    [
        (Step.DOWNLOADED, 5),  # the download of batch 3 fails
        (Step.DECIDING, 5),  # the decide of batch 3 fails
        (Step.BLOBS_WRITTEN, 5),  # the commit of batch 3 fails
    ],
)
def test_a_failing_stage_leaves_the_earlier_batches_done_and_no_later_one_committed(
    ap: AP, step: Step, uid: int
) -> None:
    for n in range(1, 9):
        ap.mailbox.append("INBOX", invoice(n))
    ap.add_source("--allow-sender", "billing@supplier.example", *FILED)

    def observer(reached: Step, folder: str, keys: Sequence[Key]) -> None:
        if reached == step and uid in keys:
            raise Boom(f"{step} of {uid}")

    with pytest.raises(Boom):
        fetch(ap, observer, batch=2)
    rows = {m["uid"]: m for m in ap.messages()}
    assert sorted(rows) == [1, 2, 3, 4], "only the batches before the failure are committed"
    assert all(m["state"] == "disposed" for m in rows.values())
    assert ap.mailbox.count("Imported") == 4
    _the_next_run_files_the_rest_and_imports_each_once(ap)


def test_a_failed_filing_stops_the_commits_and_the_next_run_files_what_was_committed(
    ap: AP,
) -> None:
    """Filing is a stage of its own (runtime.filing_stage): batch 2 is moved and its filing
    fails before its rows say so; a batch committed meanwhile stays unfiled, nothing after the
    failure is known is committed, and the next run files the committed ones first."""
    for n in range(1, 9):
        ap.mailbox.append("INBOX", invoice(n))
    ap.add_source("--allow-sender", "billing@supplier.example", *FILED)

    failed = threading.Event()

    def observer(reached: Step, folder: str, keys: Sequence[Key]) -> None:
        if reached == Step.FILED and 3 in keys:
            failed.set()
            raise Boom("filed 3")
        if reached == Step.COMMITTED and 5 in keys:  # batch 3 committed meanwhile
            assert failed.wait(WAIT)  # batch 4 comes only after the failure is known

    with pytest.raises(Boom):
        fetch(ap, observer, batch=2)
    rows = {m["uid"]: m for m in ap.messages()}
    assert sorted(rows) in ([1, 2, 3, 4], [1, 2, 3, 4, 5, 6]), "none after the failure is known"
    disposed = sorted(u for u, m in rows.items() if m["state"] == "disposed")
    assert disposed == [1, 2], "only the batch filed before the failing one is disposed"
    assert ap.mailbox.count("Imported") == 4, "nothing is filed after the failure"
    _the_next_run_files_the_rest_and_imports_each_once(ap)


def _the_next_run_files_the_rest_and_imports_each_once(ap: AP) -> None:
    fetch(ap, lambda *_: None, batch=2)
    assert sorted(d["filename"] for d in ap.documents()) == sorted(
        f"INV-{n}.pdf" for n in range(1, 9)
    )
    assert ap.mailbox.count("Imported") == 8
    assert all(m["state"] == "disposed" for m in ap.messages())


def test_a_connection_lost_mid_folder_is_a_partial_run_with_the_earlier_batches(ap: AP) -> None:
    for n in range(1, 7):
        ap.mailbox.append("INBOX", invoice(n))
    ap.add_source("--allow-sender", "billing@supplier.example", *FILED)

    def observer(reached: Step, folder: str, keys: Sequence[Key]) -> None:
        if reached == Step.DOWNLOADED and 5 in keys:
            raise ConnectorError("the server closed the connection")

    with pytest.raises(ConnectorError):
        fetch(ap, observer, batch=2)
    runs = ap.ok("runs", "--json").json()
    assert runs[0]["status"] == "partial"
    assert runs[0]["imported"] == 4
