"""The POP3 connector's contract on Dovecot, Courier-POP and Cyrus's pop3d, end to end through
the CLI: mail kept on the server is imported once (the UIDL ledger), ``--delete-after-import``
removes every handled mail, and STARTTLS / POP3S sign in with the server's certificate.

Cyrus runs here with ``popminpoll: 0``; Debian's default (``1``: a second login within a minute
is answered ``[LOGIN-DELAY]``) is issue 18 item 4's test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from contract_cli import SUPPLIER, Cli, invoice, other
from contract_servers import started

from harness.cyrus import CyrusServer
from harness.mail_server import MailServer


@pytest.fixture(scope="module")
def cyrus_pop() -> Iterator[MailServer]:
    yield from started(lambda base: CyrusServer(base, popminpoll=0), "cyrus-pop")


POP3_SERVERS = pytest.mark.parametrize("server", ["dovecot", "courier", "cyrus_pop"], indirect=True)


def seen_imported(summary: dict[str, int]) -> tuple[int, int]:
    return summary["messages_seen"], summary["imported"]


@POP3_SERVERS
def test_mail_kept_on_the_server_is_imported_once(cli: Cli) -> None:
    for i in range(2):
        cli.mailbox.append("INBOX", invoice(i)[2])
    cli.mailbox.append("INBOX", other(0))
    cli.add_source("--allow-sender", SUPPLIER, protocol="pop3")
    assert seen_imported(cli.fetch()) == (3, 2)
    assert seen_imported(cli.fetch()) == (0, 0), "the UIDL ledger knows every mail"
    cli.mailbox.append("INBOX", invoice(2)[2])
    assert seen_imported(cli.fetch()) == (1, 1), "only the new mail"
    assert sorted(d["filename"] for d in cli.documents()) == [f"INV-{i}.pdf" for i in range(3)]
    assert cli.mailbox.count("INBOX") == 4, "nothing deleted by default"


@POP3_SERVERS
def test_delete_after_import_removes_every_handled_mail(cli: Cli) -> None:
    for i in range(2):
        cli.mailbox.append("INBOX", invoice(i)[2])
    cli.mailbox.append("INBOX", other(0))
    cli.add_source("--allow-sender", SUPPLIER, "--delete-after-import", protocol="pop3")
    summary = cli.fetch()
    assert (summary["imported"], summary["not_imported"]) == (2, 1)
    assert cli.mailbox.count("INBOX") == 0
    assert {m["state"] for m in cli.messages()} == {"disposed"}
    assert seen_imported(cli.fetch()) == (0, 0)


@POP3_SERVERS
def test_starttls_signs_in_with_the_servers_certificate(cli: Cli) -> None:
    cli.mailbox.append("INBOX", invoice(0)[2])
    cli.add_source(protocol="pop3", security="starttls")
    assert cli.json("source", "check", "ap")["ok"] is True
    assert seen_imported(cli.fetch()) == (1, 1)
