"""Data at rest: the database files and the data directory are the owner's alone (they hold
password hashes and mail metadata), and the secret key can live outside the data directory, so
that a backup of the directory cannot decrypt the stored mailbox passwords."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from harness import app_db
from invoice_inbox.auth.secrets import SecretBox
from invoice_inbox.cli import app as cli
from invoice_inbox.runtime.context import App
from invoice_inbox.store import sources


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _add_source(data: Path, *global_args: str, env: dict[str, str] | None = None) -> None:
    r = CliRunner().invoke(
        cli,
        [
            *("--data-dir", str(data), *global_args, "source", "add", "ap"),
            *("--company", "ACME", "--host", "127.0.0.1", "--port", "1", "--security", "none"),
            *("--username", "ap", "--password-env", "PW"),
        ],
        env={"PW": "mailbox password", **(env or {})},
    )
    assert r.exit_code == 0, r.stdout + r.stderr


def _stored_secret(data: Path) -> str:
    secret = app_db.scalar(data, "SELECT secret FROM source")
    assert secret and "mailbox password" not in secret
    return str(secret)


@pytest.mark.sqlite_only
def test_database_files_and_data_dir_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask: files 0644, directories 0755
    try:
        a = App.open(tmp_path / "data")
        with a.db.session() as s:
            sources.company(s, "ACME", create=True)
        files = sorted(a.data_dir.glob("invoice-inbox.db*"))
        assert {f.name for f in files} >= {"invoice-inbox.db", "invoice-inbox.db-wal"}
        for f in files:
            assert _mode(f) == 0o600, f"{f.name} is {oct(_mode(f))}"
        assert _mode(a.data_dir) == 0o700
        assert _mode(a.data_dir / "secret.key") == 0o600
        a.close()
    finally:
        os.umask(old)


@pytest.mark.sqlite_only
def test_an_old_database_is_made_private_on_open(tmp_path: Path) -> None:
    App.open(tmp_path / "data").close()
    db = tmp_path / "data" / "invoice-inbox.db"
    db.chmod(0o644)
    App.open(tmp_path / "data").close()
    assert _mode(db) == 0o600


def test_the_secret_key_can_live_in_a_file_outside_the_data_dir(tmp_path: Path) -> None:
    data, keys = tmp_path / "data", tmp_path / "keys"
    keys.mkdir()
    key_file = keys / "invoice-inbox.key"
    _add_source(data, "--secret-key-file", str(key_file))  # made on first use ...
    assert _mode(key_file) == 0o600
    assert not (data / "secret.key").exists()  # ... and nothing of it in the data directory
    box = SecretBox(key_file.read_bytes().strip())
    assert box.decrypt(_stored_secret(data)) == "mailbox password"

    # the environment names the file too; a second command uses the same key
    env = {"INVOICE_INBOX_SECRET_KEY_FILE": str(key_file)}
    r = CliRunner().invoke(cli, ["--data-dir", str(data), "source", "list"], env=env)
    assert r.exit_code == 0, r.stderr
    assert not (data / "secret.key").exists()


def test_the_secret_key_can_come_from_the_environment(tmp_path: Path) -> None:
    data, key = tmp_path / "data", Fernet.generate_key().decode()
    _add_source(data, env={"INVOICE_INBOX_SECRET_KEY": key})
    assert not (data / "secret.key").exists()
    assert SecretBox(key.encode()).decrypt(_stored_secret(data)) == "mailbox password"


def test_a_broken_key_is_one_sentence(tmp_path: Path) -> None:
    data = tmp_path / "data"
    App.open(data).close()  # read commands open only an existing data directory
    r = CliRunner().invoke(
        cli, ["--data-dir", str(data), "source", "list"], env={"INVOICE_INBOX_SECRET_KEY": "nope"}
    )
    assert r.exit_code == 1
    assert "INVOICE_INBOX_SECRET_KEY" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "bad.key"
    bad.write_text("not a key\n")
    r = CliRunner().invoke(
        cli, ["--data-dir", str(data), "--secret-key-file", str(bad), "source", "list"]
    )
    assert r.exit_code == 1 and str(bad) in r.stderr
