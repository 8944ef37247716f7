"""``source set`` changes every setting ``source add`` takes (server, port, security, CA file,
user name, folders, move targets, filters, schedule) and keeps the ledger: against a real
Dovecot, mail imported before a change is not imported again, and a new folder starts its own
cursor. A change of server or user name clears the stored password unless the same command
gives one, and says so in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builders import Attachment, make_mail, make_pdf
from sync.conftest import AP

CLEARED = (
    "warning: the stored password was cleared because the server changed;"
    " give it with --password-env VAR or --password-stdin"
)


def invoice(subject: str) -> bytes:
    return make_mail(
        from_="billing@supplier.example",
        subject=subject,
        attachments=[Attachment(f"{subject}.pdf", make_pdf(subject))],
    )


def show(ap: AP) -> dict:
    return json.loads(ap.ok("source", "show", "ap", "--json").stdout)


def one_sentence(ap: AP, *args: str) -> str:
    r = ap.run(*args)
    assert r.code == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and r.stderr.startswith("error: ")
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    return r.stderr.strip()


def test_connection_and_folders_change_and_the_ledger_stays(ap: AP) -> None:
    srv, env = ap.mailbox.server, {"MB_PASSWORD": ap.mailbox.password}
    ap.mailbox.append("INBOX", invoice("first"))
    ap.add_source(security="none")
    assert ap.ok("fetch", "ap", "--json").json()["imported"] == 1

    # to IMAPS with the server's own CA, the password given again in the same command
    ap.ok(
        *("source", "set", "ap", "--security", "ssl", "--port", str(srv.imaps_port)),
        *("--ca-file", str(srv.ca_file), "--password-env", "MB_PASSWORD"),
        env=env,
    )
    info = show(ap)
    assert (info["port"], info["security"]) == (srv.imaps_port, "ssl")
    assert info["ca_file"] == str(Path(srv.ca_file).resolve())
    assert info["auth_state"] == "ok"

    # a new folder and move targets; the first mail is not imported again
    imap = ap.mailbox.imap()
    for folder in ("Archive", "Imported"):
        imap.create(f'"{folder}"')
    imap.logout()
    ap.mailbox.append("Archive", invoice("archived"))
    ap.mailbox.append("INBOX", invoice("second"))
    ap.ok(
        *("source", "set", "ap", "--folder", "INBOX", "--folder", "Archive"),
        *("--move-imported-to", "Imported"),
    )
    run = ap.ok("fetch", "ap", "--json").json()
    assert (run["messages_seen"], run["imported"]) == (2, 2)
    subjects = sorted(m["subject"] for m in ap.messages())
    assert subjects == ["archived", "first", "second"]
    assert ap.mailbox.count("Imported") == 2
    info = show(ap)
    assert info["folders"] == ["INBOX", "Archive"] and info["move_imported_to"] == "Imported"

    # '' takes a move target away again; nothing new, nothing imported twice
    ap.ok("source", "set", "ap", "--move-imported-to", "")
    assert show(ap)["move_imported_to"] is None
    assert ap.ok("fetch", "ap", "--json").json()["imported"] == 0
    assert len(ap.documents()) == 3


def test_a_new_server_or_user_name_clears_the_password(ap: AP) -> None:
    srv = ap.mailbox.server
    ap.add_source(security="none")
    r = ap.ok("source", "set", "ap", "--port", str(srv.imaps_port), "--security", "ssl")
    assert CLEARED in r.stderr and len(r.stderr.strip().splitlines()) == 1
    info = show(ap)
    assert info["auth_state"] == "needs_reauthentication"
    assert ap.run("fetch", "ap").code == 1  # no password is sent to the new server

    env = {"MB_PASSWORD": ap.mailbox.password}
    r = ap.ok("source", "set", "ap", "--password-env", "MB_PASSWORD", env=env)
    assert "cleared" not in r.stderr
    r = ap.ok("source", "set", "ap", "--username", "someone-else")
    assert "the stored password was cleared because the user name changed" in r.stderr
    r = ap.ok(
        "source",
        "set",
        "ap",
        "--username",
        ap.mailbox.user,
        "--password-env",
        "MB_PASSWORD",
        env=env,
    )
    assert "cleared" not in r.stderr
    assert show(ap)["auth_state"] == "ok"
    # what does not concern the server keeps the password
    r = ap.ok(
        "source", "set", "ap", "--schedule", "every 30m", "--unread-only", "--since", "2026-01-01"
    )
    assert "cleared" not in r.stderr
    info = show(ap)
    assert (info["schedule"], info["unread_only"], info["since"]) == (
        "every 30m",
        True,
        "2026-01-01",
    )


def test_the_port_follows_the_security_unless_given(tmp_path: Path) -> None:
    cli = AP(tmp_path / "data", mailbox=None)  # type: ignore[arg-type]
    pw = ("--password-env", "PW")
    cli.ok(
        *("source", "add", "ap", "--company", "ACME", "--host", "imap.example.com"),
        *("--username", "ap@acme.example", *pw),
        env={"PW": "pw"},
    )
    assert show(cli)["port"] == 993
    cli.ok("source", "set", "ap", "--security", "starttls", *pw, env={"PW": "pw"})
    assert (show(cli)["port"], show(cli)["security"]) == (143, "starttls")
    cli.ok("source", "set", "ap", "--port", "1143", *pw, env={"PW": "pw"})
    cli.ok("source", "set", "ap", "--security", "ssl", *pw, env={"PW": "pw"})
    assert show(cli)["port"] == 1143  # typed by the user: kept
    # with the password cleared, a change of server asks for it, naming both ways to give it
    cli.ok("source", "set", "ap", "--host", "mail.example.com")
    assert show(cli)["host"] == "mail.example.com"
    line = one_sentence(cli, "source", "set", "ap", "--port", "2143")
    assert "--password-env or --password-stdin: give the password" in line


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--port", "70000"), "error: --port: must be between 1 and 65535"),
        (("--ca-file", "/nonexistent/ca.pem"), "the CA file /nonexistent/ca.pem does not exist"),
        (("--host", "not a host"), "error: --host: 'not a host' is not a host name"),
        (("--schedule", "sometimes"), "error: --schedule:"),
        (("--delete-after-import",), "error: --delete-after-import: only POP3 sources"),
        (("--company", "Nobody"), 'no company "Nobody"'),
        ((), "nothing to change"),
    ],
)
def test_mistakes_are_one_sentence(tmp_path: Path, args: tuple[str, ...], words: str) -> None:
    cli = AP(tmp_path / "data", mailbox=None)  # type: ignore[arg-type]
    cli.ok(
        *("source", "add", "ap", "--company", "ACME", "--host", "imap.example.com"),
        *("--username", "ap@acme.example", "--password-env", "PW"),
        env={"PW": "pw"},
    )
    assert words in one_sentence(cli, "source", "set", "ap", *args)
    assert show(cli)["host"] == "imap.example.com"
