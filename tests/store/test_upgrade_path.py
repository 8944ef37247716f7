"""The upgrade path from the oldest schema (0001) to today, on the run's database (SQLite, or
PostgreSQL with ``--db=postgresql``).

A data directory is built as the first versions left it (harness/old_data_dir.py): a company, an
IMAP source on Dovecot, the ledger rows, documents and blobs of two mails already imported, the
cursor one mail behind (a crash between commit and cursor), a user added by the 0005 version.
Today's ``App.open`` (what ``serve``, ``worker`` and every command call first) upgrades it; then
a fetch of the same mailbox imports only the new mail, every old document and mail is served by
the web pages and the blob store, and the old user signs in with the old password. A second test
steps through every migration and checks that each keeps every row it was given.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient

from builders import Attachment, make_mail, make_pdf
from harness.dovecot import Mailbox
from harness.old_data_dir import (
    USERS_REVISION,
    BlobLayout,
    OldDataDir,
    OldMail,
    add_user_of_0005,
    build_first_release,
    revisions_after_first,
    sha,
)
from harness.pg_fixtures import on_postgresql
from harness.release_rows import lost_or_changed, snapshot, write_rows_of
from invoice_inbox.runtime import runner
from invoice_inbox.runtime.context import App
from invoice_inbox.store import blob_layout
from invoice_inbox.store.db import DB_FILE, alembic_config, make_engine
from invoice_inbox.web.app import create_app

SENDER = "billing@acme-supplies.example"
CLERK, CLERK_PASSWORD = "clerk@acme.example", "an old password of 2026"
_CSRF = 'name="csrf_token" value="'


@pytest.fixture
def old_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty database of the run's kind, which App.open(tmp_path / "data") opens."""
    for name in ("INVOICE_INBOX_BLOB_URL", "INVOICE_INBOX_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)  # the data directory's own blobs and key
    if on_postgresql(request.config):
        url: str = request.getfixturevalue("pg_empty_url")
        monkeypatch.setenv("INVOICE_INBOX_DATABASE_URL", url)
        return url
    monkeypatch.delenv("INVOICE_INBOX_DATABASE_URL", raising=False)
    (tmp_path / "data").mkdir(mode=0o700)
    return f"sqlite:///{tmp_path / 'data' / DB_FILE}"


def _invoice_mail(n: int) -> tuple[bytes, str, bytes]:
    pdf = make_pdf(f"Old invoice {n}")
    subject = f"Invoice {n}"
    raw = make_mail(from_=SENDER, subject=subject, attachments=[Attachment(f"INV-{n}.pdf", pdf)])
    return raw, f"INV-{n}.pdf", pdf


def _old_data_dir(
    tmp_path: Path, url: str, mailbox: Mailbox, layout: BlobLayout
) -> tuple[OldDataDir, dict[str, bytes]]:
    """The old data directory, and each document's mail (by file name)."""
    mails = []
    for n in (1, 2):
        raw, filename, pdf = _invoice_mail(n)
        uid = mailbox.append("INBOX", raw)
        mails.append(OldMail(uid, raw, SENDER, f"Invoice {n}", ((filename, pdf),)))
    old = build_first_release(
        tmp_path / "data",
        url,
        host="127.0.0.1",
        port=mailbox.server.imaps_port,
        security="ssl",  # the old default, with the server's CA as a file (0008 added PEM)
        ca_file=str(mailbox.server.ca_file),
        username=mailbox.user,
        password=mailbox.password,
        uidvalidity=mailbox.uidvalidity(),
        mails=mails,
        cursor_uid=mails[0].uid,  # the second mail's batch committed, the cursor not advanced
        layout=layout,
        allowed_senders=(SENDER,),
    )
    add_user_of_0005(old, CLERK, CLERK_PASSWORD)
    return old, {m.documents[0][0]: m.raw for m in mails}


@pytest.fixture
def upgraded() -> Iterator[list[App]]:
    """The apps a test opened, closed after it."""
    apps: list[App] = []
    yield apps
    for app in apps:
        app.close()


def _head() -> str:
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config(make_engine("sqlite://")))
    return str(scripts.get_current_head())


def _sign_in(client: TestClient, email: str, password: str) -> int:
    page = client.get("/login")
    assert page.status_code == 200, page.text
    token = page.text.split(_CSRF, 1)[1].split('"', 1)[0]
    answer = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    return answer.status_code


