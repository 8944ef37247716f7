"""The central import address end to end: a real SMTP client (smtplib) talks to the real
receiver of a started Service on a real data directory, and the CLI shows what was stored.

What a company's address looks like (and says without a domain), that an accepted mail is one
"smtp" run with its ledger row and documents, duplicates, allowed senders, refused recipients,
two companies in one mail, a regenerated address, the size limit, 250 only for stored mail
(451 and nothing half-stored when storing fails) and a forwarded invoice."""

from __future__ import annotations

import re
import smtplib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from builders import Attachment, make_forward, make_mail, make_pdf
from harness.dns_server import DnsServer
from invoice_inbox.connectors.smtp_inbound import InboundSettings
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.service import Service, ServiceConfig
from sync.conftest import AP

DOMAIN = "invoices.test"
SUPPLIER = "billing@supplier.example"
TOKEN = re.compile(r"acme-[a-z0-9]{12}")


class Receiver:
    """A started Service with its SMTP receiver, and the CLI on the same data directory."""

    def __init__(self, data_dir: Path, max_size: int, dns: DnsServer) -> None:
        self.ap = AP(data_dir, None)  # type: ignore[arg-type]  # no mailbox: nothing to fetch
        self.app = App.open(data_dir)
        settings = InboundSettings(
            port=0, domain=DOMAIN, max_size=max_size, hostname="mx.test", dns_server=dns.address
        )
        self.service = Service(
            self.app,
            ServiceConfig(
                smtp=settings, http=None, poll=0.05, notify_every=3600, watch_refresh=3600
            ),
        )
        self.service.start()
        assert self.service.smtp is not None
        self.port = self.service.smtp.port

    def stop(self) -> None:
        self.service.stop()
        self.app.close()

    # -- the CLI --------------------------------------------------------------------------

    def add_company(self, name: str) -> dict[str, Any]:
        self.ap.ok("company", "add", name)
        return self.company(name)

    def company(self, name: str) -> dict[str, Any]:
        return self.ap.ok("company", "show", name, "--json").json()

    def address(self, name: str) -> str:
        address = self.company(name)["import_address"]
        assert address is not None
        return address

    def documents(self, company: str | None = None) -> list[dict[str, Any]]:
        args = ("--company", company) if company else ()
        return self.ap.ok("documents", "list", "--json", *args).json()

    def runs(self) -> list[dict[str, Any]]:
        return self.ap.ok("runs", "--json").json()

    def messages(self) -> list[dict[str, Any]]:
        return self.ap.ok("messages", "--json").json()

    # -- SMTP -----------------------------------------------------------------------------

    def client(self) -> smtplib.SMTP:
        return smtplib.SMTP("127.0.0.1", self.port, local_hostname="client.test", timeout=30)

    def send(self, rcpts: list[str], raw: bytes, mail_from: str = SUPPLIER) -> dict[str, Any]:
        """sendmail(): the recipients refused (accepted ones got the mail with 250)."""
        with self.client() as smtp:
            return smtp.sendmail(mail_from, rcpts, raw)

    def transaction(
        self, rcpts: list[str], raw: bytes, mail_from: str = SUPPLIER
    ) -> tuple[list[tuple[int, bytes]], tuple[int, bytes] | None]:
        """MAIL, each RCPT and DATA step by step, without SIZE: the RCPT replies and the DATA
        reply (None when no recipient was accepted)."""
        with self.client() as smtp:
            smtp.ehlo()
            code, text = smtp.mail(mail_from)
            assert code == 250, text
            replies = [smtp.rcpt(r) for r in rcpts]
            if not any(code == 250 for code, _ in replies):
                return replies, None
            return replies, smtp.data(raw)


@pytest.fixture
def start(tmp_path: Path, dns_server: DnsServer) -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def start(max_size: int = 25 * 1024 * 1024) -> Receiver:
        r = Receiver(tmp_path / "data", max_size, dns_server)
        started.append(r)
        return r

    yield start
    for r in started:
        r.stop()


@pytest.fixture
def rx(start: Callable[..., Receiver]) -> Receiver:
    return start()


