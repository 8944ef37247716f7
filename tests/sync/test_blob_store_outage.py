"""A blob store that cannot take the mail (a bucket missing or unreachable) fails the run like
a mail server that cannot be reached: nothing is committed or moved, the failure is counted on
the source with the store's sentence, the retry comes sooner (backoff), and once the store is
back the same mail is imported."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from builders import Attachment, make_mail, make_pdf
from harness.dovecot import DovecotServer, Mailbox
from harness.s3 import S3Server
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.scheduler import Scheduler
from invoice_inbox.store import sources
from invoice_inbox.store.models import Document, Source, utcnow


def test_a_missing_bucket_is_a_counted_transient_failure(
    tmp_path: Path,
    s3_server: S3Server,
    dovecot: DovecotServer,
    mailbox: Mailbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bucket = f"later-{tmp_path.name.lower().replace('_', '-')[:40]}"
    for key, value in s3_server.env(bucket).items():
        monkeypatch.setenv(key, value)
    app = App.open(tmp_path / "data")
    with app.db.session() as s:
        sources.add(
            s,
            name="ap",
            company_name="ACME",
            host="127.0.0.1",
            port=dovecot.imap_port,
            security="none",
            username=mailbox.user,
            secret=app.secrets.encrypt(mailbox.password),
            schedule="every 60m",
            move_imported_to="Imported",
        )
    mailbox.append(
        "INBOX", make_mail(subject="Inv 1", attachments=[Attachment("1.pdf", make_pdf("1"))])
    )
    started = utcnow()
    scheduler = Scheduler(app)

    scheduler.run("ap")
    with app.db.session() as s:
        src = s.scalars(select(Source)).one()
        assert src.failures == 1
        assert "blob store" in (src.last_error or "")
        assert src.next_run_at is not None
        assert src.next_run_at < started + timedelta(minutes=59)  # a retry before the schedule
        assert s.scalar(select(func.count()).select_from(Document)) == 0
    assert mailbox.count("INBOX") == 1  # nothing moved

    s3_server.client().create_bucket(Bucket=bucket)
    scheduler.run("ap")
    with app.db.session() as s:
        src = s.scalars(select(Source)).one()
        assert src.failures == 0 and src.last_error is None
        assert s.scalar(select(func.count()).select_from(Document)) == 1
    assert mailbox.count("INBOX") == 0 and mailbox.count("Imported") == 1
    app.close()
