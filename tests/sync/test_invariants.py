"""DESIGN invariants 1-5 and 7 against a real Dovecot: exactly once across crashes, UIDVALIDITY
changes, no expunge of other mail, and one worker per source."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from builders import Attachment, make_mail, make_pdf
from conftest import AP
from invoice_inbox.connectors.imap import ImapConnector
from invoice_inbox.store.blob_folder import FolderBlobStore

HELPER = str(Path(__file__).with_name("fetch_with_observer.py"))
FILED = ("--move-imported-to", "Imported", "--move-not-imported-to", "Not imported")


def seed(ap: AP, invoices: int = 5, others: int = 2) -> dict[str, bytes]:
    """Invoice mails from the allowed sender plus mails from others; returns file name -> PDF."""
    pdfs = {}
    for i in range(invoices):
        pdfs[f"INV-{i}.pdf"] = make_pdf(f"invoice {i}")
        ap.mailbox.append(
            "INBOX",
            make_mail(
                from_="billing@supplier.example",
                subject=f"Invoice {i}",
                attachments=[Attachment(f"INV-{i}.pdf", pdfs[f"INV-{i}.pdf"])],
            ),
        )
    for i in range(others):
        ap.mailbox.append(
            "INBOX",
            make_mail(
                from_="someone@elsewhere.example",
                subject=f"Other {i}",
                attachments=[Attachment(f"X-{i}.pdf", make_pdf(f"other {i}"))],
            ),
        )
    return pdfs


def run_helper(ap: AP, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, HELPER, str(ap.data_dir), "ap", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "PYTHONPATH": ":".join(sys.path)},
    )


def assert_exactly_once(ap: AP, pdfs: dict[str, bytes], others: int) -> None:
    docs = ap.documents()
    assert Counter(d["filename"] for d in docs) == Counter(pdfs.keys()), "each invoice once"
    blobs = FolderBlobStore(ap.data_dir / "blobs")
    for d in docs:
        assert blobs.get(d["sha256"]) == pdfs[d["filename"]]
    messages = ap.messages()
    keys = Counter((m["folder"], m["uidvalidity"], m["uid"], m["remote_id"]) for m in messages)
    assert all(n == 1 for n in keys.values())
    assert len(messages) == len(pdfs) + others
    assert {m["state"] for m in messages} == {"disposed"}
    assert ap.mailbox.count("INBOX") == 0, "every mail filed"
    assert ap.mailbox.count("Imported") == len(pdfs)
    assert ap.mailbox.count("Not imported") == others


@pytest.mark.parametrize("step", ["downloaded", "blobs_written", "committed", "filed"])
@pytest.mark.parametrize("nth", [1, 2])
def test_sigkill_at_each_step_then_rerun_imports_every_invoice_exactly_once(
    ap: AP, step: str, nth: int
) -> None:
    pdfs = seed(ap, invoices=5, others=2)
    ap.add_source("--allow-sender", "billing@supplier.example", *FILED)
    killed = run_helper(ap, "kill", step, str(nth), "3")  # batches of 3: die mid-way
    assert killed.returncode == -9, killed.stderr
    if step == "committed":
        assert 0 < len(ap.messages()) < 7  # the crash really was mid-run
    if step == "filed":  # filing is a stage of its own: the last batch may be committed too
        assert any(m["state"] != "disposed" for m in ap.messages())  # mid-run all the same
    ap.ok("fetch", "ap")
    assert_exactly_once(ap, pdfs, others=2)
    runs = ap.ok("runs", "--json").json()
    assert runs[-1]["status"] == "failed" and "interrupted" in runs[-1]["error"]
    assert runs[0]["status"] == "succeeded"


def test_uidvalidity_change_reimports_nothing_and_loses_nothing(ap: AP) -> None:
    pdfs = seed(ap, invoices=4, others=1)
    ap.add_source("--allow-sender", "billing@supplier.example")  # mail stays in INBOX
    ap.ok("fetch", "ap")
    before = ap.mailbox.uidvalidity("INBOX")
    after = ap.mailbox.server.recreate_folder_with_same_mails(ap.mailbox.user, "INBOX")
    assert after != before
    late = make_pdf("arrived with the new epoch")
    ap.mailbox.append(
        "INBOX",
        make_mail(from_="billing@supplier.example", attachments=[Attachment("late.pdf", late)]),
    )
    summary = ap.ok("fetch", "ap", "--json").json()
    assert (summary["messages_seen"], summary["duplicates"], summary["imported"]) == (6, 5, 1)
    docs = ap.documents()
    assert Counter(d["filename"] for d in docs) == Counter([*pdfs.keys(), "late.pdf"])
    assert ap.ok("fetch", "ap", "--json").json()["messages_seen"] == 0


@pytest.mark.parametrize("use_move", [True, False], ids=["UID MOVE", "COPY+UID EXPUNGE"])
def test_our_moves_never_expunge_mail_another_client_flagged_deleted(
    ap: AP, use_move: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a mail that is not an invoice stays in the inbox (only imported mail is moved) ...
    keep = ap.mailbox.append("INBOX", make_mail(subject="lunch on Friday?"))
    ap.add_source("--move-imported-to", "Imported")
    assert ap.ok("fetch", "ap", "--json").json()["not_imported"] == 1
    # ... then a clerk deletes it in a mail client that flags \Deleted and does not expunge
    conn = ap.mailbox.imap()
    conn.select("INBOX")
    conn.uid("STORE", str(keep), "+FLAGS", "(\\Deleted)")
    conn.logout()
    seed(ap, invoices=3, others=0)
    if not use_move:  # a server without MOVE: COPY + STORE + UID EXPUNGE of our uids only
        real = ImapConnector.move

        def move_without_capability(self: ImapConnector, uids, target):  # type: ignore[no-untyped-def]
            caps = self.client.capabilities
            monkeypatch.setattr(
                self.client, "capabilities", lambda: tuple(c for c in caps() if c != b"MOVE")
            )
            return real(self, uids, target)

        monkeypatch.setattr(ImapConnector, "move", move_without_capability)
    summary = ap.ok("fetch", "ap", "--json").json()
    assert summary["imported"] == 3
    assert ap.mailbox.count("Imported") == 3
    flags = ap.mailbox.flags("INBOX")
    assert list(flags) == [keep], "the \\Deleted mail is still in the folder"
    assert "\\Deleted" in flags[keep]


def test_two_fetches_at_once_do_not_both_process_the_source(ap: AP, tmp_path: Path) -> None:
    pdfs = seed(ap, invoices=3, others=0)
    ap.add_source(*FILED)
    ready, go = tmp_path / "ready", tmp_path / "go"
    holder = subprocess.Popen(
        [sys.executable, HELPER, str(ap.data_dir), "ap", "hold", "downloaded", str(ready), str(go)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**__import__("os").environ, "PYTHONPATH": ":".join(sys.path)},
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert holder.poll() is None, holder.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        second = ap.spawn("fetch", "ap")
        _out, err = second.communicate(timeout=60)
        assert second.returncode == 1
        assert err.startswith("error: source is being fetched by another process (pid")
        assert "Traceback" not in err
    finally:
        go.touch()
        holder.wait(timeout=60)
    assert holder.returncode == 0
    assert Counter(d["filename"] for d in ap.documents()) == Counter(pdfs.keys())


def test_many_fetches_started_together_import_exactly_once(ap: AP) -> None:
    pdfs = seed(ap, invoices=6, others=1)
    ap.add_source("--allow-sender", "billing@supplier.example", *FILED)
    procs = [ap.spawn("fetch", "ap") for _ in range(4)]
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    assert any(code == 0 for code, _ in results)
    for code, err in results:
        assert code == 0 or "being fetched by another process" in err, err
    assert_exactly_once(ap, pdfs, others=1)
