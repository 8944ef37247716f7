"""Trust on the document screens (issue 16, items 2, 3 and 5): the queue's badges "sender not
authenticated", "looks like supplier.test" and "bank details changed" with their reasons as
titles and a filter by flag; the document page's "Sender" and "Bank details" panels (the IBAN
in groups of four, the supplier, the known IBANs -> the new one); an admin confirming the new
IBAN or marking the document as fraud (after a confirm step: the sender domain is blocked);
the run page showing each mail's sender authentication with its decision. Clerks and viewers
see but do not answer; every answer needs the CSRF token.

The mail is put on the ledger as sync commits it, and the supplier registry learns from it
(``store.suppliers.learn``): a first IBAN, then another one, which raises the alert."""

from __future__ import annotations

import hashlib
import re
from itertools import count
from typing import Any

import lxml.html
from sqlalchemy import select

from invoice_inbox.pipeline.trust.result import AuthStatus, SenderAuth
from invoice_inbox.store import sources, suppliers
from invoice_inbox.store.models import Document, Message, Run, Source, utcnow
from invoice_inbox.store.models_trust import BlockedSender, Supplier
from web.conftest import Browser, Web
from web.test_web_sources import by_id, has_id, text

OLD_IBAN = "DE89370400440532013000"
NEW_IBAN = "GB29NWBK60161331926819"
_n = count(1)


def mail(
    web: Web,
    sender: str,
    *,
    iban: str | None = None,
    auth: str | None = "pass",
    reason: str = "DKIM signature by supplier.test verified; DMARC pass",
    lookalike: str | None = None,
    company: str = "ACME",
    mode: str = "flag",
    results: dict[str, Any] | None = None,
) -> int:
    """A mail of *sender* with one PDF asking payment to *iban*, committed as sync does (a run,
    the ledger row, the document) and learned from; returns the document's id."""
    n = next(_n)
    with web.app.db.session() as s:
        name = f"ap-{company}"
        src = s.scalar(select(Source).where(Source.name == name))
        if src is None:
            src = sources.add(
                s, name=name, company_name=company, host="mail.invalid", port=993, username="u"
            )
        src.sender_auth = mode
        run = Run(source_id=src.id, trigger="manual", started_at=utcnow(), finished_at=utcnow())
        s.add(run)
        s.flush()
        row = Message(
            source_id=src.id,
            run_id=run.id,
            folder="INBOX",
            uidvalidity=1,
            uid=n,
            raw_sha256=hashlib.sha256(f"mail {n}".encode()).hexdigest(),
            raw_size=100,
            sender=sender,
            subject=f"Invoice {n}",
            decision="import",
            reason="imported: a PDF attachment"
            + (f"; sender not authenticated: {reason}" if auth not in (None, "pass") else ""),
            sender_auth=auth,
            sender_auth_reason=reason if auth is not None else None,
            lookalike_of=lookalike,
            auth_results=(
                None
                if auth is None
                else SenderAuth(AuthStatus(auth), reason, results=results or {}).to_json()
            ),
        )
        s.add(row)
        s.flush()
        doc = Document(
            message_id=row.id,
            company_id=src.company_id,
            sha256=hashlib.sha256(f"doc {n}".encode()).hexdigest(),
            size=10,
            media_type="application/pdf",
            filename=f"invoice-{n}.pdf",
            kind="pdf",
            iban=iban,
        )
        s.add(doc)
        s.flush()
        s.refresh(row)
        suppliers.learn(s, row, company_id=src.company_id)
        return doc.id


def queue_flags(html: str) -> dict[int, list[tuple[str, str, str]]]:
    """Document id -> its badges in the queue: (code, words, title)."""
    out: dict[int, list[tuple[str, str, str]]] = {}
    for tr in by_id(html, "queue-filters").getroottree().getroot().xpath("//tr[@id]"):
        doc_id = int(tr.get("id").removeprefix("document-"))
        out[doc_id] = [
            (b.get("data-flag"), b.text_content(), b.get("title"))
            for b in tr.xpath(".//span[@data-flag]")
        ]
    return out


def flash(html: str) -> str:
    """The one-time message a page shows after a redirect."""
    found = lxml.html.fromstring(html).xpath("//p[@class='flash']")
    return " ".join(found[0].text_content().split()) if found else ""


