"""Folder names the user's way on Dovecot, Cyrus and Courier with their Debian defaults (issue 18
item 1): names typed with ``/`` (non-ASCII ones too) are filed into the server's own spelling,
``source check`` lists folders the user's way and checks the move targets without leaving a
folder behind, and a target the server cannot hold is named in one sentence."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from contract_cli import SUPPLIER, Cli, invoice, other

from harness.dovecot import Mailbox
from invoice_inbox.connectors.imap import ImapConnector, ImapSettings

Spell = Callable[[str], str]  # the ``folder`` fixture: a /-separated name the server's way

# a move target each server refuses, and the sentence `source check` says about it
REFUSED = {
    "dovecot": (
        "~Junk",
        'the folder "~Junk" cannot be created on this server: Invalid mailbox name: Begins'
        " with '~'",
    ),
    "cyrus": (
        "Rechnungen.alt",
        'the folder name "Rechnungen.alt" cannot be used on this server: "." separates folders'
        ' there; write "Rechnungen/alt" for a subfolder',
    ),
    "courier": (
        "Rechnungen.alt",
        'the folder name "Rechnungen.alt" cannot be used on this server: "." separates folders'
        ' there; write "Rechnungen/alt" for a subfolder',
    ),
}


ALL_FOUR = ("dovecot", "cyrus_altns", "cyrus", "courier")  # cyrus_altns: NAMESPACE (("" "/"))


def kind(request: pytest.FixtureRequest) -> str:
    return str(request.node.callspec.params["server"])


@pytest.mark.parametrize("server", ALL_FOUR, indirect=True)
def test_non_ascii_names_typed_with_slashes_are_filed(cli: Cli, folder: Spell) -> None:
    box: Mailbox = cli.mailbox
    box.append("INBOX", invoice(0)[2])
    box.append("INBOX", other(0))
    cli.add_source(
        *("--allow-sender", SUPPLIER, "--move-imported-to", "Rechnungen/März"),
        *("--move-not-imported-to", "Nicht importiert/Übrige"),
    )
    assert cli.fetch()["imported"] == 1
    assert box.count(folder("Rechnungen/März")) == 1
    assert box.count(folder("Nicht importiert/Übrige")) == 1
    listed = cli.json("source", "check", "ap")["folders"]
    assert {"Rechnungen/März", "Nicht importiert/Übrige"} <= set(listed)


@pytest.mark.parametrize("server", ALL_FOUR, indirect=True)
def test_check_lists_the_users_names_and_leaves_no_probe_behind(cli: Cli, folder: Spell) -> None:
    box: Mailbox = cli.mailbox
    box.append(folder("Suppliers"), invoice(0)[2])
    cli.add_source(
        *("--folder", "Suppliers", "--move-imported-to", "Invoices/{year}"),
        *("--move-not-imported-to", "Not imported"),
    )
    before = sorted(box.folders())
    checked = cli.json("source", "check", "ap")
    assert checked["ok"] is True and checked["missing"] == [] and checked["problems"] == []
    assert "Suppliers" in checked["folders"] and "INBOX" in checked["folders"]
    assert not [f for f in checked["folders"] if f.startswith("INBOX.")]
    assert sorted(box.folders()) == before


def test_check_names_a_move_target_the_server_refuses(
    request: pytest.FixtureRequest, cli: Cli
) -> None:
    target, sentence = REFUSED[kind(request)]
    cli.add_source("--move-imported-to", target)
    code, _out, err = cli.run("source", "check", "ap")
    assert code == 1 and "Traceback" not in err
    assert sentence in " ".join(err.split())


@pytest.mark.parametrize("server", ALL_FOUR, indirect=True)
def test_non_ascii_names_as_utf8_where_the_server_accepts_it(
    request: pytest.FixtureRequest, box: Mailbox, folder: Spell
) -> None:
    """Courier offers UTF8=ACCEPT (RFC 6855): names go as UTF-8 there, modified UTF-7 on the
    others; either way another client (the harness: modified UTF-7) sees the same names."""
    settings = ImapSettings(
        host="127.0.0.1",
        port=box.server.imap_port,
        security="none",
        username=box.user,
        password=box.password,
    )
    with ImapConnector(settings) as conn:
        conn.ensure_folder("Belege/Größe €")
        assert conn.client.folder_encode is (kind(request) != "courier")
        assert "Belege/Größe €" in conn.list_folders()
        box.append(conn.server_name("Belege/Größe €"), invoice(0)[2])
        assert conn.open_folder("Belege/Größe €").messages == 1
    assert folder("Belege/Größe €") in box.folders()
