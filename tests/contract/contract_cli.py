"""The invoice-inbox CLI on one data directory, reading one test user's mail on whichever
server the contract test runs against (the same calls a user types)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from builders import Attachment, make_mail, make_pdf
from harness.dovecot import Mailbox
from invoice_inbox.cli import app

SUPPLIER = "billing@supplier.example"
OBSERVER = Path(__file__).parents[1] / "sync" / "fetch_with_observer.py"


def invoice(i: int) -> tuple[str, bytes, bytes]:
    """(file name, PDF, mail) of invoice ``i`` from the supplier."""
    name, pdf = f"INV-{i}.pdf", make_pdf(f"invoice {i}")
    mail = make_mail(from_=SUPPLIER, subject=f"Invoice {i}", attachments=[Attachment(name, pdf)])
    return name, pdf, mail


def other(i: int) -> bytes:
    return make_mail(
        from_="someone@elsewhere.example",
        subject=f"Other {i}",
        attachments=[Attachment(f"X-{i}.pdf", make_pdf(f"other {i}"))],
    )


@dataclass
class Cli:
    data_dir: Path
    mailbox: Mailbox

    def run(self, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        """Run the CLI in this process; handlers a command adds to the root logger go with
        the runner's stream (as in tests/sync)."""
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        try:
            r = CliRunner().invoke(app, ["--data-dir", str(self.data_dir), *args], env=env)
        finally:
            for h in [h for h in root.handlers if h not in handlers]:
                root.removeHandler(h)
            root.setLevel(level)
        if r.exception is not None and not isinstance(r.exception, SystemExit):
            raise r.exception
        return r.exit_code, r.stdout, r.stderr

    def ok(self, *args: str, env: dict[str, str] | None = None) -> str:
        code, out, err = self.run(*args, env=env)
        assert code == 0, f"exit {code}: {out}{err}"
        return out

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))

    def add_source(self, *extra: str, protocol: str = "imap", security: str = "none") -> None:
        """``source add ap`` for this user; TLS trusts the server's own certificate."""
        srv = self.mailbox.server
        if protocol == "pop3":
            port = srv.pop3_port
            extra = ("--provider", "pop3", *extra)
        else:
            port = srv.imaps_port if security == "ssl" else srv.imap_port
        args = [
            *("source", "add", "ap", "--company", "ACME", "--host", "127.0.0.1"),
            *("--port", str(port), "--security", security, "--username", self.mailbox.user),
            *("--password-env", "MB_PASSWORD", *extra),
        ]
        if security != "none":
            args += ["--ca-file", str(srv.ca_file)]
        self.ok(*args, env={"MB_PASSWORD": self.mailbox.password})

    def fetch(self) -> dict[str, Any]:
        return self.json("fetch", "ap")

    def documents(self) -> list[dict[str, Any]]:
        return self.json("documents", "list")

    def messages(self) -> list[dict[str, Any]]:
        return self.json("messages")

    def fetch_killed_at(self, step: str, nth: int, batch: int) -> int:
        """A fetch in its own process, SIGKILLed the ``nth`` time it reaches ``step`` (batches
        of ``batch`` mails); returns its exit status."""
        done = subprocess.run(
            [sys.executable, str(OBSERVER), str(self.data_dir), "ap", "kill", step, str(nth),
             str(batch)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )  # fmt: skip
        return done.returncode