def invoice(number: str, *, from_: str = f"Billing <{SUPPLIER}>", to: str = "ap") -> bytes:
    return make_mail(
        from_=from_,
        to=to,
        subject=f"Invoice {number}",
        attachments=[Attachment(f"INV-{number}.pdf", make_pdf(f"Invoice {number}"))],
    )


# ---------------------------------------------------------------- 1. the address itself


def test_address_without_a_domain_is_null_and_the_text_says_how_to_set_it(tmp_path: Path) -> None:
    ap = AP(tmp_path / "data", None)  # type: ignore[arg-type]
    ap.ok("company", "add", "ACME")
    info = ap.ok("company", "show", "ACME", "--json").json()
    assert info["import_address"] is None
    assert TOKEN.fullmatch(info["import_local_part"])
    assert info["import_source"] == "acme-import"
    text = ap.ok("company", "show", "ACME").stdout
    assert "--smtp-domain" in text and "serve" in text
    listed = ap.ok("company", "list").stdout
    assert f"{info['import_local_part']}@(no domain set)" in listed


def test_address_is_token_at_the_domain_the_service_sets(rx: Receiver) -> None:
    info = rx.add_company("ACME")
    token = info["import_local_part"]
    assert TOKEN.fullmatch(token), token
    assert info["import_address"] == f"{token}@{DOMAIN}"
    assert info["import_source"] == "acme-import"
    assert info["sources"] == []  # the import source is not listed as a mailbox
    # random part: a second company of the same name slug gets another token
    other = rx.add_company("Acme!")
    assert other["import_local_part"] != token
    assert other["import_source"] == "acme-import-2"
    listed = rx.ap.ok("company", "list", "--json").json()
    assert {c["name"]: c["import_address"] for c in listed} == {
        "ACME": info["import_address"],
        "Acme!": other["import_address"],
    }


def test_company_added_before_the_service_started_gets_its_address(
    tmp_path: Path, dns_server: DnsServer
) -> None:
    ap = AP(tmp_path / "data", None)  # type: ignore[arg-type]
    ap.ok("company", "add", "ACME")
    token = ap.ok("company", "show", "ACME", "--json").json()["import_local_part"]
    r = Receiver(tmp_path / "data", 25 * 1024 * 1024, dns_server)
    try:
        assert r.address("ACME") == f"{token}@{DOMAIN}"  # unchanged by the start
        assert r.send([r.address("ACME")], invoice("early")) == {}
        assert [d["filename"] for d in r.documents("ACME")] == ["INV-early.pdf"]
    finally:
        r.stop()


# ---------------------------------------------------------------- 2./3. delivery, duplicates


def test_invoice_mail_is_stored_before_250_as_one_smtp_run(rx: Receiver) -> None:
    address = rx.add_company("ACME")["import_address"]
    raw = invoice("4711", to=address)
    rcpts, (code, text) = rx.transaction([address], raw)
    assert rcpts == [(250, b"2.1.5 OK")]
    assert code == 250 and text.startswith(b"2.0.0 OK: queued as ")

    # stored when the 250 came: no waiting, no polling
    docs = rx.documents("ACME")
    assert [(d["filename"], d["company"], d["source"]) for d in docs] == [
        ("INV-4711.pdf", "ACME", "acme-import")
    ]
    assert docs[0]["sender"] == SUPPLIER and docs[0]["subject"] == "Invoice 4711"
    [run] = rx.runs()
    assert run["trigger"] == "smtp" and run["source"] == "acme-import"
    assert run["status"] == "succeeded" and run["finished_at"] is not None
    assert (run["messages_seen"], run["imported"], run["documents_created"]) == (1, 1, 1)
    [msg] = rx.messages()
    assert msg["source"] == "acme-import" and msg["decision"] == "import"
    assert msg["sender"] == SUPPLIER and msg["subject"] == "Invoice 4711"
    assert msg["remote_id"].startswith("smtp-") and msg["uid"] is None
    assert msg["documents"] == 1
    # the exact bytes received are kept, under our Authentication-Results
    stored = rx.app.blobs.get(msg["raw_sha256"])
    assert stored.startswith(f"Authentication-Results: {DOMAIN};".encode())
    assert stored.endswith(raw)
    assert rx.service.smtp is not None and rx.service.smtp.received == 1


