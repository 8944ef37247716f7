"""Shared pytest fixtures: one private Dovecot per test session and a fresh mail user per test.

``dovecot`` (session) is a started :class:`harness.dovecot.DovecotServer`; ``mailbox``
(function) is a :class:`harness.dovecot.Mailbox` for an unused pre-created user. Without a
``dovecot`` binary the Dovecot tests are skipped, unless ``CI`` is set: then they fail.
Tests using either fixture get the ``dovecot`` marker (``-m "not dovecot"`` leaves them out).
``--db=postgresql`` gives every test a fresh PostgreSQL database (see harness/pg_fixtures.py).
Every fetch authenticates its mail's senders through DNS: the session's processes ask an empty
DNS server on 127.0.0.1 (``session_dns``), never the machine's; tests that need records use
``dns_server``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes.gmail import FakeGmail
from fakes.graph import FakeGraph
from fakes.oauth import FakeIdentityProvider
from harness.dns_server import DnsServer, dns_server  # noqa: F401 (the DNS server fixture)
from harness.dovecot import DovecotServer, Mailbox, find_dovecot
from harness.pg_fixtures import (  # noqa: F401 (registers the --db option and the pg fixtures)
    _database_per_test,
    mark_db_items,
    pg,
    pg_empty_url,
    pg_template,
    pytest_addoption,
    pytest_configure,
)
from harness.s3 import s3_bucket, s3_env, s3_server  # noqa: F401 (the S3 server fixtures)
from invoice_inbox.auth.oauth_tokens import AppTokens

# An Exchange-style shared-mailbox login ("user@domain\\sharedbox"), to prove it is sent unchanged.
SHARED_MAILBOX_LOGIN = "ap@buyer.example\\invoices"
SHARED_MAILBOX_PASSWORD = "sharedpw"

_FALSE_VALUES = {"", "0", "false", "no", "off"}


@pytest.fixture(scope="session", autouse=True)
def session_dns() -> Iterator[DnsServer]:
    """An empty DNS server (every name: no such domain) for the whole session, in
    ``INVOICE_INBOX_DNS_SERVER`` for this process and those it starts."""
    before = os.environ.get("INVOICE_INBOX_DNS_SERVER")
    with DnsServer() as server:
        os.environ["INVOICE_INBOX_DNS_SERVER"] = server.address
        try:
            yield server
        finally:
            if before is None:
                os.environ.pop("INVOICE_INBOX_DNS_SERVER", None)
            else:
                os.environ["INVOICE_INBOX_DNS_SERVER"] = before


def running_under_ci() -> bool:
    """True if ``CI`` is set to anything but an empty/false-like value."""
    return os.environ.get("CI", "").strip().lower() not in _FALSE_VALUES


@contextlib.contextmanager
def _dovecot_dir(name: str) -> Iterator[Path]:
    """A fresh 0755 folder in the system's temp folder for one private Dovecot, removed after.

    Not under pytest's ``pytest-of-<user>``: every pytest session that starts (another xdist
    run, a developer's targeted run) sets that back to 0700, which would lock the unprivileged
    processes of an already running Dovecot out of their mail. Short, too: Dovecot's socket
    paths must stay under 108 bytes.
    """
    path = Path(tempfile.mkdtemp(prefix=f"invoice-inbox-{name}-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    mark_db_items(config, items)
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if {"dovecot", "mailbox", "oauth_dovecot", "own_dovecot"} & fixtures:
            item.add_marker(pytest.mark.dovecot)


def _need_dovecot() -> None:
    if find_dovecot() is None:
        message = (
            "dovecot binary not found; install it with "
            "`apt-get install --no-install-recommends dovecot-imapd dovecot-pop3d`"
        )
        if running_under_ci():
            pytest.fail(f"{message} (CI is set, so this is an error, not a skip)", pytrace=False)
        pytest.skip(message)


@pytest.fixture(scope="module")
def own_dovecot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DovecotServer]:
    """A Dovecot for one test module alone: its tests may stop and restart it."""
    _need_dovecot()
    with _dovecot_dir("dovecot-own") as base:
        server = DovecotServer(base, {}, pool_size=10)
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def dovecot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DovecotServer]:
    _need_dovecot()
    with _dovecot_dir("dovecot") as base:
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


# ---------------------------------------------------------------- OAuth2 and the cloud stand-ins


@pytest.fixture(scope="session")
def idp() -> Iterator[FakeIdentityProvider]:
    """The local stand-in for Microsoft Entra ID and Google sign-in (shared; tests use their
    own tenants, clients and users)."""
    with FakeIdentityProvider() as server:
        yield server


@pytest.fixture(scope="session")
def graph(idp: FakeIdentityProvider) -> Iterator[FakeGraph]:
    """The local Microsoft Graph stand-in; it accepts the idp's tokens for the mailboxes they
    may open."""
    with FakeGraph(authorize=idp.may_open) as server:
        yield server


@pytest.fixture(scope="session")
def gmail(idp: FakeIdentityProvider) -> Iterator[FakeGmail]:
    """The local Gmail API stand-in; ``users/me`` is the user the idp's token speaks for."""

    def who(token: str) -> str | None:
        principal = idp.principal(token)
        return principal.subject if principal else None

    with FakeGmail(authorize=idp.may_open, who=who) as server:
        yield server


@pytest.fixture
def cloud(
    monkeypatch: pytest.MonkeyPatch, idp: FakeIdentityProvider, graph: FakeGraph, gmail: FakeGmail
) -> Iterator[FakeIdentityProvider]:
    """Point invoice-inbox's Microsoft and Google endpoints at the local stand-ins (also for
    processes the test starts); forget cached app-only tokens afterwards."""
    auth_url, token_url = idp.google_urls()
    monkeypatch.setenv("INVOICE_INBOX_GRAPH_URL", graph.url)
    monkeypatch.setenv("INVOICE_INBOX_GMAIL_URL", gmail.url)
    monkeypatch.setenv("INVOICE_INBOX_MICROSOFT_LOGIN_URL", idp.microsoft_base())
    monkeypatch.setenv("INVOICE_INBOX_GOOGLE_AUTH_URL", auth_url)
    monkeypatch.setenv("INVOICE_INBOX_GOOGLE_TOKEN_URL", token_url)
    yield idp
    AppTokens.forget_shared()


@pytest.fixture(scope="session")
def oauth_dovecot(
    tmp_path_factory: pytest.TempPathFactory, idp: FakeIdentityProvider
) -> Iterator[DovecotServer]:
    """A second Dovecot whose oauth2 passdb asks the idp's introspection endpoint (RFC 7662)
    about XOAUTH2 / OAUTHBEARER bearer tokens."""
    if find_dovecot() is None:
        if running_under_ci():
            pytest.fail("dovecot binary not found (CI is set, so this is an error)", pytrace=False)
        pytest.skip("dovecot binary not found")
    with _dovecot_dir("dovecot-oauth") as base:
        url = f"{idp.url}/introspect"
        server = DovecotServer(base, {}, oauth2_introspection_url=url, pool_size=20)
        server.start()
        try:
            yield server
        finally:
            server.stop()
