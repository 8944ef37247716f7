"""Fixtures for end-to-end tests: a data directory and the CLI, pointed at a Dovecot mailbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harness.dovecot import Mailbox
from invoice_inbox.cli import app


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class AP:
    """The invoice-inbox CLI on its own data directory, and the mailbox it reads."""

    data_dir: Path
    mailbox: Mailbox

    def run(
        self, *args: str, input: str | None = None, env: dict[str, str] | None = None
    ) -> Result:
        """Run the CLI in this process (fast)."""
        r = CliRunner().invoke(app, ["--data-dir", str(self.data_dir), *args], input=input, env=env)
        if r.exception is not None and not isinstance(r.exception, SystemExit):
            raise r.exception
        return Result(r.exit_code, r.stdout, r.stderr)

    def ok(self, *args: str, **kw: Any) -> Result:
        r = self.run(*args, **kw)
        assert r.code == 0, f"exit {r.code}: {r.stdout}{r.stderr}"
        return r

    def spawn(self, *args: str, **kw: Any) -> subprocess.Popen[str]:
        """Run the CLI as a separate process, as a user would."""
        return subprocess.Popen(
            [sys.executable, "-m", "invoice_inbox", "--data-dir", str(self.data_dir), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, MB_PASSWORD=self.mailbox.password),
            **kw,
        )

    def add_source(
        self, *extra: str, name: str = "ap", port: int | None = None, security: str = "none"
    ) -> None:
        srv = self.mailbox.server
        port = port or (srv.imaps_port if security == "ssl" else srv.imap_port)
        args: Sequence[str] = [
            "source",
            "add",
            name,
            "--company",
            "ACME",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--security",
            security,
            "--username",
            self.mailbox.user,
            "--password-env",
            "MB_PASSWORD",
            *extra,
        ]
        if security != "none" and "--ca-file" not in extra:
            args = [*args, "--ca-file", str(srv.ca_file)]
        self.ok(*args, env={"MB_PASSWORD": self.mailbox.password})

    def documents(self) -> list[dict[str, Any]]:
        return self.ok("documents", "list", "--json").json()

    def messages(self) -> list[dict[str, Any]]:
        return self.ok("messages", "--json").json()


@pytest.fixture
def ap(tmp_path: Path, mailbox: Mailbox) -> AP:
    return AP(tmp_path / "data", mailbox)
