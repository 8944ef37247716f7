"""``--data-dir``: read commands refuse a directory that holds no invoice-inbox data (a typo must
not answer "No sources yet"), a file is refused in one sentence, and only the commands that add
the first thing (``serve``, ``source add``, ``company add``, ``user add``) create a data
directory, saying so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from invoice_inbox.runtime.context import App


def _cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The CLI as a user runs it: its own process, no INVOICE_INBOX_HOME unless given."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("INVOICE_INBOX_")}
    return subprocess.run(
        [sys.executable, "-m", "invoice_inbox", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**environ, "PW": "a mailbox password", **(env or {})},
        timeout=120,
    )


def _one_sentence(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0]


@pytest.fixture
def existing(tmp_path: Path) -> Path:
    data = tmp_path / "invoice-inbox-data"
    App.open(data).close()
    return data


@pytest.mark.parametrize(
    "command",
    [("source", "list"), ("runs",), ("documents", "list"), ("company", "list")],
)
def test_a_mistyped_data_dir_is_refused_not_created(
    tmp_path: Path, existing: Path, command: tuple[str, ...]
) -> None:
    typo = tmp_path / "invoice-inbx-data"
    line = _one_sentence(_cli("--data-dir", str(typo), *command, cwd=tmp_path))
    assert f"no invoice-inbox data in {typo}" in line
    assert "pass --data-dir or set INVOICE_INBOX_HOME" in line
    assert not typo.exists()
    # the same through the environment, and for the default ./invoice-inbox-data elsewhere
    line = _one_sentence(_cli(*command, cwd=tmp_path, env={"INVOICE_INBOX_HOME": str(typo)}))
    assert f"no invoice-inbox data in {typo}" in line
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _one_sentence(_cli(*command, cwd=elsewhere))
    assert list(elsewhere.iterdir()) == []
    # an empty directory holds no data either, and is left as it was
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no invoice-inbox data in" in _one_sentence(
        _cli("--data-dir", str(empty), *command, cwd=tmp_path)
    )
    assert list(empty.iterdir()) == []
    # the right one answers
    r = _cli("--data-dir", str(existing), *command, cwd=tmp_path)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("command", [("source", "list"), ("company", "add", "ACME")])
def test_a_file_as_data_dir_is_one_sentence(tmp_path: Path, command: tuple[str, ...]) -> None:
    line = _one_sentence(_cli("--data-dir", "/etc/hostname", *command, cwd=tmp_path))
    assert "/etc/hostname is a file, not a data directory" in line


def test_source_add_creates_a_new_data_directory_and_says_so(tmp_path: Path) -> None:
    data = tmp_path / "new-data"
    r = _cli(
        *("--data-dir", str(data), "source", "add", "ap", "--company", "ACME"),
        *("--host", "127.0.0.1", "--port", "1", "--security", "none"),
        *("--username", "ap", "--password-env", "PW"),
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert f"created a new data directory at {data}" in r.stderr
    assert (data / "invoice-inbox.db").is_file()
    r = _cli("--data-dir", str(data), "source", "list", cwd=tmp_path)
    assert r.returncode == 0 and "ap" in r.stdout and "created" not in r.stderr


def test_user_add_and_company_add_create_one_too(tmp_path: Path) -> None:
    r = _cli(
        *("--data-dir", str(tmp_path / "a"), "user", "add", "boss@acme.example", "--admin"),
        *("--password-env", "PW"),
        cwd=tmp_path,
    )
    assert r.returncode == 0 and "created a new data directory at" in r.stderr, r.stderr
    r = _cli("--data-dir", str(tmp_path / "b"), "company", "add", "ACME", cwd=tmp_path)
    assert r.returncode == 0 and "created a new data directory at" in r.stderr, r.stderr