@pytest.mark.parametrize("layout", list(BlobLayout), ids=str)
def test_a_first_release_data_dir_upgrades_without_reimporting_and_serves_every_document(
    tmp_path: Path, old_url: str, mailbox: Mailbox, layout: BlobLayout, upgraded: list[App]
) -> None:
    old, mail_of = _old_data_dir(tmp_path, old_url, mailbox, layout)
    new_raw, new_name, new_pdf = _invoice_mail(3)
    mail_of[new_name] = new_raw
    mailbox.append("INBOX", new_raw)

    app = App.open(old.data_dir)  # the upgrade serve and every command run first
    upgraded.append(app)
    with app.db.session() as s:
        assert s.scalar(sa.text("SELECT version_num FROM alembic_version")) == _head()

    first = runner.fetch(app, old.source, trigger="manual")
    assert (first.imported, first.documents_created) == (1, 1), first
    again = runner.fetch(app, old.source, trigger="manual")
    assert (again.imported, again.documents_created) == (0, 0), again
    assert mailbox.count("INBOX") == 3  # nothing moved: the source files nothing

    with app.db.session() as s:
        counts = s.execute(
            sa.text(
                "SELECT (SELECT count(*) FROM message), (SELECT count(*) FROM document),"
                " (SELECT count(*) FROM message WHERE uid IS NOT NULL)"
            )
        ).one()
        assert tuple(counts) == (3, 3, 3)
        documents = s.execute(
            sa.text("SELECT d.id, d.filename, d.sha256 FROM document d ORDER BY d.id")
        ).all()
    assert [(name, digest) for _, name, digest in documents] == [
        *[(name, sha(data)) for name, data in old.documents.items()],
        (new_name, sha(new_pdf)),
    ]

    for digest, data in old.blobs.items():  # raw mails and documents, by their SHA-256
        assert app.blobs.get(digest) == data

    web = TestClient(create_app(app), follow_redirects=False)
    assert _sign_in(web, CLERK, "not the password") != 303
    assert _sign_in(web, CLERK, CLERK_PASSWORD) == 303
    for doc_id, name, _ in documents:
        served = web.get(f"/documents/{doc_id}/file", params={"download": "1"})
        assert served.status_code == 200, served.text
        assert served.content == (old.documents.get(name) or new_pdf)
        mail = web.get(f"/documents/{doc_id}/mail")
        assert mail.status_code == 200, mail.text
        assert mail.content == mail_of[name]

    assert (old.data_dir / "blobs" / blob_layout.MARKER).is_file()
    assert not [p for p in (old.data_dir / "blobs").glob("*/*/*")]  # no two-level blob left


def test_every_migration_keeps_every_row_it_is_given(tmp_path: Path, old_url: str) -> None:
    """From a 0001 database with mail, one migration at a time; after each, the rows of what it
    added are written, so every later migration (on SQLite most copy whole tables) runs over
    data in every table there is by then. Each must keep every value of every row."""
    old = build_first_release(
        tmp_path / "data",
        old_url,
        host="127.0.0.1",
        port=1,
        username="ap@acme.example",
        password="mail password",
        uidvalidity=2_147_483_647,  # the largest a 0001 database on PostgreSQL held
        mails=[
            OldMail(uid, raw, SENDER, "Invoice", ((name, pdf),))
            for uid, (raw, name, pdf) in ((7, _invoice_mail(7)), (8, _invoice_mail(8)))
        ],
        cursor_uid=7,
        allowed_senders=(SENDER,),
    )
    engine = make_engine(old_url)
    try:
        with engine.connect() as conn:
            before = snapshot(conn)
        assert [len(before[t]["id"]) for t in ("company", "source", "message", "document")] == [
            1,
            1,
            2,
            2,
        ]
        config = alembic_config(engine)
        for revision in revisions_after_first():
            command.upgrade(config, revision)
            with engine.connect() as conn:
                problems = lost_or_changed(before, snapshot(conn))
            assert not problems, f"migration {revision}: {problems}"
            if revision == USERS_REVISION:
                add_user_of_0005(old, CLERK, CLERK_PASSWORD)
            with engine.begin() as conn:
                write_rows_of(conn, revision)
            with engine.connect() as conn:
                before = snapshot(conn)
    finally:
        engine.dispose()
    empty = sorted(t for t, columns in before.items() if not next(iter(columns.values())))
    assert empty == ["blocked_sender", "supplier", "supplier_domain", "supplier_iban"]
