"""The second IMAP session for a folder's downloads (``connectors.imap_downloads``) on the
suite's Dovecot: the folder EXAMINEd (read-only) at the uidvalidity the first session saw, and
none where that cannot be had."""

from __future__ import annotations

from builders import make_mail
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


def test_the_download_session_reads_the_folder_read_only(mailbox: Mailbox) -> None:
    raw = make_mail(subject="one")
    uid = mailbox.append("INBOX", raw)
    with _connector(mailbox) as conn:
        validity = conn.open_folder("INBOX").uidvalidity
        downloads = conn.download_session("INBOX", validity)
        assert downloads is not None
        try:
            assert downloads.client._imap.is_readonly  # EXAMINE, not SELECT
            assert dict(downloads.fetch([uid])) == {uid: raw}
        finally:
            downloads.close()
    assert mailbox.flags()[uid] == set()


def test_no_download_session_at_another_uidvalidity_or_for_a_missing_folder(
    mailbox: Mailbox,
) -> None:
    mailbox.append("INBOX", make_mail(subject="one"))
    with _connector(mailbox) as conn:
        validity = conn.open_folder("INBOX").uidvalidity
        assert conn.download_session("INBOX", validity + 1) is None
        assert conn.download_session("No such folder", validity) is None