def listed(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr id="document-(\d+)"', html)]


def stocked(web: Web) -> dict[str, int]:
    """An authenticated first invoice, the same supplier's second asking another IBAN, an
    unauthenticated one, and one from a look-alike domain."""
    first = mail(web, "billing@supplier.test", iban=OLD_IBAN)
    changed = mail(web, "billing@supplier.test", iban=NEW_IBAN)
    unauth = mail(
        web,
        "billing@other.test",
        auth="fail",
        reason="From domain other.test publishes DMARC p=reject; no aligned SPF or DKIM",
    )
    lookalike = mail(
        web, "billing@supp1ier.test", auth="none", reason="no signature", lookalike="supplier.test"
    )
    return {"first": first, "changed": changed, "unauth": unauth, "lookalike": lookalike}


def admin_browser(web: Web) -> Browser:
    web.user("admin@x.test", "admin")
    return web.browser("admin@x.test")


def test_the_queue_shows_each_flag_with_its_reason_and_filters_by_flag(web: Web) -> None:
    docs = stocked(web)
    web.user("clerk@acme.test", "clerk", ("ACME",))
    clerk = web.browser("clerk@acme.test")
    page = clerk.get("/documents")
    assert page.status_code == 200
    flags = queue_flags(page.text)
    assert flags[docs["first"]] == []
    assert flags[docs["changed"]] == [
        (
            "bank_details_changed",
            "bank details changed",
            "bank details changed: DE89 …3000 → GB29 …6819",
        )
    ]
    assert flags[docs["unauth"]] == [
        (
            "sender_not_authenticated",
            "sender not authenticated",
            "From domain other.test publishes DMARC p=reject; no aligned SPF or DKIM",
        )
    ]
    codes = [(c, w) for c, w, _ in flags[docs["lookalike"]]]
    assert codes == [
        ("sender_not_authenticated", "sender not authenticated"),
        ("lookalike_sender", "looks like supplier.test"),
    ]
    options = [o.get("value") for o in by_id(page.text, "flag-filter").xpath(".//option")]
    assert options == [
        "",
        "sender_not_authenticated",
        "lookalike_sender",
        "bank_details_changed",
        "einvoice_inconsistent",
    ]

    by_flag = {
        "sender_not_authenticated": {docs["unauth"], docs["lookalike"]},
        "lookalike_sender": {docs["lookalike"]},
        "bank_details_changed": {docs["changed"]},
    }
    for code, wanted in by_flag.items():
        found = clerk.get("/documents", params={"flag": code})
        assert set(listed(found.text)) == wanted, code
        assert [
            o.get("value") for o in by_id(found.text, "flag-filter").xpath(".//option[@selected]")
        ] == [code]
    # a flag nobody knows is left out, not an error
    assert set(listed(clerk.get("/documents", params={"flag": "nonsense"}).text)) == set(
        docs.values()
    )


def test_a_source_whose_policy_is_off_flags_no_sender(web: Web) -> None:
    doc = mail(web, "billing@other.test", auth="none", reason="no signature", mode="off")
    admin = admin_browser(web)
    assert queue_flags(admin.get("/documents").text)[doc] == []
    page = admin.get(f"/documents/{doc}")
    assert "not authenticated" in text(page.text, "sender-auth")
    assert "recorded only" in text(page.text, "sender-trust")


def test_the_document_page_shows_the_sender_and_the_bank_details(web: Web) -> None:
    docs = stocked(web)
    admin = admin_browser(web)
    first = admin.get(f"/documents/{docs['first']}")
    assert text(first.text, "sender-auth") == "authenticated"
    assert text(first.text, "sender-auth-reason") == (
        "DKIM signature by supplier.test verified; DMARC pass"
    )
    assert text(first.text, "document-iban") == "DE89 3704 0044 0532 0130 00"
    assert text(first.text, "document-supplier") == "supplier.test"
    assert not has_id(first.text, "bank-alert") and not has_id(first.text, "confirm-iban")

    changed = admin.get(f"/documents/{docs['changed']}")
    assert text(changed.text, "bank-alert") == "Bank details changed: DE89 …3000 → GB29 …6819"
    assert text(changed.text, "document-iban") == "GB29 NWBK 6016 1331 9268 19"
    assert text(changed.text, "known-ibans") == "DE89 3704 0044 0532 0130 00"
    assert has_id(changed.text, "confirm-iban") and has_id(changed.text, "fraud-form")

    lookalike = admin.get(f"/documents/{docs['lookalike']}")
    warning = text(lookalike.text, "lookalike-warning")
    assert warning.startswith("Looks like supplier.test.") and "supp1ier.test" in warning
    assert text(lookalike.text, "sender-auth") == "not authenticated"
    assert not has_id(lookalike.text, "bank-details")  # no IBAN, no supplier: nothing to show

    # clerks and viewers see the alert, not the answers
    web.user("viewer@acme.test", "viewer", ("ACME",))
    seen = web.browser("viewer@acme.test").get(f"/documents/{docs['changed']}")
    assert has_id(seen.text, "bank-alert") and has_id(seen.text, "alert-admins")
    assert not has_id(seen.text, "confirm-iban") and not has_id(seen.text, "fraud-form")


def test_an_admin_confirms_the_new_bank_details(web: Web) -> None:
    docs = stocked(web)
    admin = admin_browser(web)
    r = admin.form(f"/documents/{docs['changed']}/confirm-iban")
    assert r.status_code == 303
    assert r.headers["location"] == f"/documents/{docs['changed']}#bank-details"
    page = admin.get(r.headers["location"])
    assert flash(page.text) == (
        "Confirmed: GB29 NWBK 6016 1331 9268 19 is now a known IBAN of supplier.test."
    )
    assert "were confirmed" in text(page.text, "bank-alert")
    assert not has_id(page.text, "confirm-iban")
    assert queue_flags(admin.get("/documents").text)[docs["changed"]] == []
    with web.app.db.session() as s:
        supplier = s.scalars(select(Supplier)).one()
        assert {(i.iban, i.confirmed) for i in supplier.ibans} == {
            (OLD_IBAN, False),
            (NEW_IBAN, True),
        }
    # a next invoice asking for it is not flagged
    again = mail(web, "billing@supplier.test", iban=NEW_IBAN)
    assert queue_flags(admin.get("/documents").text)[again] == []
    # nothing to confirm twice
    r = admin.form(f"/documents/{docs['first']}/confirm-iban")
    assert flash(admin.get(r.headers["location"]).text) == "This document has no bank-detail alert."


def test_marking_as_fraud_needs_the_confirm_step_and_blocks_the_sender_domain(web: Web) -> None:
    docs = stocked(web)
    admin = admin_browser(web)
    url = f"/documents/{docs['changed']}/mark-fraud"
    r = admin.form(url)  # the box is not ticked
    assert r.status_code == 303 and r.headers["location"].endswith("#fraud-step")
    assert flash(admin.get(r.headers["location"]).text).startswith('Tick "Yes, this is fraud"')
    with web.app.db.session() as s:
        assert s.get(Document, docs["changed"]).bank_alert == "changed"  # type: ignore[union-attr]
        assert s.scalars(select(BlockedSender)).all() == []

    r = admin.form(url, {"confirm": "yes"})
    page = admin.get(r.headers["location"])
    assert (
        flash(page.text) == "Marked as fraud. Mail from supplier.test is blocked for this company."
    )
    assert "Marked as fraud" in text(page.text, "bank-alert")
    assert "supplier.test is blocked" in text(page.text, "sender-blocked")
    assert "Unblock supplier.test" in text(page.text, "unblock-hint")
    with web.app.db.session() as s:
        assert [b.domain for b in s.scalars(select(BlockedSender))] == ["supplier.test"]
    flags = queue_flags(admin.get("/documents").text)
    assert [(c, w) for c, w, _ in flags[docs["changed"]]] == [
        ("bank_details_changed", "marked as fraud")
    ]


def test_only_admins_answer_an_alert_and_only_with_the_csrf_token(web: Web) -> None:
    docs = stocked(web)
    admin = admin_browser(web)
    web.user("clerk@acme.test", "clerk", ("ACME",))
    web.user("clerk@other.test", "clerk", ("OTHER",))
    clerk, stranger = web.browser("clerk@acme.test"), web.browser("clerk@other.test")
    for action, data in (("confirm-iban", {}), ("mark-fraud", {"confirm": "yes"})):
        url = f"/documents/{docs['changed']}/{action}"
        assert clerk.form(url, data).status_code == 403
        assert stranger.form(url, data).status_code == 404
        assert admin.post(url, data={**data, "csrf_token": "forged"}).status_code == 403
        assert admin.post(url, data=data).status_code == 403
    with web.app.db.session() as s:
        assert s.get(Document, docs["changed"]).bank_alert == "changed"  # type: ignore[union-attr]
        assert s.scalars(select(BlockedSender)).all() == []


def test_the_run_page_shows_the_sender_authentication_with_the_decision(web: Web) -> None:
    docs = stocked(web)
    admin = admin_browser(web)
    with web.app.db.session() as s:
        runs = {
            d: s.get(Message, s.get(Document, i).message_id).run_id  # type: ignore[union-attr]
            for d, i in docs.items()
        }
        ids = {d: s.get(Document, i).message_id for d, i in docs.items()}  # type: ignore[union-attr]
    first = admin.get(f"/runs/{runs['first']}")
    cell = by_id(first.text, f"message-{ids['first']}")
    badge = cell.xpath(".//span[@data-sender-auth]")[0]
    assert (badge.text_content(), badge.get("title")) == (
        "sender authenticated",
        "DKIM signature by supplier.test verified; DMARC pass",
    )
    # the reason of the decision says it already: not repeated
    unauth = by_id(admin.get(f"/runs/{runs['unauth']}").text, f"message-{ids['unauth']}")
    assert unauth.xpath(".//span[@data-sender-auth]")[0].text_content() == (
        "sender authentication failed"
    )
    assert not unauth.xpath(".//*[contains(@class, 'sender-auth-reason')]")
    look = by_id(admin.get(f"/runs/{runs['lookalike']}").text, f"message-{ids['lookalike']}")
    assert "looks like supplier.test" in look.text_content()


def test_the_sender_panel_lists_the_checks_the_result_came_from(web: Web) -> None:
    results = {
        "from_domain": "supplier.test",
        "dkim": [
            {"domain": "supplier.test", "selector": "s1", "result": "pass", "aligned": True},
            {
                "domain": "esp.example",
                "selector": "k",
                "result": "fail",
                "reason": "the body was changed after signing",
            },
        ],
        "spf": None,
        "dmarc": {"record": None, "result": "pass"},
        "provider": {
            "used": [{"authserv_id": "mx.microsoft.com", "via": "authentication-results"}],
            "ignored": [{"authserv_id": "evil.test", "why": "its authserv-id is not trusted"}],
        },
    }
    doc = mail(web, "billing@supplier.test", results=results)
    page = admin_browser(web).get(f"/documents/{doc}")
    lines = [
        " ".join(li.text_content().split())
        for li in by_id(page.text, "sender-checks").xpath(".//li")
    ]
    assert lines == [
        "DKIM pass · d=supplier.test · s=s1 · aligned",
        "DKIM fail · d=esp.example · s=k · the body was changed after signing",
        "SPF not checked here: another server received the mail",
        "DMARC pass",
        "Provider mx.microsoft.com: its results believed (trusted)",
        "Provider evil.test: ignored, its authserv-id is not trusted",
    ]


def test_a_trust_notification_links_to_its_document(web: Web) -> None:
    docs = stocked(web)
    admin = admin_browser(web)
    page = admin.get("/notifications")
    assert page.status_code == 200
    links = lxml.html.fromstring(page.text).xpath("//a[starts-with(@id, 'notification-document-')]")
    assert sorted(a.get("href") for a in links) == sorted(
        [f"/documents/{docs['changed']}", f"/documents/{docs['lookalike']}"]
    )
    api = web.api("admin@x.test").get("/api/v1/notifications").json()["items"]
    assert {n["kind"]: n["document_id"] for n in api} == {
        "bank_details_changed": docs["changed"],
        "lookalike_sender": docs["lookalike"],
    }


def test_confirmed_bank_details_name_who_confirmed_and_can_still_be_marked_as_fraud(
    web: Web,
) -> None:
    docs = stocked(web)
    admin = admin_browser(web)
    admin.form(f"/documents/{docs['changed']}/confirm-iban")
    page = admin.get(f"/documents/{docs['changed']}")
    assert "confirmed by admin@x.test on " in text(page.text, "bank-alert")
    assert not has_id(page.text, "confirm-iban")
    assert "Mark as fraud after all" in text(page.text, "fraud-open")
    r = admin.form(f"/documents/{docs['changed']}/mark-fraud", {"confirm": "yes"})
    page = admin.get(r.headers["location"])
    assert "Marked as fraud by admin@x.test on " in text(page.text, "bank-alert")
    with web.app.db.session() as s:
        supplier = s.scalars(select(Supplier)).one()
        assert [i.iban for i in supplier.ibans] == [OLD_IBAN]  # the confirmed IBAN is gone
