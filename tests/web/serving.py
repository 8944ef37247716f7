"""``invoice-inbox serve`` in a process of its own, for tests that need the real server: its
memory (RSS from ``/proc``), its console (the first-run setup address), its command-line options
(``--behind-proxy``, ``--allowed-host``, ``--secret-key-file``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from harness.dovecot import free_ports

_SETUP_URL = re.compile(r"(http://\S+/setup\?token=[\w-]+)")


@dataclass
class Serving:
    url: str
    data_dir: Path
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)  # what serve printed, so far

    def rss_kb(self) -> int:
        """The server process's resident memory now, in KiB (``VmRSS`` in ``/proc``)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS for the server process")

    def setup_url(self, timeout: float = 30.0) -> str:
        """The first-run address with its one-time token, as serve printed it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                m = _SETUP_URL.search(line)
                if m:
                    return m.group(1)
            time.sleep(0.05)
        raise AssertionError(f"serve printed no setup address: {self.lines}")


@contextmanager
def serving(
    data_dir: Path,
    *serve_args: str,
    global_args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> Iterator[Serving]:
    """Start ``invoice-inbox [global_args] serve --host 127.0.0.1 --port P [serve_args]``, wait
    for ``/healthz``, and stop it (SIGTERM) when the block ends."""
    (port,) = free_ports(1)
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "invoice_inbox", "--data-dir", str(data_dir), *global_args),
            *("serve", "--host", "127.0.0.1", "--port", str(port), *serve_args),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    served = Serving(f"http://127.0.0.1:{port}", data_dir, proc)

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            served.lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                if httpx.get(f"{served.url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"serve did not come up: {''.join(served.lines)}")
            time.sleep(0.1)
        yield served
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)
