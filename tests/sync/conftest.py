"""Fixtures for end-to-end tests: a data directory and the CLI, pointed at a Dovecot mailbox."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fakes.oauth import FakeIdentityProvider
from harness.dovecot import Mailbox
from invoice_inbox.auth.oauth import Token
from invoice_inbox.cli import app
from invoice_inbox.runtime import runner
from invoice_inbox.runtime.context import App
from invoice_inbox.store import sources


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
        """Run the CLI in this process (fast). A command that sets up logging (``serve``) logs
        to the runner's stderr, which closes with the run: its handlers go with it, or a later
        test's log line would be an "I/O operation on closed file" traceback in that test's
        stderr."""
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        try:
            r = CliRunner().invoke(
                app, ["--data-dir", str(self.data_dir), *args], input=input, env=env
            )
        finally:
            for h in [h for h in root.handlers if h not in handlers]:
                root.removeHandler(h)
            root.setLevel(level)
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
            env=dict(os.environ, MB_PASSWORD=getattr(self.mailbox, "password", "")),
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


# ---------------------------------------------------------------- one suite, every connector

CONNECTOR_KINDS = ("imap", "graph", "gmail-api")
CLIENT_SECRET = "cs-0123456789-not-for-logs"


@dataclass
class CloudAP(AP):
    """The CLI on a Microsoft Graph (app-only) or Gmail API (delegated) mailbox on the local
    stand-ins; ``add_source`` configures the source as a user would."""

    kind: str = "graph"
    idp: FakeIdentityProvider | None = None
    address: str = ""
    tag: str = ""

    def add_source(self, *extra: str, name: str = "ap", **_: Any) -> None:
        assert self.idp is not None
        env = {"CLIENT_SECRET": CLIENT_SECRET}
        if self.kind == "graph":
            tenant, client = f"tenant-{self.tag}", f"app-{self.tag}"
            self.idp.register_client(client, secret=CLIENT_SECRET, tenant=tenant)
            self.idp.grant_consent(tenant, client)
            self.idp.app_mailbox(client, self.address)
            self.ok(
                *("source", "add", name, "--company", "ACME", "--provider", "microsoft365"),
                *("--auth", "app", "--tenant-id", tenant, "--client-id", client),
                *("--client-secret-env", "CLIENT_SECRET", "--username", self.address),
                *extra,
                env=env,
            )
            return
        client = f"gclient-{self.tag}"
        self.idp.register_client(client, secret=CLIENT_SECRET)
        self.idp.add_user(self.address)
        self.ok(
            *("source", "add", name, "--company", "ACME", "--provider", "gmail"),
            *("--auth", "oauth", "--client-id", client),
            *("--client-secret-env", "CLIENT_SECRET", "--username", self.address),
            *extra,
            env=env,
        )
        sign_in(self.data_dir, name, self.idp, self.address, client, provider="google")


def sign_in(
    data_dir: Path,
    source: str,
    idp: FakeIdentityProvider,
    user: str,
    client: str,
    *,
    provider: str = "microsoft",
    tenant: str = "common",
) -> None:
    """Store tokens for *user* as if they had run ``source authenticate`` (that command's own
    browser round trip is tested in tests/oauth)."""
    app = App.open(data_dir)
    try:
        with app.db.session() as s:
            src = sources.get(s, source)
            source_id, scopes = src.id, runner.scopes_for(src)
        answer = idp.mint_user_token(user, client, scopes, tenant=tenant, provider=provider)
        token = Token(
            access_token=answer["access_token"],
            expires_at=time.time() + int(answer["expires_in"]),
            refresh_token=answer.get("refresh_token"),
            scope=answer.get("scope", ""),
        )
        runner.store_token(app, source_id, token)
    finally:
        app.close()


@pytest.fixture(params=CONNECTOR_KINDS)
def any_ap(request: pytest.FixtureRequest, tmp_path: Path) -> AP:
    """The same CLI on an IMAP (Dovecot), Microsoft Graph or Gmail API mailbox."""
    if request.param == "imap":
        return AP(tmp_path / "data", request.getfixturevalue("mailbox"))
    idp = request.getfixturevalue("cloud")
    tag = uuid.uuid4().hex[:10]
    if request.param == "graph":
        address = f"ap-{tag}@contoso.example"
        box = request.getfixturevalue("graph").mailbox(address)
    else:
        address = f"ap-{tag}@gmail.example"
        box = request.getfixturevalue("gmail").mailbox(address)
    return CloudAP(tmp_path / "data", box, kind=request.param, idp=idp, address=address, tag=tag)