def test_uppercase_recipient_is_the_same_address(rx: Receiver) -> None:
    address = rx.add_company("ACME")["import_address"]
    assert rx.send([address.upper()], invoice("CAPS")) == {}
    assert [d["filename"] for d in rx.documents("ACME")] == ["INV-CAPS.pdf"]


def test_same_mail_twice_is_a_duplicate_and_queued_once(rx: Receiver) -> None:
    address = rx.add_company("ACME")["import_address"]
    raw = invoice("dup", to=address)
    assert rx.send([address], raw) == {}
    assert rx.send([address], raw) == {}  # accepted again: the sender must not retry forever

    first, second = sorted(rx.messages(), key=lambda m: m["id"])
    assert first["decision"] == "import" and first["documents"] == 1
    assert second["decision"] == "duplicate" and second["documents"] == 0
    assert second["duplicate_of"] == first["id"]
    assert second["raw_sha256"] == first["raw_sha256"]
    assert [d["filename"] for d in rx.documents()] == ["INV-dup.pdf"]
    runs = sorted(rx.runs(), key=lambda r: r["id"])
    assert [(r["trigger"], r["imported"], r["duplicates"]) for r in runs] == [
        ("smtp", 1, 0),
        ("smtp", 0, 1),
    ]


# ---------------------------------------------------------------- 4. allowed senders


def test_allowed_senders_of_the_import_source_apply(rx: Receiver) -> None:
    info = rx.add_company("ACME")
    address, source = info["import_address"], info["import_source"]
    rx.ap.ok("source", "set", source, "--allow-sender", "*@supplier.example")

    stranger = invoice("spam", from_="Someone <someone@elsewhere.example>")
    _, (code, _) = rx.transaction([address], stranger, mail_from="someone@elsewhere.example")
    assert code == 250  # accepted: refusing would tell who is on the list
    [msg] = rx.messages()
    assert msg["decision"] == "not_imported"
    assert msg["reason"] == "sender someone@elsewhere.example is not on the allowed list"
    assert rx.documents() == []

    assert rx.send([address], invoice("ok")) == {}
    assert [d["filename"] for d in rx.documents("ACME")] == ["INV-ok.pdf"]
    newest = rx.messages()[0]
    assert newest["decision"] == "import" and newest["sender"] == SUPPLIER


# ---------------------------------------------------------------- 5. refused recipients


def test_unknown_local_part_and_other_domains_are_refused_at_rcpt(rx: Receiver) -> None:
    address = rx.add_company("ACME")["import_address"]
    unknown = f"acme-zzzzzz@{DOMAIN}"
    replies, data = rx.transaction(
        [unknown, "ap@elsewhere.example", f"{address.partition('@')[0]}@other.test"],
        invoice("x"),
    )
    assert data is None
    assert replies[0] == (550, f"5.1.1 <{unknown}>: no such import address".encode())
    assert replies[1] == (550, b"5.7.1 <ap@elsewhere.example>: relaying denied")
    assert replies[2][0] == 550 and b"5.7.1" in replies[2][1]  # the right token, wrong domain

    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        rx.send([unknown], invoice("y"))
    assert refused.value.recipients[unknown][0] == 550
    assert rx.messages() == [] and rx.runs() == []


def test_mixed_recipients_the_known_one_gets_the_mail(rx: Receiver) -> None:
    address = rx.add_company("ACME")["import_address"]
    unknown = f"nobody@{DOMAIN}"
    refused = rx.send([unknown, address, "ap@elsewhere.example"], invoice("mixed"))
    assert set(refused) == {unknown, "ap@elsewhere.example"}
    assert refused[unknown][0] == 550 and refused["ap@elsewhere.example"][0] == 550
    assert [d["filename"] for d in rx.documents("ACME")] == ["INV-mixed.pdf"]
    assert len(rx.messages()) == 1


