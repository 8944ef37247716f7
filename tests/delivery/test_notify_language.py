"""Notifications in each recipient's language (issue 20): a user is written to in their own
language, another address in the company's, else English; one e-mail per language through a
local SMTP relay; the stored notification keeps its English. Translations from a test
catalogue; the texts are made where the notifications are made (runtime.health)."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from pathlib import Path

import pytest
from sqlalchemy import select

from fakes.receivers import SmtpSink
from invoice_inbox.delivery.notify import Channels, deliver_due
from invoice_inbox.errors import ConnectFailed
from invoice_inbox.runtime import health
from invoice_inbox.runtime.context import App
from invoice_inbox.store import notification_texts, sources, users
from invoice_inbox.store.models_events import Notification
from translated import install

PASSWORD = "correct horse battery"
SINCE = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
SUBJECT = 'invoice-inbox: source "%(source)s" was switched off after %(failures)s failed fetches'
BODY = (
    'The source "%(source)s" of %(company)s failed %(failures)s times in a row '
    "(since %(since)s) and has been switched off; no mail is fetched from it now.\n\n"
    "Last error: %(error)s\n\n"
    "When the mail server is reachable again, switch it back on with:\n"
    "    invoice-inbox source activate %(source)s\n"
)


def readable(mail: Message) -> EmailMessage:
    """The mail as a reader sees it: headers decoded, the text part's content."""
    found = email.message_from_bytes(mail.as_bytes(), policy=policy.default)
    assert isinstance(found, EmailMessage)
    return found


def body_of(mail: EmailMessage) -> str:
    return str(mail.get_content())


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> App:
    install(
        monkeypatch,
        tmp_path,
        "pl",
        {
            SUBJECT: 'invoice-inbox: źródło "%(source)s" wyłączone po %(failures)s błędach',
            BODY: "Źródło %(source)s (%(company)s) wyłączone od %(since)s: %(error)s\n",
        },
    )
    install(
        monkeypatch,
        tmp_path,
        "de",
        {SUBJECT: 'invoice-inbox: Quelle "%(source)s" nach %(failures)s Fehlern abgeschaltet'},
    )
    return App.open(tmp_path / "data")


def switch_off(app: App) -> None:
    """Five failed runs of "ap" of ACME: switched off, a notification made."""
    with app.db.session() as s:
        src = sources.add(s, name="ap", company_name="ACME", host="127.0.0.1", port=1, username="u")
        src.max_failures = 1
    health.record_failure(app, "ap", ConnectFailed("connection refused"), now=SINCE)


def test_each_recipient_reads_the_notification_in_their_language(app: App) -> None:
    try:
        with app.db.session() as s:
            acme = sources.company(s, "ACME", create=True)
            acme.locale = "de"
            acme.notify_emails = ["ap-team@acme.example"]
            users.create(s, "ola@acme.example", PASSWORD, "clerk", [acme]).locale = "pl"
            users.create(s, "boss@hq.example", PASSWORD, "admin")  # no language: the company's
        switch_off(app)
        with app.db.session() as s:
            n = s.scalars(select(Notification)).one()
            english = (n.subject, n.body)
        assert english[0] == 'invoice-inbox: source "ap" was switched off after 1 failed fetches'
        assert "(since 2026-01-15 12:00 UTC)" in english[1]
        with SmtpSink() as sink:
            assert deliver_due(app.db, Channels(smtp_host="127.0.0.1", smtp_port=sink.port)) == 1
            mails = {tuple(sorted(m.rcpt_tos)): readable(m.message) for m in sink.mails}
        assert set(mails) == {("ola@acme.example",), ("ap-team@acme.example", "boss@hq.example")}
        polish = mails[("ola@acme.example",)]
        assert polish["Subject"] == 'invoice-inbox: źródło "ap" wyłączone po 1 błędach'
        assert "Źródło ap (ACME) wyłączone od 15 sty 2026 12:00 UTC: connection refused" in (
            body_of(polish)
        )
        german = mails[("ap-team@acme.example", "boss@hq.example")]
        assert german["Subject"] == 'invoice-inbox: Quelle "ap" nach 1 Fehlern abgeschaltet'
        assert "(since 15.01.2026 12:00 UTC)" in body_of(german)  # not translated: dates are
        with app.db.session() as s:  # the texts stay with the notification, as codes
            kept = s.scalars(select(Notification)).one().texts
            assert kept is not None and kept["subject"] == "deactivated_subject"
            assert kept["params"]["since"] == SINCE.isoformat()
    finally:
        app.close()


def test_a_company_without_a_language_is_written_to_in_english(app: App) -> None:
    try:
        with app.db.session() as s:
            acme = sources.company(s, "ACME", create=True)
            acme.notify_emails = ["ap-team@acme.example"]
        switch_off(app)
        with SmtpSink() as sink:
            deliver_due(app.db, Channels(smtp_host="127.0.0.1", smtp_port=sink.port))
            (mail,) = sink.mails
        with app.db.session() as s:
            n = s.scalars(select(Notification)).one()
            shown = readable(mail.message)
            assert (shown["Subject"], body_of(shown)) == (n.subject, n.body)
    finally:
        app.close()


def test_texts_render_each_template_with_its_parameters() -> None:
    params = {
        "source": "ap", "company": "ACME", "error": "e", "failures": 2, "since": None,
        "file": "a.pdf", "document_id": 1, "sender": None, "subject": "s", "iban": "DE1",
        "supplier": "S", "known": "DE2", "decision": "import",
        "reason": notification_texts.reason_of("no attachment", None),
    }  # fmt: skip
    for code in notification_texts.TEMPLATES:
        if code.endswith("_subject"):
            subject, body = notification_texts.Texts(
                code, code.replace("_subject", "_body"), params
            ).written("en")
            assert "%(" not in subject + body
