"""Scaled out, every process has a data directory of its own but must hold the deployment's one
secret key: a process that would make a key of its own refuses to start, in one sentence, instead
of storing secrets nobody else can read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import delete
from typer.testing import CliRunner

from invoice_inbox.auth.secrets import SecretError
from invoice_inbox.cli import app as cli
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.key_check import KEY_CHECK
from invoice_inbox.store.models_state import Setting


@pytest.fixture
def shared_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """One database for every data directory of the test, as a scaled-out deployment has;
    on a PostgreSQL run the suite has set the variable already."""
    url = os.environ.get("INVOICE_INBOX_DATABASE_URL") or f"sqlite:///{tmp_path / 'shared.db'}"
    monkeypatch.setenv("INVOICE_INBOX_DATABASE_URL", url)
    return url


def _add_source(data: Path, env: dict[str, str]) -> CliRunner:
    r = CliRunner().invoke(
        cli,
        [
            *("--data-dir", str(data), "source", "add", "ap"),
            *("--company", "ACME", "--host", "127.0.0.1", "--port", "1", "--security", "none"),
            *("--username", "ap", "--password-env", "PW"),
        ],
        env={"PW": "mailbox password", **env},
    )
    assert r.exit_code == 0, r.stdout + r.stderr


def test_a_worker_with_another_key_refuses_to_start(tmp_path: Path, shared_db: str) -> None:
    key = Fernet.generate_key().decode()
    _add_source(tmp_path / "web", {"INVOICE_INBOX_SECRET_KEY": key})

    with pytest.raises(SecretError, match="same key"):
        App.open(tmp_path / "worker")  # no key given: it would make one of its own

    r = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "worker"), "source", "list"])
    assert r.exit_code != 0
    assert "same key" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1

    (tmp_path / "worker3").mkdir()
    r = CliRunner().invoke(
        cli,
        ["--data-dir", str(tmp_path / "worker3"), "source", "list"],
        env={"INVOICE_INBOX_SECRET_KEY": key},
    )
    assert r.exit_code == 0, r.stderr
    assert "ap" in r.stdout


def test_a_database_from_before_the_check_is_checked_against_its_secrets(
    tmp_path: Path, shared_db: str
) -> None:
    key = Fernet.generate_key().decode()
    _add_source(tmp_path / "web", {"INVOICE_INBOX_SECRET_KEY": key})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INVOICE_INBOX_SECRET_KEY", key)
        app = App.open(tmp_path / "web")
    with app.db.session() as s:  # as an older release left it: secrets, but no check value
        s.execute(delete(Setting).where(Setting.key == KEY_CHECK))
    app.close()

    with pytest.raises(SecretError, match="same key"):
        App.open(tmp_path / "new-worker")  # a fresh key cannot read the stored password

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INVOICE_INBOX_SECRET_KEY", key)
        App.open(tmp_path / "right-key").close()  # the right one opens it and writes the check
    with pytest.raises(SecretError, match="same key"):
        App.open(tmp_path / "another-worker")
