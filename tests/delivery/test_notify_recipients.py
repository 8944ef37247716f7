"""Who gets the notification e-mail: everyone with access to the company (its active users and
every active admin) and the company's extra addresses, each once, through a local SMTP relay."""

from __future__ import annotations

from pathlib import Path

from fakes.receivers import SmtpSink
from invoice_inbox.delivery.notify import Channels, deliver_due
from invoice_inbox.runtime.context import App
from invoice_inbox.store import notifications, sources, users
from invoice_inbox.store.models import utcnow

PASSWORD = "correct horse battery"


def test_the_company_people_and_the_extra_addresses_get_the_mail(tmp_path: Path) -> None:
    app = App.open(tmp_path / "data")
    try:
        with app.db.session() as s:
            acme = sources.company(s, "ACME", create=True)
            beta = sources.company(s, "Beta", create=True)
            acme.notify_emails = ["ap-team@acme.example", "Clerk@ACME.example"]
            users.create(s, "boss@hq.example", PASSWORD, "admin")
            users.create(s, "clerk@acme.example", PASSWORD, "clerk", [acme])
            users.create(s, "viewer@acme.example", PASSWORD, "viewer", [acme, beta])
            users.create(s, "beta@beta.example", PASSWORD, "clerk", [beta])  # other company
            users.create(s, "gone@acme.example", PASSWORD, "clerk", [acme]).active = False
            users.create(s, "old-boss@hq.example", PASSWORD, "admin").active = False
            src = sources.add(
                s, name="ap", company_name="ACME", host="127.0.0.1", port=1, username="ap"
            )
            notifications.create(s, src, "source_deactivated", "switched off", "...", now=utcnow())
        with SmtpSink() as sink:
            channels = Channels(smtp_host="127.0.0.1", smtp_port=sink.port)
            assert deliver_due(app.db, channels) == 1
            [mail] = sink.mails
        assert sorted(mail.rcpt_tos) == [  # Clerk@ACME.example is clerk@acme.example: once
            "ap-team@acme.example",
            "boss@hq.example",
            "clerk@acme.example",
            "viewer@acme.example",
        ]
    finally:
        app.close()
