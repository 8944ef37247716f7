"""Shared pytest fixtures: one private Dovecot per test session and a fresh mail user per test.

``dovecot`` (session) is a started :class:`harness.dovecot.DovecotServer`; ``mailbox``
(function) is a :class:`harness.dovecot.Mailbox` for an unused pre-created user. Without a
``dovecot`` binary the Dovecot tests are skipped, unless ``CI`` is set: then they fail.
Tests using either fixture get the ``dovecot`` marker (``-m "not dovecot"`` leaves them out).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.dovecot import DovecotServer, Mailbox, find_dovecot

# An Exchange-style shared-mailbox login ("user@domain\\sharedbox"), to prove it is sent unchanged.
SHARED_MAILBOX_LOGIN = "ap@buyer.example\\invoices"
SHARED_MAILBOX_PASSWORD = "sharedpw"

_FALSE_VALUES = {"", "0", "false", "no", "off"}


def running_under_ci() -> bool:
    """True if ``CI`` is set to anything but an empty/false-like value."""
    return os.environ.get("CI", "").strip().lower() not in _FALSE_VALUES


def _allow_traverse(path: Path, basetemp: Path) -> None:
    """Let Dovecot's unprivileged processes traverse pytest's 0700 temp dirs (adds o+x only).

    Touches ``path`` up to ``basetemp`` and pytest's ``pytest-of-<user>`` above it, nothing
    else; anything still blocking is reported by ``DovecotServer.start()``.
    """
    stop = basetemp.parent if basetemp.parent.name.startswith("pytest-of-") else basetemp
    for d in [path, *path.parents]:
        st = d.stat()
        if not st.st_mode & stat.S_IXOTH and st.st_uid == os.getuid():
            d.chmod(stat.S_IMODE(st.st_mode) | stat.S_IXOTH)
        if d == stop:
            break


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if {"dovecot", "mailbox"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.dovecot)


@pytest.fixture(scope="session")
def dovecot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DovecotServer]:
    if find_dovecot() is None:
        message = (
            "dovecot binary not found; install it with "
            "`apt-get install --no-install-recommends dovecot-imapd dovecot-pop3d`"
        )
        if running_under_ci():
            pytest.fail(f"{message} (CI is set, so this is an error, not a skip)", pytrace=False)
        pytest.skip(message)
    base = tmp_path_factory.mktemp("dovecot")
    _allow_traverse(base, tmp_path_factory.getbasetemp())
    server = DovecotServer(base, {SHARED_MAILBOX_LOGIN: SHARED_MAILBOX_PASSWORD})
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def mailbox(dovecot: DovecotServer) -> Mailbox:
    user, password = dovecot.new_user()
    return Mailbox(user=user, password=password, server=dovecot)
