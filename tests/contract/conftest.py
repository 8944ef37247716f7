"""Fixtures of the connector contract suite: the same tests on Dovecot, Cyrus and Courier.

``server`` is parametrized over the three; Cyrus and Courier start once per xdist worker (from
the packages ``scripts/test-servers.sh`` unpacks) and are skipped when that was not run, unless
``CI`` is set: then they fail. ``box`` is a fresh user on it, ``cli`` the invoice-inbox CLI on
its own data directory reading that user's mail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from contract_cli import Cli
from contract_servers import started

from harness.courier import CourierServer
from harness.cyrus import CyrusServer
from harness.dovecot import Mailbox
from harness.mail_server import MailServer

SERVERS = ("dovecot", "cyrus", "courier")


@pytest.fixture(scope="session")
def cyrus() -> Iterator[MailServer]:
    """Cyrus IMAP with Debian's defaults (INBOX. namespace, no idled, popminpoll 1)."""
    yield from started(CyrusServer, "cyrus")


@pytest.fixture(scope="session")
def cyrus_altns() -> Iterator[MailServer]:
    """Cyrus with upstream's ``altnamespace``/``unixhierarchysep`` (NAMESPACE ``(("" "/"))``),
    as large hosted services run it."""
    yield from started(lambda base: CyrusServer(base, altns=True), "cyrus-altns")


@pytest.fixture(scope="session")
def courier() -> Iterator[MailServer]:
    """Courier-IMAP/POP with Debian's defaults (INBOX. namespace, IMAP_ENHANCEDIDLE=0)."""
    yield from started(CourierServer, "courier")


@pytest.fixture(params=SERVERS)
def server(request: pytest.FixtureRequest) -> object:
    """Dovecot (tests/conftest.py's session server), Cyrus or Courier."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def box(server: MailServer) -> Mailbox:
    user, password = server.new_user()
    return Mailbox(user=user, password=password, server=server)  # type: ignore[arg-type]


@pytest.fixture
def folder(server: object) -> Callable[[str], str]:
    """A ``/``-separated personal folder name as the server wants it typed (until issue 18
    item 1 maps names itself): unchanged on Dovecot, ``INBOX.A.B`` on Cyrus and Courier."""
    spell = getattr(server, "folder", None)
    return spell if spell is not None else (lambda name: name)


@pytest.fixture
def cli(tmp_path: Path, box: Mailbox) -> Cli:
    return Cli(tmp_path / "data", box)
