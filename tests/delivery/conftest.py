"""Fixtures for outgoing deliveries: the operator's allowance for private webhook addresses
(the receivers of these tests listen on 127.0.0.1), and a guard that no traffic leaves it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fakes.loopback_only import loopback_only
from web.conftest import web  # noqa: F401  (the web app, for what the screens show)

ALLOW = "INVOICE_INBOX_ALLOW_PRIVATE_WEBHOOKS"


@pytest.fixture
def allow_private(monkeypatch: pytest.MonkeyPatch) -> None:
    """As ``serve --allow-private-webhooks``: receivers on 127.0.0.1 may be sent to."""
    monkeypatch.setenv(ALLOW, "1")


@pytest.fixture
def refuse_private(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default: no allowance in the environment or from the command line."""
    monkeypatch.delenv(ALLOW, raising=False)


@pytest.fixture
def outside() -> Iterator[list[tuple[str, int]]]:
    """Connects beyond loopback made during the test (each was refused): must stay empty."""
    with loopback_only() as attempts:
        yield attempts
