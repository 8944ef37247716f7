"""A large mail read over IMAP (issue 17 item 3): its bytes come back exactly, and imaplib's
protocol trace, which formats every response (a second copy of each mail read) even when no
one logs it, is off unless its logger would print it."""

from __future__ import annotations

import logging

import pytest

from builders import Attachment, make_mail, make_sized_pdf
from harness.dovecot import Mailbox
from invoice_inbox.connectors.imap import ImapConnector, ImapSettings


def _connector(mailbox: Mailbox) -> ImapConnector:
    return ImapConnector(
        ImapSettings(
            host="127.0.0.1",
            port=mailbox.server.imap_port,
            security="none",
            username=mailbox.user,
            password=mailbox.password,
        )
    )


def test_a_large_mail_is_read_exactly_without_the_protocol_trace(mailbox: Mailbox) -> None:
    raw = make_mail(attachments=[Attachment("scan.pdf", make_sized_pdf(4 * 1024 * 1024))])
    small = make_mail(subject="small")
    uids = [mailbox.append("INBOX", raw), mailbox.append("INBOX", small)]
    with _connector(mailbox) as conn:
        conn.open_folder("INBOX")
        assert dict(conn.fetch(uids)) == {uids[0]: raw, uids[1]: small}
        assert conn.client._imap.debug == 0  # no %r of each response


def test_the_protocol_trace_is_kept_where_it_is_logged(
    mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    raw = make_mail(subject="traced")
    uid = mailbox.append("INBOX", raw)
    caplog.set_level(logging.DEBUG, logger="imapclient.imaplib")
    with _connector(mailbox) as conn:
        conn.open_folder("INBOX")
        assert dict(conn.fetch([uid])) == {uid: raw}
    assert any("UID FETCH" in r.getMessage() for r in caplog.records)
