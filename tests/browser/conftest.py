"""Fixtures for the browser tests: ``invoice-inbox serve`` as a user runs it, on a fresh data
directory and a free port, driven by Playwright in Debian's Chromium (``/usr/bin/chromium``;
browser downloads are impossible here, so Playwright never fetches one).

Screenshots of each screen go to ``artifacts/screenshots/`` (``INVOICE_INBOX_ARTIFACTS``
overrides ``artifacts``). Without Chromium the tests are skipped, unless ``CI`` is set: then
they fail.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

CHROMIUM = Path(os.environ.get("INVOICE_INBOX_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("INVOICE_INBOX_ARTIFACTS", "artifacts")) / "screenshots"
# Chromium as root, headless, and quiet on a machine whose network is closed.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def _under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no", "off"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    url: str
    data_dir: Path
    process: subprocess.Popen[str]
    printed: list[str]  # serve's console, line by line

    @property
    def setup_url(self) -> str:
        """The first-run address with the one-time token, as serve printed it."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for line in list(self.printed):
                m = re.search(r"(http://\S+/setup\?token=[\w-]+)", line)
                if m:
                    return m.group(1)
            time.sleep(0.05)
        raise AssertionError(f"serve printed no setup address: {self.printed}")

    def cli(self, *args: str, env: dict[str, str] | None = None) -> str:
        """Run the CLI on the same data directory (as a second terminal would)."""
        r = subprocess.run(
            [sys.executable, "-m", "invoice_inbox", "--data-dir", str(self.data_dir), *args],
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            timeout=120,
        )
        assert r.returncode == 0, r.stderr
        return r.stdout


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """``invoice-inbox serve --port P`` in a process of its own, until the test ends."""
    data, port = tmp_path / "data", _free_port()
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "invoice_inbox", "--data-dir", str(data), "serve"),
            *("--host", "127.0.0.1", "--port", str(port)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    printed: list[str] = []
    reader = threading.Thread(target=lambda: printed.extend(proc.stdout or ()), daemon=True)
    reader.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            reader.join(timeout=5)
            pytest.fail(f"serve did not come up: {''.join(printed)}")
        time.sleep(0.1)
    try:
        yield Served(url, data, proc, printed)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    """Chromium for one test module: Playwright's sync API keeps an asyncio loop running in
    this thread while it is open, which later tests calling ``asyncio.run`` must not meet."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} not found; install it with `apt-get install chromium`"
        if _under_ci():
            pytest.fail(f"{message} (CI is set, so this is an error, not a skip)", pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium: object) -> Iterator[object]:
    context = chromium.new_context(viewport={"width": 1280, "height": 860})  # type: ignore[attr-defined]
    context.set_default_timeout(30_000)
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()


def shot(target: object, name: str) -> Path:
    """Save a screenshot as a test artifact: of the whole page, or of one element (a locator)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    if hasattr(target, "goto"):  # a page
        target.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    else:
        target.screenshot(path=str(path))  # type: ignore[attr-defined]
    return path
