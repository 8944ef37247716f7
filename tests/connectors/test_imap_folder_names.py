"""Folder names the server's way (issue 18 item 1): the mapping of ``connectors.imap_names`` on
the namespaces servers answer, and the IMAP connector against Dovecot's default namespace
(``""`` with ``/``) and a Dovecot set up as Courier and Cyrus are by default (``INBOX.`` with
``.``, ``harness.dovecot_prefixed``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from builders import make_mail
from harness.dovecot import DovecotServer, Mailbox
from harness.dovecot_prefixed import (
    DottedDovecot,
    DottedDovecotWithoutNamespace,
    PrefixedDovecot,
    started_prefixed_dovecot,
)
from invoice_inbox.connectors.idle import IdleWaiter
from invoice_inbox.connectors.imap import ImapConnector, ImapSettings
from invoice_inbox.connectors.imap_names import FolderNameInvalid, FolderNames

COURIER = FolderNames.from_namespace([("INBOX.", ".")], None, [("#shared.", ".")])
DOVECOT = FolderNames.from_namespace([("", "/")])
DOVECOT_DOT = FolderNames.from_namespace([("", ".")])
CYRUS_UNIXSEP = FolderNames.from_namespace([("INBOX/", "/")])


@pytest.mark.parametrize(
    ("names", "user", "server"),
    [
        (COURIER, "INBOX", "INBOX"),
        (COURIER, "inbox", "INBOX"),
        (COURIER, "Invoices/2026", "INBOX.Invoices.2026"),
        (COURIER, "Not imported", "INBOX.Not imported"),
        (COURIER, "INBOX.Invoices", "INBOX.Invoices"),  # copied from the server: kept
        (COURIER, "inbox.Invoices/2026", "INBOX.Invoices.2026"),
        (COURIER, "INBOX/Invoices", "INBOX.Invoices"),
        (COURIER, "Rechnungen/März", "INBOX.Rechnungen.März"),
        (COURIER, "#shared.Team", "#shared.Team"),  # another namespace: as the server spells it
        (DOVECOT, "Invoices/2026", "Invoices/2026"),
        (DOVECOT, "Rechnungen.alt", "Rechnungen.alt"),
        (DOVECOT, "inbox", "INBOX"),
        (DOVECOT_DOT, "Invoices/2026", "Invoices.2026"),
        (DOVECOT_DOT, "Archive.2024", "Archive.2024"),  # the server's own spelling still works
        (CYRUS_UNIXSEP, "Invoices/2026", "INBOX/Invoices/2026"),
        (CYRUS_UNIXSEP, "INBOX/Invoices", "INBOX/Invoices"),
    ],
)
def test_names_map_to_the_servers_spelling(names: FolderNames, user: str, server: str) -> None:
    assert names.to_server(user) == server


@pytest.mark.parametrize(
    ("names", "server", "user"),
    [
        (COURIER, "INBOX", "INBOX"),
        (COURIER, "INBOX.Invoices.2026", "Invoices/2026"),
        (COURIER, "INBOX.Not imported", "Not imported"),
        (COURIER, "#shared.Team", "#shared.Team"),
        (DOVECOT, "Invoices/2026", "Invoices/2026"),
        (DOVECOT_DOT, "Invoices.2026", "Invoices/2026"),
        (CYRUS_UNIXSEP, "INBOX/Invoices/2026", "Invoices/2026"),
    ],
)
def test_listed_names_are_shown_the_users_way_and_map_back(
    names: FolderNames, server: str, user: str
) -> None:
    assert names.to_user(server) == user
    assert names.to_server(user) == server


def test_a_name_the_server_cannot_hold_is_one_sentence() -> None:
    with pytest.raises(FolderNameInvalid) as caught:
        COURIER.to_server("Rechnungen.alt")
    assert str(caught.value) == (
        'the folder name "Rechnungen.alt" cannot be used on this server: "." separates folders'
        ' there; write "Rechnungen/alt" for a subfolder'
    )
    assert caught.value.transient is False


# -- the connector on real servers -------------------------------------------------------------


def connector(server: DovecotServer, user: str, password: str) -> ImapConnector:
    return ImapConnector(
        ImapSettings(
            host="127.0.0.1",
            port=server.imap_port,
            security="none",
            username=user,
            password=password,
        )
    )


@pytest.fixture(scope="module")
def prefixed_dovecot() -> Iterator[PrefixedDovecot]:
    with started_prefixed_dovecot() as server:
        yield server


@pytest.fixture
def courier_like(prefixed_dovecot: PrefixedDovecot) -> Iterator[tuple[ImapConnector, Mailbox]]:
    user, password = prefixed_dovecot.new_user()
    conn = connector(prefixed_dovecot, user, password)
    try:
        yield conn, Mailbox(user=user, password=password, server=prefixed_dovecot)
    finally:
        conn.close()


@pytest.mark.dovecot
def test_courier_like_names_are_mapped_both_ways(
    courier_like: tuple[ImapConnector, Mailbox],
) -> None:
    conn, box = courier_like
    box.append("INBOX.Suppliers", make_mail(subject="hello"))
    assert conn.names == FolderNames(prefix="INBOX.", delimiter=".")
    for folder in ("Invoices/2026", "Not imported", "Rechnungen/März", "INBOX.Copied"):
        conn.ensure_folder(folder)
    on_server = set(box.folders())
    assert {
        "INBOX.Invoices.2026",
        "INBOX.Not imported",
        "INBOX.Rechnungen.März",
        "INBOX.Copied",
    } <= on_server
    assert not {"Invoices/2026", "INBOX.Invoices/2026"} & on_server
    listed = conn.list_folders()
    assert {"INBOX", "Suppliers", "Invoices/2026", "Not imported", "Rechnungen/März"} <= set(listed)
    assert not [f for f in listed if f.startswith("INBOX.")]
    assert conn.missing(["Suppliers", "INBOX.Suppliers", "inbox", "Nope"]) == ["Nope"]
    status = conn.open_folder("Suppliers")
    assert status.name == "Suppliers" and status.messages == 1
    assert conn.status("INBOX.Suppliers").messages == 1
    assert conn.message_counts(["Suppliers", "Not imported"]) == {
        "Suppliers": 1,
        "Not imported": 0,
    }


@pytest.mark.dovecot
def test_mail_is_moved_to_the_servers_name(courier_like: tuple[ImapConnector, Mailbox]) -> None:
    conn, box = courier_like
    uid = box.append("INBOX", make_mail(subject="move me"))
    conn.open_folder("INBOX")
    conn.ensure_folder("Invoices/2026")
    conn.move([uid], "Invoices/2026")
    assert box.count("INBOX") == 0 and box.count("INBOX.Invoices.2026") == 1


@pytest.mark.dovecot
def test_filing_problems_are_named_and_a_probe_leaves_nothing_behind(
    courier_like: tuple[ImapConnector, Mailbox],
) -> None:
    conn, box = courier_like
    before = sorted(box.folders())
    assert conn.filing_problem("Invoices/2026") is None
    assert conn.filing_problem("Not imported") is None
    assert sorted(box.folders()) == before, "the probe's folders were deleted again"
    assert conn.filing_problem("Rechnungen.alt") == (
        'the folder name "Rechnungen.alt" cannot be used on this server: "." separates folders'
        ' there; write "Rechnungen/alt" for a subfolder'
    )
    box.append("INBOX.Kept", make_mail(subject="x"))
    assert conn.filing_problem("Kept") is None and "INBOX.Kept" in box.folders()


@pytest.mark.dovecot
def test_dovecot_default_names_go_out_as_written(mailbox: Mailbox) -> None:
    conn = connector(mailbox.server, mailbox.user, mailbox.password)
    try:
        assert conn.names.plain
        conn.ensure_folder("Invoices/2026")
        conn.ensure_folder("Rechnungen/März")
        assert {"Invoices/2026", "Rechnungen/März"} <= set(mailbox.folders())
        assert {"Invoices/2026", "Rechnungen/März"} <= set(conn.list_folders())
        before = sorted(mailbox.folders())
        assert conn.filing_problem("Archive/2026/Q1") is None
        assert sorted(mailbox.folders()) == before
        assert conn.filing_problem("~x") == (
            'the folder "~x" cannot be created on this server: Invalid mailbox name: Begins'
            " with '~'"
        )
    finally:
        conn.close()


@pytest.mark.dovecot
@pytest.mark.parametrize("kind", [DottedDovecot, DottedDovecotWithoutNamespace])
def test_a_dotted_namespace_without_prefix_maps_slashes_and_keeps_dotted_names(
    kind: type[PrefixedDovecot],
) -> None:
    """Learnt from NAMESPACE, or from the delimiter of LIST "" "" where it is not offered."""
    with started_prefixed_dovecot(kind) as server:
        user, password = server.new_user()
        conn = connector(server, user, password)
        try:
            assert conn.names == FolderNames(prefix="", delimiter=".")
            offered = conn.client.has_capability("NAMESPACE")
            assert offered is (kind is not DottedDovecotWithoutNamespace)
            conn.ensure_folder("Invoices/2026")
            conn.ensure_folder("Archive.2024")  # the server's own spelling, as before
            assert {"Invoices.2026", "Archive.2024"} <= set(server.list_folders(user))
            assert {"Invoices/2026", "Archive/2024"} <= set(conn.list_folders())
            assert conn.missing(["Invoices/2026", "Invoices.2026", "Archive/2024"]) == []
        finally:
            conn.close()


@pytest.mark.dovecot
def test_an_instant_source_examines_the_servers_name(
    courier_like: tuple[ImapConnector, Mailbox],
) -> None:
    conn, box = courier_like
    box.append("INBOX.Suppliers", make_mail(subject="waiting"))
    waiter = IdleWaiter(conn.settings, "Suppliers", reissue_after=600, check_every=0.1)
    try:
        waiter.connect()  # EXAMINE INBOX.Suppliers
        assert waiter.connected
    finally:
        waiter.close()
