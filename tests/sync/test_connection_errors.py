"""Connecting: TLS with verification (ssl and STARTTLS), and every user mistake as one plain
sentence with a non-zero exit, never a traceback."""

from __future__ import annotations

import socket

import pytest

from builders import Attachment, make_mail, make_pdf
from conftest import AP
from harness import app_db
from harness.dovecot import Mailbox


def expect_error(ap: AP, *args: str) -> str:
    r = ap.run(*args)
    assert r.code == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_tls_with_a_private_ca_connects_and_lists_folders(ap: AP, security: str) -> None:
    srv = ap.mailbox.server
    port = srv.imaps_port if security == "ssl" else srv.imap_port
    ap.add_source(port=port, security=security)
    out = ap.ok("source", "check", "ap", "--json").json()
    assert out["ok"] is True and "INBOX" in out["folders"] and "Junk" in out["folders"]


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_untrusted_certificate_is_refused(ap: AP, security: str) -> None:
    srv = ap.mailbox.server
    port = srv.imaps_port if security == "ssl" else srv.imap_port
    ap.add_source("--ca-file", "/etc/ssl/certs/ca-certificates.crt", port=port, security=security)
    line = expect_error(ap, "source", "check", "ap")
    assert line.startswith(f"error: TLS certificate not trusted for 127.0.0.1:{port}")
    line = expect_error(ap, "fetch", "ap")
    assert "TLS certificate not trusted" in line
    runs = ap.ok("runs", "--json").json()
    assert runs[0]["status"] == "failed" and "TLS certificate not trusted" in runs[0]["error"]


def test_wrong_password(ap: AP) -> None:
    ap.mailbox.password = "wrong"
    ap.add_source()
    line = expect_error(ap, "source", "check", "ap")
    assert line.startswith("error: login refused by server: [AUTHENTICATIONFAILED]")


def test_missing_folder_names_the_existing_ones(ap: AP) -> None:
    ap.add_source("--folder", "Invoices")
    line = expect_error(ap, "source", "check", "ap")
    assert line.startswith('error: folder "Invoices" does not exist; folders are: ')
    assert "INBOX" in line
    assert 'folder "Invoices" does not exist' in expect_error(ap, "fetch", "ap")


def test_unreachable_server(ap: AP) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    ap.add_source(port=port)
    assert expect_error(ap, "source", "check", "ap").startswith(
        f"error: cannot connect to 127.0.0.1:{port}: "
    )


def test_unknown_host(ap: AP) -> None:
    ap.ok(
        "source",
        "add",
        "x",
        "--company",
        "C",
        "--host",
        "no-such-host.invalid",
        "--username",
        "u",
        "--password-env",
        "P",
        env={"P": "p"},
    )
    assert expect_error(ap, "source", "check", "x").startswith(
        "error: cannot connect to no-such-host.invalid:993: unknown host"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fetch", "nope"], 'error: no source named "nope"; sources are: c-import'),
        (
            ["source", "add", "s", "--company", "C", "--host", "h", "--username", "u"],
            "error: give the password with exactly one of --password-env VAR or --password-stdin",
        ),
        (
            [
                "source",
                "add",
                "s",
                "--company",
                "C",
                "--host",
                "h",
                "--username",
                "u",
                "--password-env",
                "NOT_SET_ANYWHERE",
            ],
            "error: the environment variable NOT_SET_ANYWHERE is not set or empty",
        ),
        (
            [
                "source",
                "add",
                "s",
                "--company",
                "C",
                "--host",
                "h",
                "--username",
                "u",
                "--password-stdin",
                "--since",
                "yesterday",
            ],
            "error: --since must be a date like 2026-01-31, not 'yesterday'",
        ),
        (
            [
                "source",
                "add",
                "s",
                "--company",
                "C",
                "--host",
                "h",
                "--username",
                "u",
                "--password-stdin",
                "--allow-sender",
                "supplier.example",
            ],
            "error: allowed sender 'supplier.example' is not an address or a *@domain pattern",
        ),
        (
            ["inspect", "/no/such/file.eml"],
            "error: cannot read /no/such/file.eml: No such file or directory",
        ),
        (["fetch"], "error: name one source, or use --all"),
    ],
)
def test_user_mistakes_print_one_sentence(ap: AP, args: list[str], message: str) -> None:
    assert ap.run("company", "add", "C").code == 0  # a data directory that holds data
    r = ap.run(*args, input="secret\n")
    assert r.code == 1
    assert r.stderr.strip() == message


def test_duplicate_source_name_and_password_never_shown(ap: AP) -> None:
    ap.add_source()
    r = ap.run(
        "source",
        "add",
        "ap",
        "--company",
        "C",
        "--host",
        "h",
        "--username",
        "u",
        "--password-stdin",
        input="pw\n",
    )
    assert r.stderr.strip() == 'error: a source named "ap" exists already'
    shown = ap.ok("source", "show", "ap", "--json").stdout
    assert ap.mailbox.password not in shown
    db = app_db.stored_bytes(ap.data_dir)
    assert ap.mailbox.password.encode() not in db, "secrets are encrypted at rest"


def test_shared_mailbox_login_with_backslash_is_sent_unchanged(ap: AP) -> None:
    srv = ap.mailbox.server
    login = next(u for u in srv.users if "\\" in u)
    srv.append(login, "INBOX", make_mail(attachments=[Attachment("shared.pdf", make_pdf("s"))]))
    ap.mailbox = Mailbox(user=login, password=srv.users[login], server=srv)
    ap.add_source()
    assert ap.ok("source", "show", "ap", "--json").json()["username"] == login
    assert "INBOX" in ap.ok("source", "check", "ap", "--json").json()["folders"]
    assert ap.ok("fetch", "ap", "--json").json()["imported"] == 1
