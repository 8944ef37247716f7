"""``invoice-inbox user ...`` and ``token ...``: users and API tokens from the command line, and
every user mistake as one sentence on stderr with exit status 1."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from invoice_inbox.cli import app as cli
from invoice_inbox.runtime.context import App
from invoice_inbox.store import sources, users
from invoice_inbox.store.models import WebSession

PASSWORD = "correct horse battery"
ENV = {"PW": PASSWORD}


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


@dataclass
class CLI:
    data_dir: Path

    def run(
        self, *args: str, input: str | None = None, env: dict[str, str] | None = None
    ) -> Result:
        r = CliRunner().invoke(cli, ["--data-dir", str(self.data_dir), *args], input=input, env=env)
        if r.exception is not None and not isinstance(r.exception, SystemExit):
            raise r.exception
        return Result(r.exit_code, r.stdout, r.stderr)

    def ok(self, *args: str, **kw: Any) -> Result:
        r = self.run(*args, **kw)
        assert r.code == 0, f"exit {r.code}: {r.stdout}{r.stderr}"
        return r

    def fails(self, *args: str, **kw: Any) -> str:
        """The one sentence of a refused command."""
        r = self.run(*args, **kw)
        assert r.code == 1, f"exit {r.code}: {r.stdout}{r.stderr}"
        assert "Traceback" not in r.stderr and r.stderr.startswith("error: ")
        assert len(r.stderr.strip().splitlines()) == 1
        return r.stderr.strip()

    def users(self) -> dict[str, dict[str, Any]]:
        return {u["email"]: u for u in json.loads(self.ok("user", "list", "--json").stdout)}

    def app(self) -> App:
        return App.open(self.data_dir)


@pytest.fixture
def ap(tmp_path: Path) -> CLI:
    c = CLI(tmp_path / "data")
    c.ok("company", "add", "ACME")
    c.ok("company", "add", "Beta")
    return c


def test_add_list_set_and_remove_users(ap: CLI) -> None:
    r = ap.ok("user", "add", "Boss@HQ.example", "--admin", "--password-env", "PW", env=ENV)
    assert "boss@hq.example" in r.stdout and "administrator" in r.stdout
    ap.ok(
        *("user", "add", "clerk@acme.example", "--role", "clerk", "--company", "ACME"),
        *("--company", "Beta", "--password-stdin"),
        input=PASSWORD + "\n",
    )
    ap.ok(
        *("user", "add", "viewer@acme.example", "--role", "viewer", "--company", "ACME"),
        *("--password-env", "PW"),
        env=ENV,
    )
    found = ap.users()
    assert found["boss@hq.example"]["role"] == "admin"
    assert found["clerk@acme.example"]["companies"] == ["ACME", "Beta"]
    assert found["viewer@acme.example"] | {"created_at": None} == {
        "email": "viewer@acme.example",
        "role": "viewer",
        "active": True,
        "companies": ["ACME"],
        "tokens": 0,
        "created_at": None,
        "last_login_at": None,
        "locale": None,
    }
    table = ap.ok("user", "list").stdout
    assert "clerk@acme.example" in table and "ACME, Beta" in table
    a = ap.app()
    try:
        with a.db.session() as s:
            assert users.authenticate(s, "clerk@acme.example", PASSWORD) is not None
    finally:
        a.close()

    ap.ok("user", "set", "viewer@acme.example", "--role", "clerk", "--company", "Beta")
    ap.ok("user", "set", "clerk@acme.example", "--no-active")
    found = ap.users()
    assert (found["viewer@acme.example"]["role"], found["viewer@acme.example"]["companies"]) == (
        "clerk",
        ["Beta"],
    )
    assert found["clerk@acme.example"]["active"] is False
    ap.ok(
        "user",
        "set",
        "clerk@acme.example",
        "--active",
        "--password-env",
        "NEW",
        env={"NEW": "another good password"},
    )
    a = ap.app()
    try:
        with a.db.session() as s:
            assert users.authenticate(s, "clerk@acme.example", "another good password")
            assert users.authenticate(s, "clerk@acme.example", PASSWORD) is None
    finally:
        a.close()

    ap.ok("user", "remove", "viewer@acme.example")
    assert set(ap.users()) == {"boss@hq.example", "clerk@acme.example"}


def test_a_new_password_or_switching_off_signs_the_user_out(ap: CLI) -> None:
    ap.ok("user", "add", "boss@hq.example", "--admin", "--password-env", "PW", env=ENV)
    ap.ok(
        "user",
        "add",
        "x@acme.example",
        "--role",
        "clerk",
        "--company",
        "ACME",
        "--password-env",
        "PW",
        env=ENV,
    )
    a = ap.app()
    try:
        with a.db.session() as s:
            user = users.by_email(s, "x@acme.example")
            assert user is not None
            users.open_session(s, user)
        ap.ok("user", "set", "x@acme.example", "--no-active")
        with a.db.session() as s:
            assert s.query(WebSession).count() == 0
    finally:
        a.close()


def test_tokens_are_printed_once_listed_by_prefix_and_revoked(ap: CLI) -> None:
    ap.ok("user", "add", "boss@hq.example", "--admin", "--password-env", "PW", env=ENV)
    r = ap.ok("token", "create", "boss@hq.example", "--name", "ERP import")
    token = r.stdout.strip()
    assert r.stdout == token + "\n"  # only the token: $(invoice-inbox token create ...) works
    assert token.startswith(users.TOKEN_PREFIX) and "not shown again" in r.stderr
    [row] = json.loads(ap.ok("token", "list", "boss@hq.example", "--json").stdout)
    assert row["name"] == "ERP import" and token.startswith(row["prefix"])
    listing = ap.ok("token", "list", "boss@hq.example").stdout + json.dumps(row)
    assert token not in listing
    assert ap.users()["boss@hq.example"]["tokens"] == 1
    a = ap.app()
    try:
        with a.db.session() as s:
            user = users.user_for_token(s, token)
            assert user is not None and user.email == "boss@hq.example"
        ap.ok("token", "revoke", str(row["id"]))
        with a.db.session() as s:
            assert users.user_for_token(s, token) is None
    finally:
        a.close()
    assert json.loads(ap.ok("token", "list", "boss@hq.example", "--json").stdout) == []


def test_removing_a_user_takes_their_tokens_and_restricted_sources_stay(ap: CLI) -> None:
    ap.ok("user", "add", "boss@hq.example", "--admin", "--password-env", "PW", env=ENV)
    ap.ok(
        "user",
        "add",
        "x@acme.example",
        "--role",
        "clerk",
        "--company",
        "ACME",
        "--password-env",
        "PW",
        env=ENV,
    )
    token = ap.ok("token", "create", "x@acme.example").stdout.strip()
    a = ap.app()
    try:
        with a.db.session() as s:
            user = users.by_email(s, "x@acme.example")
            assert user is not None
            sources.add(
                s,
                name="ap",
                company_name="ACME",
                host="127.0.0.1",
                port=1,
                username="ap",
                restricted_to_user_id=user.id,
            )
        ap.ok("user", "remove", "x@acme.example")
        with a.db.session() as s:
            assert users.user_for_token(s, token) is None
            assert sources.get(s, "ap").restricted_to_user_id is None
    finally:
        a.close()


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (
            ("user", "add", "a@x.example", "--password-env", "PW"),
            "exactly one of --admin or --role",
        ),
        (
            ("user", "add", "a@x.example", "--admin", "--role", "clerk", "--company", "ACME"),
            "exactly one of --admin or --role",
        ),
        (
            ("user", "add", "a@x.example", "--role", "clerk", "--password-env", "PW"),
            "a clerk needs at least one --company",
        ),
        (
            (
                "user",
                "add",
                "a@x.example",
                "--role",
                "clerk",
                "--company",
                "Nope",
                "--password-env",
                "PW",
            ),
            'there is no company "Nope"',
        ),
        (
            ("user", "add", "a@x.example", "--admin", "--password-env", "SHORT"),
            "at least 10 characters",
        ),
        (("user", "add", "not-an-address", "--admin", "--password-env", "PW"), "not an e-mail"),
        (("user", "add", "a@x.example", "--admin"), "--password-env VAR or --password-stdin"),
        (("user", "add", "a@x.example", "--admin", "--password-env", "UNSET"), "UNSET is not set"),
        (("user", "add", "boss@hq.example", "--admin", "--password-env", "PW"), "already a user"),
        (("user", "remove", "nobody@x.example"), "there is no user nobody@x.example"),
        (("user", "set", "nobody@x.example", "--no-active"), "there is no user"),
        (("user", "set", "boss@hq.example"), "nothing to change"),
        (("user", "set", "boss@hq.example", "--no-active"), "last active administrator"),
        (("user", "set", "boss@hq.example", "--role", "viewer"), "last active administrator"),
        (("user", "remove", "boss@hq.example"), "last active administrator"),
        (("token", "create", "nobody@x.example"), "there is no user"),
        (("token", "list", "nobody@x.example"), "there is no user"),
        (("token", "revoke", "999"), "there is no API token 999"),
    ],
)
def test_user_mistakes_are_one_sentence(ap: CLI, args: tuple[str, ...], sentence: str) -> None:
    ap.ok("user", "add", "boss@hq.example", "--admin", "--password-env", "PW", env=ENV)
    before = ap.users()
    assert sentence in ap.fails(*args, env={"PW": PASSWORD, "SHORT": "short"})
    assert ap.users() == before  # nothing changed


def test_a_clerk_without_companies_is_refused_when_demoting_an_admin(ap: CLI) -> None:
    ap.ok("user", "add", "boss@hq.example", "--admin", "--password-env", "PW", env=ENV)
    ap.ok("user", "add", "two@hq.example", "--admin", "--password-env", "PW", env=ENV)
    assert "a viewer needs at least one --company" in ap.fails(
        "user", "set", "two@hq.example", "--role", "viewer"
    )
    ap.ok("user", "set", "two@hq.example", "--role", "viewer", "--company", "Beta")
    assert ap.users()["two@hq.example"]["companies"] == ["Beta"]
