"""The log in the browser: a source's runs with their counts, newest first and paged, and one
run with every message it decided and why; other companies' runs do not exist."""

from __future__ import annotations

import contextlib
import re
from datetime import timedelta

from builders import Attachment, make_mail, make_pdf
from harness.dovecot import Mailbox
from invoice_inbox.errors import ConnectorError
from invoice_inbox.runtime import runner
from invoice_inbox.store.models import Message, Run, Source, utcnow
from web.conftest import Web

ALLOWED = "billing@supplier.example"


def cells(html: str, row_id: str) -> list[str]:
    """The text of each cell of the table row with this id, tags removed."""
    row = re.search(rf'<tr id="{row_id}">(.*?)</tr>', html, re.S)
    assert row, f"no row {row_id}"
    return [
        " ".join(re.sub(r"<[^>]+>", " ", c).split())
        for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    ]


def test_the_log_shows_each_run_and_the_run_shows_each_decision_and_reason(
    web: Web, mailbox: Mailbox
) -> None:
    mailbox.append(
        "INBOX",
        make_mail(
            from_=ALLOWED,
            subject="Invoice 1",
            attachments=[Attachment("INV-1.pdf", make_pdf("INV-1"))],
        ),
    )
    mailbox.append(
        "INBOX",
        make_mail(
            from_="spam@elsewhere.example",
            subject="Cheap pills",
            attachments=[Attachment("INV-9.pdf", make_pdf("INV-9"))],
        ),
    )
    mailbox.append("INBOX", make_mail(from_=ALLOWED, subject="Just a note"))
    source_id = web.imap_source(
        "ap",
        mailbox,
        "ACME",
        allowed_senders=[ALLOWED],
        move_imported_to="Invoices",
        move_not_imported_to="Not imported",
    )
    first = runner.fetch(web.app, "ap")
    second = runner.fetch(web.app, "ap", trigger="schedule")
    web.user("clerk@x.test", "clerk", ("ACME",))
    b = web.browser("clerk@x.test")

    log = b.get(f"/sources/{source_id}/log")
    assert log.status_code == 200
    assert re.findall(r'<tr id="run-(\d+)"', log.text) == [
        str(second.run_id),
        str(first.run_id),
    ]  # newest first
    row = cells(log.text, f"run-{first.run_id}")
    assert row[2:4] == ["manual", "succeeded"]
    assert row[4].endswith(" s")  # the duration
    # seen, imported, not imported, quarantined, duplicates, documents
    assert row[5:11] == ["3", "1", "2", "0", "0", "1"]
    again = cells(log.text, f"run-{second.run_id}")
    assert again[2:4] == ["schedule", "succeeded"] and again[5:11] == ["0"] * 6
    assert f'href="/runs/{first.run_id}"' in log.text

    run = b.get(f"/runs/{first.run_id}")
    assert run.status_code == 200
    with web.app.db.session() as s:
        rows = {m.subject: m.id for m in s.query(Message)}
        doc_id = s.query(Message).filter_by(subject="Invoice 1").one().documents[0].id
    # from and subject, received, decision and the folder the mail was filed to, reason, documents
    imported = cells(run.text, f"message-{rows['Invoice 1']}")
    assert imported[0] == f"{ALLOWED} Invoice 1"
    # the test DNS knows nothing of the sender's domain: imported, flagged (the policy is flag)
    assert imported[2].startswith("import") and "filed to Invoices" in imported[2]
    assert "sender not authenticated" in imported[2]
    assert imported[4] == "INV-1.pdf"
    assert f'href="/documents/{doc_id}"' in run.text
    refused = cells(run.text, f"message-{rows['Cheap pills']}")
    assert refused[2].startswith("not imported filed to Not imported")
    assert refused[3].startswith("sender spam@elsewhere.example is not on the allowed list")
    assert refused[4] == "–"
    note = cells(run.text, f"message-{rows['Just a note']}")
    assert note[2].startswith("not imported") and "attachment" in note[3]

    assert "This run saw no new mail." in b.get(f"/runs/{second.run_id}").text


def test_a_failed_run_shows_its_error(web: Web, mailbox: Mailbox) -> None:
    source_id = web.imap_source("ap", mailbox, "ACME")
    with web.app.db.session() as s:
        src = s.get(Source, source_id)
        assert src is not None
        src.secret = web.app.secrets.encrypt("not the password")
    with contextlib.suppress(ConnectorError):
        runner.fetch(web.app, "ap")
    web.user("admin@x.test", "admin")
    b = web.browser("admin@x.test")
    with web.app.db.session() as s:
        run = s.query(Run).filter_by(source_id=source_id).one()
    assert run.status == "failed" and run.error
    log = b.get(f"/sources/{source_id}/log")
    row = cells(log.text, f"run-{run.id}")
    assert row[3] == "failed" and row[5] == "0"
    assert row[11] == " ".join(run.error.split())
    detail = b.get(f"/runs/{run.id}")
    assert '<span class="badge bad">failed</span>' in detail.text
    assert "This run saw no new mail." in detail.text
    # the refused login also shows where people look for trouble
    assert "the login was refused" in b.get("/notifications").text


def test_the_log_pages_fifty_runs_at_a_time(web: Web, mailbox: Mailbox) -> None:
    source_id = web.imap_source("ap", mailbox, "ACME")
    start = utcnow() - timedelta(days=1)
    with web.app.db.session() as s:
        for i in range(53):
            s.add(
                Run(
                    source_id=source_id,
                    trigger="schedule",
                    status="succeeded",
                    started_at=start + timedelta(minutes=i),
                    finished_at=start + timedelta(minutes=i, seconds=3),
                    messages_seen=i,
                )
            )
    web.user("admin@x.test", "admin")
    b = web.browser("admin@x.test")
    first = b.get(f"/sources/{source_id}/log")
    ids = [int(i) for i in re.findall(r'<tr id="run-(\d+)"', first.text)]
    assert len(ids) == 50 and ids == sorted(ids, reverse=True)
    older = re.search(r'<a href="([^"]+)" rel="next">older', first.text)
    assert older is not None
    second = b.get(older.group(1))
    rest = [int(i) for i in re.findall(r'<tr id="run-(\d+)"', second.text)]
    assert len(rest) == 3 and max(rest) < min(ids)
    assert 'rel="next"' not in second.text
    assert cells(second.text, f"run-{min(rest)}")[4] == "3.0 s"
    junk = b.get(f"/sources/{source_id}/log", params={"before": "²"})
    assert len(re.findall(r'<tr id="run-', junk.text)) == 50


def test_another_companys_log_and_runs_do_not_exist(web: Web, mailbox: Mailbox) -> None:
    mailbox.append("INBOX", make_mail(attachments=[Attachment("A.pdf", make_pdf("A"))]))
    source_id = web.imap_source("ap", mailbox, "ACME")
    run_id = runner.fetch(web.app, "ap").run_id
    web.user("b@x.test", "clerk", ("BETA",))
    b = web.browser("b@x.test")
    for url in (f"/sources/{source_id}/log", f"/runs/{run_id}", "/runs/999999"):
        r = b.get(url)
        assert r.status_code == 404, url
        assert "A.pdf" not in r.text
