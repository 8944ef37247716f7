"""The suite runs in parallel (``make test`` passes ``-n auto`` to pytest-xdist): each worker is
a test session of its own, with its own Dovecot on free ports in a folder that Dovecot's
unprivileged processes can reach, also while other pytest sessions start."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import xdist  # noqa: F401  (a dev dependency: without it ``make test`` cannot run in parallel)

from builders import make_mail
from harness.dovecot import Mailbox

TESTS = Path(__file__).resolve().parent


def test_every_worker_starts_its_own_dovecot(tmp_path_factory: pytest.TempPathFactory) -> None:
    # a short folder under this session's own: Dovecot's socket paths must stay under 108 bytes
    basetemp = tmp_path_factory.mktemp("xd")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    run = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"),
            *("-n", "2", "--dist", "each", "--basetemp", str(basetemp)),
            "tests/test_harness.py::test_ports_are_distinct_and_loopback",
        ],
        cwd=TESTS.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "2 passed" in run.stdout  # the one test, once on each worker


def test_a_pytest_session_started_meanwhile_leaves_dovecot_reachable(
    mailbox: Mailbox, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Every pytest session sets ``pytest-of-<user>`` back to 0700 when it starts; a Dovecot of
    a session already running (another worker's, another developer's) must not be locked out."""
    basetemp = tmp_path_factory.getbasetemp()
    root = next((d for d in basetemp.parents if d.name.startswith("pytest-of-")), None)
    if root is None:
        pytest.skip(f"--basetemp {basetemp} is outside pytest-of-<user>")
    mode = stat.S_IMODE(root.stat().st_mode)
    root.chmod(mode & ~0o077)  # what a pytest session starting now does
    try:
        mailbox.append("INBOX", make_mail())
        assert mailbox.count() == 1
    finally:
        root.chmod(mode)
