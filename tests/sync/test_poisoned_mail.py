"""DESIGN invariant 8 against a real Dovecot and the real import address: a mail that needs more
than a decide worker may use, or that stopped the fetch process twice while it was being
decided, is quarantined with the reason and filed as not imported; the other mails of the run
are imported."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from builders import Attachment, make_mail, make_many_lines_mail, make_pdf
from conftest import AP
from harness.dns_server import DnsServer
from invoice_inbox.pipeline.limits import MB, Limits
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.sync import SourcePlan
from invoice_inbox.store.models import Source
from sync import test_import_address as import_address

HELPER = str(Path(__file__).with_name("fetch_with_observer.py"))
Receiver = import_address.Receiver
FILED = ("--move-imported-to", "Imported", "--move-not-imported-to", "Not imported")
SENDER = "billing@supplier.example"


def invoice(subject: str, filename: str, pdf: bytes) -> bytes:
    return make_mail(from_=SENDER, subject=subject, attachments=[Attachment(filename, pdf)])


def invoice_to(address: str, number: str) -> bytes:
    return import_address.invoice(number, to=address)


def on_server(ap: AP, folder: str) -> list[bytes]:
    return [raw for _, _, _, raw in ap.mailbox.server.fetch_messages(ap.mailbox.user, folder)]


def attempts_left(ap: AP) -> int:
    """Decide attempts still recorded (none once every mail's decision is committed)."""
    from invoice_inbox.store.models import DecideAttempt

    app = App.open(ap.data_dir)
    try:
        with app.db.session() as s:
            return s.scalar(select(func.count()).select_from(DecideAttempt)) or 0
    finally:
        app.close()


def decide_with(monkeypatch: pytest.MonkeyPatch, limits: Limits) -> None:
    """Every source of this process decides with *limits* (instead of the defaults)."""
    of = SourcePlan.of.__func__  # type: ignore[attr-defined]

    def with_limits(cls: type[SourcePlan], src: Source) -> SourcePlan:
        plan = of(cls, src)
        return replace(plan, policy=replace(plan.policy, limits=limits))

    monkeypatch.setattr(SourcePlan, "of", classmethod(with_limits))


@pytest.fixture
def low_memory(monkeypatch: pytest.MonkeyPatch) -> Iterator[Limits]:
    """Sources decide with a 256 MB memory limit (the default is 1024 MB)."""
    limits = Limits(memory_bytes=256 * MB)
    decide_with(monkeypatch, limits)
    yield limits


def heavy_mail(sender: str, subject: str) -> bytes:
    """A 12 MB mail that needs about 400 MB to parse: four million one-character lines, each a
    Python object in the MIME parser. (A big base64 attachment no longer does: its body is
    decoded straight from the raw bytes.)"""
    mail = make_many_lines_mail(4_000_000, subject=subject)
    return mail.replace(b"billing@supplier.example", sender.encode(), 1)


def test_a_mail_over_the_memory_limit_is_quarantined_and_the_others_are_imported(
    ap: AP, low_memory: Limits
) -> None:
    pdfs = {f"INV-{i}.pdf": make_pdf(f"invoice {i}") for i in range(2)}
    big = heavy_mail(SENDER, "Scanned binder")
    ap.mailbox.append("INBOX", invoice("Invoice 0", "INV-0.pdf", pdfs["INV-0.pdf"]))
    ap.mailbox.append("INBOX", big)
    ap.mailbox.append("INBOX", invoice("Invoice 1", "INV-1.pdf", pdfs["INV-1.pdf"]))
    ap.add_source("--allow-sender", SENDER, *FILED)

    summary = ap.ok("fetch", "ap", "--json").json()

    assert (summary["imported"], summary["quarantined"]) == (2, 1)
    mails = {m["subject"]: m for m in ap.messages()}
    assert mails["Scanned binder"]["decision"] == "quarantined"
    assert mails["Scanned binder"]["reason"] == (
        "could not be processed: exceeded the memory limit (256 MB)"
    )
    assert sorted(d["filename"] for d in ap.documents()) == sorted(pdfs)
    assert on_server(ap, "Not imported") == [big]
    assert ap.mailbox.count("Imported") == 2
    assert ap.mailbox.count("INBOX") == 0
    assert attempts_left(ap) == 0


def kill_while_deciding(ap: AP, uid: int) -> subprocess.CompletedProcess[str]:
    """A fetch in its own process, SIGKILLed when it starts deciding mail *uid* (as the
    machine's OOM killer would end the service with its workers)."""
    return subprocess.run(
        [sys.executable, HELPER, str(ap.data_dir), "ap", "kill-with", "deciding", str(uid)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "PYTHONPATH": ":".join(sys.path)},
    )


def test_a_mail_that_stopped_the_fetch_twice_is_quarantined_and_filed_as_not_imported(
    ap: AP,
) -> None:
    pdfs = {f"INV-{i}.pdf": make_pdf(f"invoice {i}") for i in range(3)}
    poison = invoice("Poison", "INV-1.pdf", pdfs["INV-1.pdf"])
    ap.mailbox.append("INBOX", invoice("Invoice 0", "INV-0.pdf", pdfs["INV-0.pdf"]))
    poison_uid = ap.mailbox.append("INBOX", poison)
    ap.mailbox.append("INBOX", invoice("Invoice 2", "INV-2.pdf", pdfs["INV-2.pdf"]))
    ap.add_source("--allow-sender", SENDER, *FILED)

    for _ in range(3):  # first with its group, then twice on its own
        killed = kill_while_deciding(ap, poison_uid)
        assert killed.returncode == -9, killed.stderr
        assert ap.mailbox.count("INBOX") == 3, "nothing filed yet"

    summary = ap.ok("fetch", "ap", "--json").json()

    assert (summary["imported"], summary["quarantined"]) == (2, 1)
    mails = {m["subject"]: m for m in ap.messages()}
    assert mails["Poison"]["decision"] == "quarantined"
    assert mails["Poison"]["reason"] == "could not be processed (stopped the worker twice)"
    assert mails["Poison"]["filed_to"] == "Not imported"
    assert sorted(d["filename"] for d in ap.documents()) == ["INV-0.pdf", "INV-2.pdf"]
    assert on_server(ap, "Not imported") == [poison]
    assert ap.mailbox.count("Imported") == 2
    assert ap.mailbox.count("INBOX") == 0
    assert attempts_left(ap) == 0
    again = ap.ok("fetch", "ap", "--json").json()
    assert again["messages_seen"] == 0


def test_the_import_address_answers_250_for_a_mail_over_the_memory_limit_and_takes_the_next(
    tmp_path: Path, low_memory: Limits, dns_server: DnsServer
) -> None:
    rx = Receiver(tmp_path / "data", max_size=64 * MB, dns=dns_server)
    try:
        address = rx.add_company("ACME")["import_address"]
        heavy = make_many_lines_mail(4_000_000, subject="Statement")  # 12 MB, ~400 MB parsed
        assert rx.send([address], heavy) == {}  # 250: stored, quarantined
        assert rx.send([address], invoice_to(address, "4711")) == {}
        mails = {m["subject"]: m for m in rx.messages()}
        assert mails["Statement"]["decision"] == "quarantined"
        assert mails["Statement"]["reason"] == (
            "could not be processed: exceeded the memory limit (256 MB)"
        )
        assert mails["Invoice 4711"]["decision"] == "import"
        assert [d["filename"] for d in rx.documents("ACME")] == ["INV-4711.pdf"]
    finally:
        rx.stop()


def test_a_recheck_leaves_a_mail_over_the_memory_limit_not_imported_and_imports_the_rest(
    ap: AP, low_memory: Limits
) -> None:
    new = "billing@new-supplier.example"
    small = make_mail(
        from_=new, subject="Invoice 7", attachments=[Attachment("INV-7.pdf", make_pdf("7"))]
    )
    big = heavy_mail(new, "Scanned binder")
    ap.mailbox.append("INBOX", big)
    ap.mailbox.append("INBOX", small)
    ap.add_source("--allow-sender", SENDER, *FILED)
    first = ap.ok("fetch", "ap", "--json").json()
    assert first["not_imported"] == 2  # the sender alone decides: nothing parsed yet

    ap.ok("source", "set", "ap", "--allow-sender", SENDER, "--allow-sender", new)
    summary = ap.ok("recheck", "ap", "--json").json()

    assert (summary["checked"], summary["imported"], summary["still_not_imported"]) == (2, 1, 1)
    mails = {m["subject"]: m for m in ap.messages()}
    assert mails["Scanned binder"]["decision"] == "not_imported"
    assert mails["Invoice 7"]["decision"] == "import"
    assert [d["filename"] for d in ap.documents()] == ["INV-7.pdf"]
    assert on_server(ap, "Not imported") == [big]
    assert attempts_left(ap) == 0
