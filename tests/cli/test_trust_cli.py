"""Sender trust on the command line: a source's policy and trusted authserv-ids (``source add``,
``source set``, ``source show``; a wrong value is one sentence and exit 2), and what the queue
says about trust (``documents list --json`` fields and flags, ``--flag`` filter, the table's
marker). The documents come from a real Dovecot; the trust columns are set on their rows as
the run and the supplier registry would."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from builders import Attachment, make_mail, make_pdf
from invoice_inbox.runtime.context import App
from invoice_inbox.store.models import Message, Source
from invoice_inbox.store.models_trust import Supplier
from sync.conftest import AP


def show(ap: AP, name: str = "ap") -> dict[str, Any]:
    return ap.ok("source", "show", name, "--json").json()  # type: ignore[no-any-return]


def usage_error(ap: AP, *args: str) -> str:
    r = ap.run(*args)
    assert r.code == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and r.stderr.startswith("error: ")
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    return r.stderr.strip()


def test_source_policy_and_trusted_authserv_ids(ap: AP) -> None:
    ap.add_source("--sender-auth", "require", "--trusted-authserv-id", "MX.Provider.test")
    info = show(ap)
    assert (info["sender_auth"], info["trusted_authserv_ids"]) == ("require", ["mx.provider.test"])

    ap.ok("source", "set", "ap", "--sender-auth", "off")
    assert show(ap)["sender_auth"] == "off"
    ap.ok(
        "source", "set", "ap", "--trusted-authserv-id", "a.test", "--trusted-authserv-id", "b.test"
    )
    assert show(ap)["trusted_authserv_ids"] == ["a.test", "b.test"]
    ap.ok("source", "set", "ap", "--trusted-authserv-id", "")  # trust no provider's results
    assert show(ap)["trusted_authserv_ids"] == []
    ap.ok("source", "set", "ap", "--trusted-authserv-id", "preset")  # back to the preset's
    info = show(ap)
    assert info["trusted_authserv_ids"] is None and info["sender_auth"] == "off"
    assert "preset_authserv_ids" in info
    text = ap.ok("source", "show", "ap").stdout
    assert "sender_auth" in text and "off" in text

    assert usage_error(ap, "source", "set", "ap", "--sender-auth", "maybe") == (
        "error: --sender-auth: choose off, flag or require, not 'maybe'"
    )
    assert usage_error(ap, "source", "set", "ap", "--trusted-authserv-id", "mx provider") == (
        "error: --trusted-authserv-id: 'mx provider' is not an authserv-id (a host name,"
        " mx.example)"
    )
    assert show(ap)["sender_auth"] == "off"  # nothing changed
    wrong_add = ("source", "add", "ap2", "--company", "ACME", "--host", "h.test")
    usage_error(ap, *wrong_add, "--username", "u", "--sender-auth", "strict")

    # a company's import address takes the policy, not the authserv-ids (it checks itself)
    company = ap.ok("company", "show", "ACME", "--json").json()
    ap.ok("source", "set", company["import_source"], "--sender-auth", "require")
    assert show(ap, company["import_source"])["sender_auth"] == "require"
    r = ap.run("source", "set", company["import_source"], "--trusted-authserv-id", "x.test")
    assert r.code == 1 and "--trusted-authserv-id is not a setting of it" in r.stderr


SUBJECTS = ("spoofed", "lookalike", "changed", "fine")


def invoice(subject: str, sender: str) -> bytes:
    pdf = Attachment(f"{subject}.pdf", make_pdf(subject))
    return make_mail(from_=sender, subject=subject, attachments=[pdf])


def _mark(ap: AP) -> None:
    """What the run and the supplier registry record: 'spoofed' failed authentication,
    'lookalike' came from a look-alike domain, 'changed' asks payment to a new IBAN."""
    app = App.open(ap.data_dir)
    try:
        with app.db.session() as s:
            rows = {m.subject: m for m in s.scalars(select(Message))}
            spoofed, lookalike, changed = rows["spoofed"], rows["lookalike"], rows["changed"]
            for m in rows.values():
                m.sender_auth, m.sender_auth_reason = "pass", "DKIM signature verified"
            spoofed.sender_auth = "fail"
            spoofed.sender_auth_reason = (
                "From domain supplier.test publishes DMARC p=reject; no aligned SPF or DKIM"
            )
            lookalike.lookalike_of = "supplier.test"
            src = s.scalar(select(Source).where(Source.name == "ap"))
            assert src is not None
            supplier = Supplier(company_id=src.company_id, name="Supplier GmbH")
            s.add(supplier)
            s.flush()
            doc = changed.documents[0]
            doc.supplier_id, doc.iban = supplier.id, "GB29NWBK60161331926819"
            doc.bank_alert, doc.bank_alert_known = "changed", ["DE89370400440532013000"]
    finally:
        app.close()


def test_documents_list_shows_and_filters_the_trust_flags(ap: AP) -> None:
    ap.mailbox.append("INBOX", invoice("spoofed", "billing@supplier.test"))
    ap.mailbox.append("INBOX", invoice("lookalike", "billing@supp1ier.test"))
    ap.mailbox.append("INBOX", invoice("changed", "billing@supplier.test"))
    ap.mailbox.append("INBOX", invoice("fine", "billing@supplier.test"))
    ap.add_source()
    assert ap.ok("fetch", "ap", "--json").json()["imported"] == 4
    _mark(ap)

    docs = {d["subject"]: d for d in ap.documents()}
    spoofed, lookalike, changed, fine = (
        docs[k] for k in ("spoofed", "lookalike", "changed", "fine")
    )
    assert spoofed["sender_auth"] == {
        "status": "fail",
        "reason": "From domain supplier.test publishes DMARC p=reject; no aligned SPF or DKIM",
    }
    assert spoofed["flags"] == ["sender_not_authenticated"]
    assert lookalike["lookalike_of"] == "supplier.test"
    assert lookalike["flags"] == ["lookalike_sender"]
    assert changed["iban"] == "GB29NWBK60161331926819"
    assert changed["bank_alert"] == {
        "status": "changed",
        "known": ["DE89370400440532013000"],
        "reason": "bank details changed: DE89 …3000 → GB29 …6819",
        "by": None,
        "at": None,
    }
    assert changed["supplier"]["name"] == "Supplier GmbH"
    assert changed["flags"] == ["bank_details_changed"]
    assert fine["flags"] == [] and fine["bank_alert"] is None and fine["iban"] is None
    assert fine["sender_auth"]["status"] == "pass"

    mails = {m["subject"]: m for m in ap.messages()}  # the ledger shows it with the decision
    assert mails["spoofed"]["sender_auth"] == spoofed["sender_auth"]
    assert mails["lookalike"]["lookalike_of"] == "supplier.test"

    def flagged(code: str) -> list[str]:
        found = ap.ok("documents", "list", "--flag", code, "--json").json()
        return [d["subject"] for d in found]

    assert flagged("sender_not_authenticated") == ["spoofed"]
    assert flagged("lookalike_sender") == ["lookalike"]
    assert flagged("bank_details_changed") == ["changed"]
    table = ap.ok("documents", "list").stdout
    assert "unauthenticated" in table and "look-alike" in table and "bank details!" in table
    assert usage_error(ap, "documents", "list", "--flag", "spoofed").startswith(
        "error: --flag must be one of sender_not_authenticated, lookalike_sender,"
    )

    # a source whose policy is off records the result but flags nobody for it
    ap.ok("source", "set", "ap", "--sender-auth", "off")
    assert flagged("sender_not_authenticated") == []
    assert {d["subject"]: d["flags"] for d in ap.documents()}["spoofed"] == []
