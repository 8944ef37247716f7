"""Starting a Cyrus or Courier for the contract suite: in a fresh 0755 folder, skipped when
``scripts/test-servers.sh`` has not unpacked them (a failure when ``CI`` is set)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.mail_server import MailServer, cache_dir


@contextlib.contextmanager
def _server_dir(name: str) -> Iterator[Path]:
    """A fresh 0755 folder for one server (its unprivileged processes must reach it), not
    under pytest's 0700 ``pytest-of-<user>``; removed after."""
    path = Path(tempfile.mkdtemp(prefix=f"invoice-inbox-{name}-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _need_unpacked() -> None:
    if not (cache_dir() / ".unpacked-v1").exists():
        message = f"Cyrus/Courier are not unpacked in {cache_dir()}: run scripts/test-servers.sh"
        if os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no", "off"}:
            pytest.fail(f"{message} (CI is set, so this is an error, not a skip)", pytrace=False)
        pytest.skip(message)


def started(factory: Callable[[Path], MailServer], name: str) -> Iterator[MailServer]:
    _need_unpacked()
    with _server_dir(name) as base:
        server = factory(base)
        server.start()
        try:
            yield server
        finally:
            server.stop()
