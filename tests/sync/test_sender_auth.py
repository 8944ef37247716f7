"""Sender authentication in every fetch, end to end: DKIM-signed mail in a Dovecot mailbox, keys,
SPF and DMARC on a real DNS server on 127.0.0.1, the CLI's fetch and recheck. The result is on
the ledger row; the source's policy decides: ``flag`` imports and marks, ``require`` refuses
and files the mail as not imported, ``off`` records only. Authentication-Results are believed
only from the authserv-ids the source trusts; DNS down is a temperror, never a failed run; a
recheck after require -> flag imports the refused mail once, from the stored results."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from builders import Attachment, make_mail, make_pdf
from conftest import AP
from harness.dkim_keys import DkimKey
from harness.dns_server import DnsServer
from invoice_inbox.connectors.dns import resolver_for
from invoice_inbox.runtime.auto_recheck import Rechecker
from invoice_inbox.runtime.context import App
from invoice_inbox.store import sources
from invoice_inbox.store.models import Message
from invoice_inbox.store.models_trust import BlockedSender

SENDER = "billing@supplier.test"
PROVIDER = "mx.provider.test"  # the mailbox provider's authserv-id, trusted by the source


@pytest.fixture
def dns(dns_server: DnsServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[DnsServer]:
    """The test DNS server, used by the runs: supplier.test signs its mail and publishes DMARC
    p=reject; partner.test publishes p=reject and signs nothing; plain.test publishes
    nothing."""
    DkimKey.generate("supplier.test").publish(dns_server)
    dns_server.set_zone(
        {
            "supplier.test": {"TXT": "v=spf1 ip4:192.0.2.10 -all"},
            "_dmarc.supplier.test": {"TXT": "v=DMARC1; p=reject"},
            "partner.test": {"TXT": "v=spf1 ip4:192.0.2.20 -all"},
            "_dmarc.partner.test": {"TXT": "v=DMARC1; p=reject"},
        }
    )
    monkeypatch.setenv("INVOICE_INBOX_DNS_SERVER", dns_server.address)
    yield dns_server


def invoice(sender: str, name: str, *, headers: dict[str, str] | None = None) -> bytes:
    return make_mail(
        from_=sender,
        subject=f"Invoice {name}",
        attachments=[Attachment(f"{name}.pdf", make_pdf(name))],
        extra_headers=headers,
    )


def signed(name: str, sender: str = SENDER) -> bytes:
    return DkimKey.generate("supplier.test").sign(invoice(sender, name))


def altered(name: str) -> bytes:
    """Signed, then its body changed on the way (a forwarder's footer, a tampered invoice)."""
    raw = signed(name)
    return raw.replace(b"Please find the invoice attached.", b"Please pay to another account.")


def provider_results(raw: bytes, results: str, authserv_id: str = PROVIDER) -> bytes:
    """*raw* as a mailbox provider stores it: its Authentication-Results on top."""
    return f"Authentication-Results: {authserv_id}; {results}\r\n".encode() + raw


def configure(ap: AP, name: str = "ap", **fields: Any) -> None:
    app = App.open(ap.data_dir)
    try:
        with app.db.session() as s:
            src = sources.get(s, name)
            for key, value in fields.items():
                setattr(src, key, value)
    finally:
        app.close()


def ledger(ap: AP) -> dict[str, Message]:
    """The ledger rows by subject (detached copies)."""
    app = App.open(ap.data_dir)
    try:
        with app.db.session() as s:
            rows = list(s.scalars(select(Message).order_by(Message.id)))
            s.expunge_all()
        return {r.subject: r for r in rows}
    finally:
        app.close()


def fill(ap: AP) -> None:
    ap.mailbox.append("INBOX", signed("pass"))
    ap.mailbox.append("INBOX", altered("altered"))
    ap.mailbox.append("INBOX", invoice("billing@plain.test", "none"))


def test_flag_imports_every_invoice_and_marks_the_unauthenticated(ap: AP, dns: DnsServer) -> None:
    fill(ap)
    ap.add_source("--move-not-imported-to", "Not imported")  # flag is the default
    summary = ap.ok("fetch", "ap", "--json").json()
    assert (summary["imported"], summary["not_imported"]) == (3, 0)
    rows = ledger(ap)
    ok, broken, plain = rows["Invoice pass"], rows["Invoice altered"], rows["Invoice none"]
    assert (ok.sender_auth, broken.sender_auth, plain.sender_auth) == ("pass", "fail", "none")
    assert "sender not authenticated" not in ok.reason
    assert ok.auth_results is not None and ok.auth_results["status"] == "pass"
    for row in (broken, plain):
        assert row.decision == "import"
        assert row.sender_auth_reason
        assert row.reason.endswith(f"; sender not authenticated: {row.sender_auth_reason}")
    assert "p=reject" in (broken.sender_auth_reason or "")
    assert ap.mailbox.count("INBOX") == 3  # nothing was filed as not imported


def test_require_refuses_unauthenticated_mail_and_files_it_as_not_imported(
    ap: AP, dns: DnsServer
) -> None:
    fill(ap)
    ap.add_source("--allow-sender", "*@supplier.test", "--move-not-imported-to", "Not imported")
    configure(ap, sender_auth="require")
    summary = ap.ok("fetch", "ap", "--json").json()
    assert (summary["imported"], summary["not_imported"]) == (1, 2)
    rows = ledger(ap)
    assert rows["Invoice pass"].decision == "import"
    broken = rows["Invoice altered"]
    assert broken.decision == "not_imported" and broken.hits == ["sender-auth"]
    assert broken.reason == f"sender {SENDER} is not authenticated: {broken.sender_auth_reason}"
    assert rows["Invoice none"].reason == "sender billing@plain.test is not on the allowed list"
    assert [d["filename"] for d in ap.documents()] == ["pass.pdf"]
    assert ap.mailbox.count("Not imported") == 2


def test_off_records_the_result_only(ap: AP, dns: DnsServer) -> None:
    fill(ap)
    ap.add_source()
    configure(ap, sender_auth="off")
    assert ap.ok("fetch", "ap", "--json").json()["imported"] == 3
    rows = ledger(ap)
    assert [rows[s].sender_auth for s in ("Invoice pass", "Invoice altered", "Invoice none")] == [
        "pass",
        "fail",
        "none",
    ]
    assert all("not authenticated" not in r.reason for r in rows.values())


def test_a_trusted_providers_results_count_and_a_senders_forged_ones_do_not(
    ap: AP, dns: DnsServer
) -> None:
    passed = "spf=pass smtp.mailfrom=partner.test; dmarc=pass header.from=partner.test"
    ap.mailbox.append("INBOX", provider_results(invoice("ap@partner.test", "trusted"), passed))
    # the sender wrote the same words itself, under another authserv-id
    ap.mailbox.append(
        "INBOX",
        provider_results(invoice("ap@partner.test", "forged"), passed, "mx.evil.test"),
    )
    ap.add_source("--move-not-imported-to", "Not imported")
    configure(ap, sender_auth="require", trusted_authserv_ids=[PROVIDER])
    summary = ap.ok("fetch", "ap", "--json").json()
    assert (summary["imported"], summary["not_imported"]) == (1, 1)
    rows = ledger(ap)
    assert rows["Invoice trusted"].sender_auth == "pass"
    forged = rows["Invoice forged"]
    assert forged.sender_auth == "fail" and forged.decision == "not_imported"
    assert forged.reason.startswith("sender ap@partner.test is not authenticated: ")


def test_dns_down_is_a_temperror_imported_under_flag_and_rechecked_under_require(
    ap: AP, dns: DnsServer
) -> None:
    fast = resolver_for(dns.address)  # the run's resolver: give up on a silent server sooner
    fast.timeout, fast.lifetime = 0.3, 1.0
    dns.timeout_names.update({"s1._domainkey.supplier.test", "_dmarc.supplier.test"})
    ap.mailbox.append("INBOX", signed("flagged"))
    ap.add_source("--move-not-imported-to", "Not imported")
    summary = ap.ok("fetch", "ap", "--json").json()
    assert (summary["status"], summary["imported"]) == ("succeeded", 1)
    row = ledger(ap)["Invoice flagged"]
    assert row.sender_auth == "temperror" and "sender not authenticated" in row.reason

    configure(ap, sender_auth="require")
    ap.mailbox.append("INBOX", signed("refused"))
    ap.ok("fetch", "ap")
    row = ledger(ap)["Invoice refused"]
    assert (row.decision, row.sender_auth) == ("not_imported", "temperror")
    assert "DNS failed" in row.reason and row.reason.endswith("a recheck will try again")

    dns.timeout_names.clear()  # DNS is back: the recheck asks again, and imports
    summary = ap.ok("recheck", "ap", "--json").json()
    assert (summary["checked"], summary["imported"]) == (1, 1)
    row = ledger(ap)["Invoice refused"]
    assert (row.decision, row.sender_auth) == ("import", "pass")


def test_recheck_after_require_to_flag_imports_the_refused_mail_once(
    ap: AP, dns: DnsServer
) -> None:
    ap.mailbox.append("INBOX", altered("altered"))
    ap.add_source("--move-not-imported-to", "Not imported", "--move-imported-to", "Imported")
    configure(ap, sender_auth="require")
    assert ap.ok("fetch", "ap", "--json").json()["not_imported"] == 1
    resolver_for(dns.address).clear()  # no cached answers: a lookup now reaches the server
    asked = dns.count()

    configure(ap, sender_auth="flag")
    first = ap.ok("recheck", "ap", "--json").json()
    assert (first["checked"], first["imported"], first["documents_created"]) == (1, 1, 1)
    assert dns.count() == asked  # the stored results were used: DNS was not asked again
    row = ledger(ap)["Invoice altered"]
    assert row.decision == "import" and row.sender_auth == "fail"
    assert "sender not authenticated" in row.reason
    assert (ap.mailbox.count("Not imported"), ap.mailbox.count("Imported")) == (0, 1)
    again = ap.ok("recheck", "ap", "--json").json()
    assert (again["checked"], again["imported"]) == (0, 0)
    assert [d["filename"] for d in ap.documents()] == ["altered.pdf"]


def test_a_lookalike_from_domain_is_flagged_on_the_ledger(ap: AP, dns: DnsServer) -> None:
    ap.mailbox.append("INBOX", invoice("billing@supp1ier.test", "lookalike"))
    ap.mailbox.append("INBOX", signed("genuine"))
    ap.add_source()
    ap.add_source("--allow-sender", "*@supplier.test", name="other")  # the company knows it
    ap.ok("fetch", "ap")
    rows = ledger(ap)
    fake = rows["Invoice lookalike"]
    assert fake.lookalike_of == "supplier.test"
    assert "From domain supp1ier.test looks like supplier.test" in fake.reason
    assert rows["Invoice genuine"].lookalike_of is None


def test_mail_from_a_blocked_domain_is_not_imported(ap: AP, dns: DnsServer) -> None:
    ap.mailbox.append("INBOX", signed("blocked"))
    ap.add_source("--move-not-imported-to", "Not imported")
    configure(ap, sender_auth="off")
    app = App.open(ap.data_dir)
    try:
        with app.db.session() as s:
            company_id = sources.get(s, "ap").company_id
            s.add(BlockedSender(company_id=company_id, domain="supplier.test", reason="fraud"))
    finally:
        app.close()
    summary = ap.ok("fetch", "ap", "--json").json()
    assert (summary["imported"], summary["not_imported"]) == (0, 1)
    row = ledger(ap)["Invoice blocked"]
    assert row.reason == "sender domain supplier.test is blocked: fraud"
    assert ap.documents() == [] and ap.mailbox.count("Not imported") == 1


def test_switching_the_policy_asks_for_a_recheck(ap: AP, dns: DnsServer) -> None:
    ap.add_source()
    ap.ok("source", "set", "ap", "--sender-auth", "require")
    ap.ok("source", "set", "ap", "--trusted-authserv-id", PROVIDER)
    app = App.open(ap.data_dir)
    try:
        with app.db.session() as s:
            src = sources.get(s, "ap")
            assert (src.sender_auth, src.trusted_authserv_ids) == ("require", [PROVIDER])
            assert src.recheck_wanted == 2 and src.recheck_done == 0
    finally:
        app.close()


def test_serve_uses_the_dns_server_it_is_given(
    ap: AP, dns: DnsServer, session_dns: DnsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INVOICE_INBOX_DNS_SERVER", session_dns.address)  # knows no keys
    ap.mailbox.append("INBOX", signed("served"))
    ap.add_source()
    ap.ok("serve", "--once", "--dns-server", dns.address)
    assert ledger(ap)["Invoice served"].sender_auth == "pass"
    assert dns.count("s1._domainkey.supplier.test", "TXT") >= 1


@pytest.mark.parametrize("command", ["serve", "worker"])
@pytest.mark.parametrize("value", ["dns.example:53", "127.0.0.1:99999", "[::1"])
def test_a_wrong_dns_server_is_one_sentence_and_exit_2(ap: AP, command: str, value: str) -> None:
    r = ap.run(command, "--dns-server", value)
    assert r.code == 2
    assert r.stderr.startswith("error: --dns-server: DNS server ")
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stdout + r.stderr
    by_env = ap.run(command, env={"INVOICE_INBOX_DNS_SERVER": value})
    assert by_env.code == 2 and by_env.stderr == r.stderr


def test_the_service_retries_mail_refused_because_dns_failed(ap: AP, dns: DnsServer) -> None:
    fast = resolver_for(dns.address)
    fast.timeout, fast.lifetime = 0.3, 1.0
    dns.timeout_names.update({"s1._domainkey.supplier.test", "_dmarc.supplier.test"})
    ap.mailbox.append("INBOX", signed("waiting"))
    ap.mailbox.append("INBOX", invoice("billing@elsewhere.test", "unrelated"))
    ap.add_source("--allow-sender", "*@supplier.test", "--sender-auth", "require")
    assert ap.ok("fetch", "ap", "--json").json()["not_imported"] == 2
    assert ledger(ap)["Invoice waiting"].sender_auth == "temperror"

    dns.timeout_names.clear()  # DNS answers again; no setting changed
    app = App.open(ap.data_dir)
    try:
        rechecker = Rechecker(app, dns_retry=600)
        assert rechecker.tick() == ["ap"]
        assert rechecker.tick() == []  # not again before dns_retry
    finally:
        app.close()
    rows = ledger(ap)
    assert (rows["Invoice waiting"].decision, rows["Invoice waiting"].sender_auth) == (
        "import",
        "pass",
    )
    assert rows["Invoice unrelated"].decision == "not_imported"
    run = ap.ok("runs", "--json").json()[0]
    assert (run["trigger"], run["messages_seen"]) == ("recheck", 1)  # only the DNS failure


def test_mail_imported_while_dns_failed_is_authenticated_again_once_dns_answers(
    ap: AP, dns: DnsServer
) -> None:
    fast = resolver_for(dns.address)
    fast.timeout, fast.lifetime = 0.3, 1.0
    dns.timeout_names.update({"s1._domainkey.supplier.test", "_dmarc.supplier.test"})
    ap.mailbox.append("INBOX", signed("meanwhile"))
    ap.add_source()  # flag: imported, and flagged
    assert ap.ok("fetch", "ap", "--json").json()["imported"] == 1
    row = ledger(ap)["Invoice meanwhile"]
    assert row.sender_auth == "temperror" and "sender not authenticated: " in row.reason
    codes = [p["code"] for p in row.reason_parts or []]
    assert codes == ["documents_found", "sender_not_authenticated"]  # the note as a code too
    (doc,) = ap.ok("documents", "list", "--json").json()
    assert doc["flags"] == ["sender_not_authenticated"]

    app = App.open(ap.data_dir)
    try:
        Rechecker(app, dns_retry=0).tick()  # DNS still down: nothing changes
        assert ledger(ap)["Invoice meanwhile"].sender_auth == "temperror"
        dns.timeout_names.clear()  # DNS answers again
        Rechecker(app, dns_retry=0).tick()
    finally:
        app.close()
    row = ledger(ap)["Invoice meanwhile"]
    assert (row.decision, row.sender_auth) == ("import", "pass")
    assert "not authenticated" not in row.reason and row.reason.startswith("1 document from")
    assert [p["code"] for p in row.reason_parts or []] == ["documents_found"]
    (doc,) = ap.ok("documents", "list", "--json").json()
    assert doc["flags"] == [] and doc["sender_auth"]["status"] == "pass"