# ---------------------------------------------------------------- 6. two companies


def test_one_mail_to_two_companies_is_one_delivery_each(rx: Receiver) -> None:
    acme = rx.add_company("ACME")["import_address"]
    globex = rx.add_company("Globex")["import_address"]
    # the same address twice in one envelope is one delivery
    assert rx.send([acme, globex, acme.upper()], invoice("both")) == {}

    for company, source in (("ACME", "acme-import"), ("Globex", "globex-import")):
        docs = rx.documents(company)
        assert [(d["filename"], d["source"]) for d in docs] == [("INV-both.pdf", source)]
        assert docs[0]["duplicate_of"] is None  # the other company's copy is not "the same"
    messages = rx.messages()
    assert sorted(m["source"] for m in messages) == ["acme-import", "globex-import"]
    assert {m["decision"] for m in messages} == {"import"}
    assert len({m["raw_sha256"] for m in messages}) == 1
    assert sorted((r["source"], r["trigger"]) for r in rx.runs()) == [
        ("acme-import", "smtp"),
        ("globex-import", "smtp"),
    ]


# ---------------------------------------------------------------- 7. regenerated address


def test_regenerated_address_refuses_the_old_one(rx: Receiver) -> None:
    old = rx.add_company("ACME")["import_address"]
    assert rx.send([old], invoice("before")) == {}

    new = rx.ap.ok("company", "regenerate-address", "ACME", "--json").json()["import_address"]
    assert new != old and TOKEN.fullmatch(new.partition("@")[0])
    assert new.endswith(f"@{DOMAIN}") and rx.address("ACME") == new

    replies, data = rx.transaction([old], invoice("old"))
    assert data is None and replies[0][0] == 550 and replies[0][1].startswith(b"5.1.1")
    assert rx.send([new], invoice("after")) == {}
    # same import source, same company: the history stays with it
    docs = rx.documents("ACME")
    assert [(d["filename"], d["source"]) for d in docs] == [
        ("INV-before.pdf", "acme-import"),
        ("INV-after.pdf", "acme-import"),
    ]


# ---------------------------------------------------------------- 8. size limit


def test_oversize_mail_is_refused_with_552_and_nothing_is_stored(
    start: Callable[..., Receiver],
) -> None:
    rx = start(max_size=200 * 1024)
    address = rx.add_company("ACME")["import_address"]
    big = make_mail(
        subject="Big invoice",
        attachments=[Attachment("big.pdf", make_pdf("Big") + b"%" * (300 * 1024))],
    )
    assert len(big) > 300 * 1024

    # smtplib declares SIZE=: refused at MAIL FROM with the enhanced code
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        rx.send([address], big)
    assert refused.value.smtp_code == 552
    assert refused.value.smtp_error.startswith(b"5.3.4")

    # no SIZE declared: refused at the end of DATA
    replies, (code, _) = rx.transaction([address], big)
    assert replies == [(250, b"2.1.5 OK")]
    assert code == 552

    assert rx.messages() == [] and rx.runs() == [] and rx.documents() == []
    # the limit is on the message, not the session: a small one still goes through
    assert rx.send([address], invoice("small")) == {}
    assert [d["filename"] for d in rx.documents()] == ["INV-small.pdf"]


# ---------------------------------------------------------------- 9. 250 means stored


def test_storing_fails_451_nothing_half_stored_and_the_retry_succeeds(
    rx: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    address = rx.add_company("ACME")["import_address"]
    raw = invoice("retry", to=address)
    calls = 0

    def disk_full(blobs: object, staged: bool = False) -> None:
        nonlocal calls
        calls += 1
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rx.app.blobs, "put_many", disk_full)
    replies, (code, text) = rx.transaction([address], raw)
    assert replies == [(250, b"2.1.5 OK")]
    assert (code, text) == (451, b"4.3.0 temporary failure, try again later")
    assert calls == 1
    with pytest.raises(smtplib.SMTPDataError) as failed:  # as a sending MTA sees it
        rx.send([address], raw)
    assert failed.value.smtp_code == 451
    assert rx.messages() == [] and rx.documents() == []
    assert rx.service.smtp is not None and rx.service.smtp.received == 0
    assert all(r["imported"] == 0 and r["messages_seen"] == 0 for r in rx.runs())

    monkeypatch.undo()  # the disk has room again; the sender retries the same bytes
    assert rx.send([address], raw) == {}
    [msg] = rx.messages()
    assert msg["decision"] == "import" and msg["duplicate_of"] is None
    assert [d["filename"] for d in rx.documents()] == ["INV-retry.pdf"]
    assert rx.runs()[0]["status"] == "succeeded"


