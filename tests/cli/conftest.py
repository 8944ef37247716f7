"""Fixtures for the CLI tests: the CLI on its own data directory, pointed at a Dovecot mailbox
(the same ``AP`` helper as the end-to-end tests in tests/sync)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.dovecot import Mailbox
from sync.conftest import AP


@pytest.fixture
def ap(tmp_path: Path, mailbox: Mailbox) -> AP:
    return AP(tmp_path / "data", mailbox)
