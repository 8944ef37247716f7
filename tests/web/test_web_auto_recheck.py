"""Whenever a source's allowed senders, rules or filters change (screen, API or CLI), its
not-imported mail is re-checked in the background by the service, once per change; a save that
changes nothing asks for nothing. Against Dovecot, with the service's own threads."""

from __future__ import annotations

import time

from sqlalchemy import select

from builders import Attachment, make_mail, make_pdf
from harness.dovecot import Mailbox
from invoice_inbox.runtime import runner
from invoice_inbox.runtime.auto_recheck import Rechecker, wanted
from invoice_inbox.runtime.service import Service, ServiceConfig
from invoice_inbox.store.models import Document, ImportRule, Run
from web.conftest import Web

ALLOWED = "billing@supplier.example"
UNKNOWN = "billing@new-supplier.example"


def rechecks(web: Web) -> int:
    with web.app.db.session() as s:
        return len(list(s.scalars(select(Run.id).where(Run.trigger == "recheck"))))


def documents(web: Web) -> list[str]:
    with web.app.db.session() as s:
        return sorted(s.scalars(select(Document.filename)))


def source_with_skipped_mail(web: Web, mailbox: Mailbox) -> int:
    mailbox.append(
        "INBOX",
        make_mail(
            from_=UNKNOWN, subject="Invoice", attachments=[Attachment("N.pdf", make_pdf("N"))]
        ),
    )
    source_id = web.imap_source(
        "ap",
        mailbox,
        "ACME",
        allowed_senders=[ALLOWED],
        schedule="manual",  # the service's scheduler leaves it alone
        move_imported_to="Invoices",
        move_not_imported_to="Not imported",
    )
    assert runner.fetch(web.app, "ap").not_imported == 1
    return source_id


def test_a_change_through_the_api_is_rechecked_by_the_running_service_once(
    web: Web, mailbox: Mailbox
) -> None:
    source_id = source_with_skipped_mail(web, mailbox)
    web.user("admin@x.test", "admin")
    api = web.api("admin@x.test")
    r = api.patch(f"/api/v1/sources/{source_id}", json={"allowed_senders": [ALLOWED, UNKNOWN]})
    assert r.status_code == 200, r.text
    assert wanted(web.app) == ["ap"]

    service = Service(web.app, ServiceConfig(recheck_every=0.1, poll=0.2, grace=1))
    service.start()
    try:
        deadline = time.monotonic() + 60
        while wanted(web.app) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        service.stop()
    assert wanted(web.app) == []
    assert documents(web) == ["N.pdf"]
    assert (mailbox.count("Invoices"), mailbox.count("Not imported")) == (1, 0)
    assert rechecks(web) == 1
    assert service.rechecker.tick() == []  # a second tick does not run it again
    assert rechecks(web) == 1

    same = api.patch(f"/api/v1/sources/{source_id}", json={"allowed_senders": [ALLOWED, UNKNOWN]})
    assert same.status_code == 200
    assert wanted(web.app) == []  # nothing changed: nothing to re-check
    other = api.patch(f"/api/v1/sources/{source_id}", json={"description": "AP mailbox"})
    assert other.status_code == 200 and wanted(web.app) == []


def test_rules_added_or_removed_on_the_screen_ask_for_a_recheck_each(
    web: Web, mailbox: Mailbox
) -> None:
    mailbox.append("INBOX", make_mail(from_=UNKNOWN, subject="Invoice 7 in the text"))
    source_id = web.imap_source("ap", mailbox, "ACME", schedule="manual")
    assert runner.fetch(web.app, "ap").not_imported == 1  # no attachment
    web.user("admin@x.test", "admin")
    b = web.browser("admin@x.test")
    r = b.form(
        f"/sources/{source_id}/rules",
        {"rule_name": "texts", "rule_sender": UNKNOWN, "rule_action": "body"},
    )
    assert r.status_code == 303, r.text
    rechecker = Rechecker(web.app)
    assert rechecker.tick() == ["ap"]
    assert documents(web) == ["Invoice 7 in the text.pdf"]
    assert rechecker.tick() == []
    with web.app.db.session() as s:
        rule_id = s.scalars(select(ImportRule.id)).one()
    assert b.form(f"/sources/{source_id}/rules/{rule_id}/remove").status_code == 303
    assert wanted(web.app) == ["ap"]  # the removal is a change too
    assert rechecker.tick() == ["ap"] and rechecks(web) == 2
