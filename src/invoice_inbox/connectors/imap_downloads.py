"""A second IMAP session for a folder's downloads (``ImapConnector.download_session``).

``runtime.sync`` downloads batch N+1 while batch N-1 is moved; on one connection the two wait
for each other. The second session logs in with the same settings (password or XOAUTH2),
EXAMINEs the folder (read-only: it never changes a message, RFC 3501 §6.3.2) and only reads
bodies. It is used only at the uidvalidity the first session saw, so a uid means the same
message on both. A server that will not have it (a limit on connections per user, a refused
login, a folder gone meanwhile) costs nothing but the overlap: None, and the caller shares
its one connection as before.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from invoice_inbox.errors import ConnectorError

if TYPE_CHECKING:
    from invoice_inbox.connectors.imap import ImapConnector

log = logging.getLogger(__name__)


def examined(conn: ImapConnector, folder: str, uidvalidity: int) -> ImapConnector | None:
    """*conn* (a new, unconnected session) logged in with *folder* EXAMINEd, or None (closed)
    when that fails or the folder's uidvalidity is no longer *uidvalidity*."""
    try:
        info = conn._call(
            "EXAMINE", conn.client.select_folder, conn.server_name(folder), readonly=True
        )
        seen = int(info[b"UIDVALIDITY"])
    except (ConnectorError, KeyError, ValueError) as exc:
        log.info("no second IMAP session for downloads from %s (%s): one is shared", folder, exc)
        conn.close()
        return None
    if seen != uidvalidity:
        log.info("no second IMAP session for %s: its UIDVALIDITY changed meanwhile", folder)
        conn.close()
        return None
    return conn