def test_one_company_failing_gives_451_and_the_retry_imports_each_once(
    rx: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme = rx.add_company("ACME")["import_address"]
    globex = rx.add_company("Globex")["import_address"]
    raw = invoice("split", to=f"{acme}, {globex}")
    put_many = rx.app.blobs.put_many
    calls = 0

    def second_fails(blobs: Any, staged: bool = False) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:  # ACME's copy is stored, Globex's is not
            raise OSError(28, "No space left on device")
        put_many(blobs, staged=staged)

    monkeypatch.setattr(rx.app.blobs, "put_many", second_fails)
    _, (code, _) = rx.transaction([acme, globex], raw)
    assert code == 451  # not everyone has it: the sender must try again
    assert [d["company"] for d in rx.documents()] == ["ACME"]

    assert rx.send([acme, globex], raw) == {}  # the retry, to both again
    assert [d["filename"] for d in rx.documents("ACME")] == ["INV-split.pdf"]
    assert [d["filename"] for d in rx.documents("Globex")] == ["INV-split.pdf"]
    decisions = sorted((m["source"], m["decision"]) for m in rx.messages())
    assert decisions == [
        ("acme-import", "duplicate"),
        ("acme-import", "import"),
        ("globex-import", "import"),
    ]


def test_concurrent_mails_to_two_companies_are_all_stored(rx: Receiver) -> None:
    acme = rx.add_company("ACME")["import_address"]
    globex = rx.add_company("Globex")["import_address"]
    jobs = [(addr, f"{name}-{i}") for i in range(4) for addr, name in ((acme, "a"), (globex, "g"))]
    with ThreadPoolExecutor(len(jobs)) as pool:
        refused = list(pool.map(lambda job: rx.send([job[0]], invoice(job[1])), jobs))
    assert refused == [{}] * len(jobs)
    assert sorted(d["filename"] for d in rx.documents("ACME")) == [
        f"INV-a-{i}.pdf" for i in range(4)
    ]
    assert sorted(d["filename"] for d in rx.documents("Globex")) == [
        f"INV-g-{i}.pdf" for i in range(4)
    ]
    assert {(r["status"], r["imported"]) for r in rx.runs()} == {("succeeded", 1)}


def test_failed_store_is_recorded_as_a_failed_run(
    rx: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    address = rx.add_company("ACME")["import_address"]

    def disk_full(blobs: object, staged: bool = False) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rx.app.blobs, "put_many", disk_full)
    _, (code, _) = rx.transaction([address], invoice("fail"))
    assert code == 451
    [run] = rx.runs()
    assert run["status"] == "failed", run
    assert run["finished_at"] is not None
    assert "No space left on device" in (run["error"] or "")


# ---------------------------------------------------------------- 10. forwarded mail


def test_forwarded_invoice_is_imported(rx: Receiver) -> None:
    address = rx.add_company("ACME")["import_address"]
    original = invoice("fwd")
    forward = make_forward(original, to=address, subject="Fwd: Invoice fwd")
    assert rx.send([address], forward, mail_from="clerk@buyer.example") == {}

    [doc] = rx.documents("ACME")
    assert doc["filename"] == "INV-fwd.pdf"
    assert doc["origin_sender"] == SUPPLIER  # the supplier, not the clerk who forwarded it
    assert doc["sender"] == "clerk@buyer.example"
    [msg] = rx.messages()
    assert msg["decision"] == "import" and msg["subject"] == "Fwd: Invoice fwd"
