"""Every kind of source a user adds, checked and fetched against local stand-ins: Microsoft 365
app-only over Graph, delegated over IMAP XOAUTH2 (Dovecot's oauth2 passdb asking the stand-in
authorization server), shared mailboxes, Gmail over the API and over IMAP with OAuth2, iCloud
with an app password; and the token lifecycle: sign-in through a browser round trip, refresh,
rotation, revocation into "needs re-authentication", admin consent, client-secret expiry."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from builders import Attachment, make_mail, make_pdf
from conftest import AP, CLIENT_SECRET, sign_in
from fakes.gmail import FakeGmail
from fakes.graph import FakeGraph
from fakes.oauth import FakeIdentityProvider
from harness import app_db
from harness.dovecot import DovecotServer, Mailbox, free_ports
from invoice_inbox.auth.oauth import Token
from invoice_inbox.runtime.context import App
from invoice_inbox.store import sources


def invoice(i: int, sender: str = "billing@supplier.example") -> bytes:
    return make_mail(
        from_=sender,
        subject=f"Invoice {i}",
        attachments=[Attachment(f"INV-{i}.pdf", make_pdf(f"invoice {i}"))],
    )


def tag() -> str:
    return uuid.uuid4().hex[:10]


def stored_token(data_dir: Path, name: str) -> Token:
    app = App.open(data_dir)
    try:
        with app.db.session() as s:
            return Token.from_json(app.secrets.decrypt(sources.get(s, name).token or ""))
    finally:
        app.close()


def authenticate(ap: AP, name: str, port: int) -> tuple[int, str, str]:
    """Run ``source authenticate`` as a user would: its own process prints the sign-in address,
    "the browser" (httpx) opens it and follows the provider's redirect back to the command."""
    proc = ap.spawn("source", "authenticate", name, "--redirect-port", str(port), "--timeout", "30")
    assert proc.stdout is not None
    printed = []
    for line in proc.stdout:
        printed.append(line)
        if line.startswith("http"):
            page = httpx.get(line.strip(), follow_redirects=True, timeout=10)
            assert page.status_code == 200
            break
    out, err = proc.communicate(timeout=30)
    return proc.returncode, "".join(printed) + out, err


def add(ap: AP, *args: str, name: str = "ap") -> None:
    ap.ok("source", "add", name, "--company", "ACME", *args, env={"CS": CLIENT_SECRET})


# ---------------------------------------------------------------- Microsoft 365


def test_microsoft365_app_only_over_graph_needs_consent_then_imports_once(
    tmp_path: Path, cloud: FakeIdentityProvider, graph: FakeGraph
) -> None:
    t = tag()
    tenant, client, address = f"tenant-{t}", f"app-{t}", f"ap-{t}@contoso.example"
    port = free_ports(1)[0]
    cloud.register_client(
        client,
        secret=CLIENT_SECRET,
        tenant=tenant,
        redirect_uris=[f"http://127.0.0.1:{port}/oauth/callback"],
    )
    cloud.app_mailbox(client, address)
    box = graph.mailbox(address)
    for i in range(3):
        box.append("INBOX", invoice(i))
    ap = AP(tmp_path / "data", box)  # type: ignore[arg-type]
    add(
        ap,
        *("--provider", "microsoft365", "--auth", "app", "--tenant-id", tenant),
        *("--client-id", client, "--client-secret-env", "CS", "--username", address),
        *("--move-imported-to", "Invoices/Imported"),
    )
    shown = ap.ok("source", "show", "ap", "--json").json()
    assert (shown["protocol"], shown["auth"], shown["auth_state"]) == ("graph", "app", "ok")

    refused = ap.run("source", "check", "ap")
    assert refused.code == 1
    assert "AADSTS65001" in refused.stderr and "consent-url" in refused.stderr

    printed = ap.ok("source", "consent-url", "ap", "--redirect-port", str(port)).stdout
    url = next(line for line in printed.splitlines() if line.startswith("http"))
    assert f"/{tenant}/v2.0/adminconsent?" in url and f"client_id={client}" in url
    answer = httpx.get(url, timeout=10)  # the administrator accepts
    assert answer.status_code == 302 and "admin_consent=True" in answer.headers["location"]
    assert cloud.consented(tenant, client)

    folders = ap.ok("source", "check", "ap", "--json").json()["folders"]
    assert "Inbox" in folders and "Deleted Items" in folders
    assert ap.ok("fetch", "ap", "--json").json()["imported"] == 3
    assert ap.ok("fetch", "ap", "--json").json()["messages_seen"] == 0
    assert box.count("Invoices/Imported") == 3 and box.count("INBOX") == 0
    assert sorted(d["filename"] for d in ap.documents()) == ["INV-0.pdf", "INV-1.pdf", "INV-2.pdf"]
    assert all('IdType="ImmutableId"' in h.get("prefer", "") for _, _, h in graph.requests[-5:])


def test_microsoft365_delegated_over_imap_xoauth2_with_browser_sign_in(
    tmp_path: Path, cloud: FakeIdentityProvider, oauth_dovecot: DovecotServer
) -> None:
    user, password = oauth_dovecot.new_user()
    mailbox = Mailbox(user, password, oauth_dovecot)
    for i in range(2):
        mailbox.append("INBOX", invoice(i))
    t = tag()
    port = free_ports(1)[0]
    cloud.register_client(
        f"app-{t}", tenant=f"tenant-{t}", redirect_uris=[f"http://127.0.0.1:{port}/oauth/callback"]
    )  # a public client: PKCE, no secret
    cloud.add_user(user)
    cloud.next_login = user
    ap = AP(tmp_path / "data", mailbox)
    add(
        ap,
        *("--provider", "microsoft365", "--protocol", "imap", "--auth", "oauth"),
        *("--tenant-id", f"tenant-{t}", "--client-id", f"app-{t}", "--username", user),
        *("--host", "127.0.0.1", "--port", str(oauth_dovecot.imap_port), "--security", "none"),
    )
    early = ap.run("fetch", "ap")
    assert early.code == 1 and "has not been signed in yet" in early.stderr

    code, out, err = authenticate(ap, "ap", port)
    assert code == 0, err
    assert "Signed in" in out and "code_challenge_method=S256" in out
    assert "IMAP.AccessAsUser.All" in stored_token(ap.data_dir, "ap").scope

    assert ap.ok("source", "check", "ap", "--json").json()["ok"] is True
    assert ap.ok("fetch", "ap", "--json").json()["imported"] == 2
    assert ap.ok("fetch", "ap", "--json").json()["messages_seen"] == 0


def test_shared_mailbox_over_graph_with_a_delegated_user(
    tmp_path: Path, cloud: FakeIdentityProvider, graph: FakeGraph
) -> None:
    t = tag()
    user, shared = f"clerk-{t}@contoso.example", f"invoices-{t}@contoso.example"
    cloud.register_client(f"app-{t}", tenant=f"tenant-{t}")
    cloud.add_user(user)
    box = graph.mailbox(shared)
    box.append("INBOX", invoice(0))
    graph.mailbox(user).append("INBOX", invoice(9))  # the user's own mail is not read
    ap = AP(tmp_path / "data", box)  # type: ignore[arg-type]
    add(
        ap,
        *("--provider", "microsoft365", "--tenant-id", f"tenant-{t}"),
        *("--client-id", f"app-{t}", "--username", user, "--shared-mailbox", shared),
    )
    sign_in(ap.data_dir, "ap", cloud, user, f"app-{t}", tenant=f"tenant-{t}")
    assert "Mail.ReadWrite.Shared" in stored_token(ap.data_dir, "ap").scope

    refused = ap.run("fetch", "ap")  # not (yet) given access to the shared mailbox
    assert refused.code == 1 and shared in refused.stderr

    cloud.delegate(user, shared)
    assert ap.ok("fetch", "ap", "--json").json()["imported"] == 1
    assert [d["filename"] for d in ap.documents()] == ["INV-0.pdf"]


def test_shared_mailbox_over_imap_xoauth2_app_only(
    tmp_path: Path, cloud: FakeIdentityProvider, oauth_dovecot: DovecotServer
) -> None:
    shared, password = oauth_dovecot.new_user()
    mailbox = Mailbox(shared, password, oauth_dovecot)
    mailbox.append("INBOX", invoice(0))
    t = tag()
    cloud.register_client(f"app-{t}", secret=CLIENT_SECRET, tenant=f"tenant-{t}")
    cloud.grant_consent(f"tenant-{t}", f"app-{t}")
    cloud.app_mailbox(f"app-{t}", shared)
    ap = AP(tmp_path / "data", mailbox)
    add(
        ap,
        *("--provider", "microsoft365", "--protocol", "imap", "--auth", "app"),
        *("--tenant-id", f"tenant-{t}", "--client-id", f"app-{t}", "--client-secret-env", "CS"),
        *("--username", "service@contoso.example", "--shared-mailbox", shared),
        *("--host", "127.0.0.1", "--port", str(oauth_dovecot.imap_port), "--security", "none"),
    )
    assert ap.ok("fetch", "ap", "--json").json()["imported"] == 1
    scopes = [r.get("scope") for r in cloud.token_requests if r.get("client_id") == f"app-{t}"]
    assert scopes == ["https://outlook.office365.com/.default"]


def test_password_sign_in_on_microsoft_warns_and_points_to_oauth(
    tmp_path: Path, mailbox: Mailbox
) -> None:
    ap = AP(tmp_path / "data", mailbox)
    r = ap.ok(
        *("source", "add", "ap", "--company", "ACME", "--provider", "microsoft365"),
        *("--auth", "password", "--username", mailbox.user, "--password-env", "MB_PASSWORD"),
        env={"MB_PASSWORD": mailbox.password},
    )
    assert "Microsoft no longer accepts passwords" in r.stderr and "--auth oauth" in r.stderr
    shown = ap.ok("source", "show", "ap", "--json").json()
    assert (shown["host"], shown["port"], shown["security"]) == (
        "outlook.office365.com",
        993,
        "ssl",
    )
    assert shown["warnings"] and "--auth app" in shown["warnings"][0]


# ---------------------------------------------------------------- Gmail and iCloud


def test_gmail_over_the_api_with_browser_sign_in_and_labels_as_folders(
    tmp_path: Path, cloud: FakeIdentityProvider, gmail: FakeGmail
) -> None:
    t = tag()
    address, client = f"ap-{t}@gmail.example", f"gclient-{t}"
    port = free_ports(1)[0]
    cloud.register_client(
        client, secret=CLIENT_SECRET, redirect_uris=[f"http://127.0.0.1:{port}/oauth/callback"]
    )
    cloud.add_user(address)
    cloud.next_login = address
    box = gmail.mailbox(address)
    box.append("INBOX", invoice(0))
    box.append("INBOX", invoice(1, sender="spam@elsewhere.example"))
    ap = AP(tmp_path / "data", box)  # type: ignore[arg-type]
    add(
        ap,
        *("--provider", "gmail", "--client-id", client, "--client-secret-env", "CS"),
        *("--username", address, "--allow-sender", "*@supplier.example"),
        *("--move-imported-to", "Invoices/Imported", "--move-not-imported-to", "Invoices/Other"),
    )
    code, out, err = authenticate(ap, "ap", port)
    assert code == 0, err
    assert "access_type=offline" in out and "gmail.modify" in out
    folders = ap.ok("source", "check", "ap", "--json").json()["folders"]
    assert "INBOX" in folders and "UNREAD" not in folders
    summary = ap.ok("fetch", "ap", "--json").json()
    assert (summary["imported"], summary["not_imported"]) == (1, 1)
    assert box.count("Invoices/Imported") == 1 and box.count("Invoices/Other") == 1
    assert box.count("INBOX") == 0
    box.append("INBOX", invoice(2))
    assert ap.ok("fetch", "ap", "--json").json()["imported"] == 1  # via history.list


def test_gmail_read_only_scope_when_mail_stays_in_place(
    tmp_path: Path, cloud: FakeIdentityProvider, gmail: FakeGmail
) -> None:
    t = tag()
    address = f"ap-{t}@gmail.example"
    cloud.register_client(f"g-{t}", secret=CLIENT_SECRET)
    cloud.add_user(address)
    box = gmail.mailbox(address)
    box.append("INBOX", invoice(0))
    ap = AP(tmp_path / "data", box)  # type: ignore[arg-type]
    add(
        ap,
        *("--provider", "gmail", "--client-id", f"g-{t}", "--client-secret-env", "CS"),
        "--username",
        address,
    )
    sign_in(ap.data_dir, "ap", cloud, address, f"g-{t}", provider="google")
    assert stored_token(ap.data_dir, "ap").scope.endswith("gmail.readonly")
    assert ap.ok("fetch", "ap", "--json").json()["imported"] == 1
    assert box.count("INBOX") == 1


def test_gmail_over_imap_with_oauth2(
    tmp_path: Path, cloud: FakeIdentityProvider, oauth_dovecot: DovecotServer
) -> None:
    user, password = oauth_dovecot.new_user()
    mailbox = Mailbox(user, password, oauth_dovecot)
    mailbox.append("INBOX", invoice(0))
    t = tag()
    cloud.register_client(f"g-{t}", secret=CLIENT_SECRET)
    cloud.add_user(user)
    ap = AP(tmp_path / "data", mailbox)
    add(
        ap,
        *("--provider", "gmail", "--protocol", "imap", "--client-id", f"g-{t}"),
        *("--client-secret-env", "CS", "--username", user),
        *("--host", "127.0.0.1", "--port", str(oauth_dovecot.imap_port), "--security", "none"),
    )
    sign_in(ap.data_dir, "ap", cloud, user, f"g-{t}", provider="google")
    assert stored_token(ap.data_dir, "ap").scope == "https://mail.google.com/"
    assert ap.ok("fetch", "ap", "--json").json()["imported"] == 1


def test_icloud_with_an_app_password(tmp_path: Path, mailbox: Mailbox) -> None:
    mailbox.append("INBOX", invoice(0))
    ap = AP(tmp_path / "data", mailbox)
    ap.ok(
        *("source", "add", "preset", "--company", "ACME", "--provider", "icloud"),
        *("--username", "me@icloud.com", "--password-env", "MB_PASSWORD"),
        env={"MB_PASSWORD": "abcd-efgh-ijkl-mnop"},
    )
    preset = ap.ok("source", "show", "preset", "--json").json()
    assert (preset["host"], preset["port"], preset["auth"]) == ("imap.mail.me.com", 993, "password")
    ap.ok(  # the same preset, pointed at the local server (imap.mail.me.com is out of reach)
        *("source", "add", "ap", "--company", "ACME", "--provider", "icloud"),
        *("--host", "127.0.0.1", "--port", str(mailbox.server.imap_port), "--security", "none"),
        *("--username", mailbox.user, "--password-env", "MB_PASSWORD"),
        env={"MB_PASSWORD": mailbox.password},
    )
    assert ap.ok("fetch", "ap", "--json").json()["imported"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--provider", "pop3", "--host", "h", "--instant"), "--instant needs IMAP (IDLE)"),
        (("--provider", "pop3", "--host", "h", "--unread-only"), "POP3 has no read/unread"),
        (("--provider", "pop3", "--host", "h", "--move-imported-to", "A"), "POP3 has no folders"),
        (("--provider", "imap", "--host", "h", "--delete-after-import"), "is for POP3 sources"),
        (("--provider", "imap", "--host", "h", "--schedule", "every 0m"), "every"),
        (("--provider", "icloud", "--auth", "oauth"), "signs in with --auth password"),
        (("--provider", "imap", "--protocol", "graph"), "--protocol imap, not graph"),
        (("--provider", "microsoft365", "--auth", "app", "--client-id", "c"), "--client-secret"),
        (("--provider", "microsoft365", "--auth", "oauth"), "needs --client-id"),
        (("--provider", "gmail", "--auth", "oauth", "--client-id", "c"), "--client-secret-env"),
        (("--provider", "gmail", "--shared-mailbox", "x@y"), "for Microsoft 365 sources"),
        (("--provider", "imap", "--password-env", "PW"), "--host is needed"),
    ],
)
def test_impossible_combinations_are_one_plain_sentence(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    ap = AP(tmp_path / "data", None)  # type: ignore[arg-type]
    r = ap.run(
        "source", "add", "x", "--company", "ACME", "--username", "u@x", *args, env={"PW": "pw"}
    )
    assert r.code == 1 and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------- token lifecycle


def _delegated_graph_source(
    tmp_path: Path, cloud: FakeIdentityProvider, graph: FakeGraph
) -> tuple[AP, str, Any]:
    t = tag()
    user = f"clerk-{t}@contoso.example"
    cloud.register_client(f"app-{t}", secret=CLIENT_SECRET, tenant=f"tenant-{t}")
    cloud.add_user(user)
    box = graph.mailbox(user)
    box.append("INBOX", invoice(0))
    ap = AP(tmp_path / "data", box)  # type: ignore[arg-type]
    add(
        ap,
        *("--provider", "microsoft365", "--tenant-id", f"tenant-{t}", "--client-id", f"app-{t}"),
        *("--client-secret-env", "CS", "--username", user),
    )
    sign_in(ap.data_dir, "ap", cloud, user, f"app-{t}", tenant=f"tenant-{t}")
    return ap, user, box


def test_expired_access_token_is_refreshed_and_the_rotated_refresh_token_stored(
    tmp_path: Path, cloud: FakeIdentityProvider, graph: FakeGraph
) -> None:
    ap, _user, box = _delegated_graph_source(tmp_path, cloud, graph)
    assert ap.ok("fetch", "ap", "--json").json()["imported"] == 1
    before = stored_token(ap.data_dir, "ap")
    cloud.expire_access_tokens()  # Graph now answers 401 to the stored access token
    box.append("INBOX", invoice(1))
    assert ap.ok("fetch", "ap", "--json").json()["imported"] == 1
    after = stored_token(ap.data_dir, "ap")
    assert after.access_token != before.access_token
    assert after.refresh_token and after.refresh_token != before.refresh_token, "rotated"
    old = httpx.post(  # the provider no longer takes the old refresh token
        f"{cloud.url}/common/oauth2/v2.0/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": before.refresh_token,
            "client_id": json.loads(ap.ok("source", "show", "ap", "--json").stdout)["client_id"],
            "client_secret": CLIENT_SECRET,
        },
    )
    assert old.status_code == 400 and old.json()["error"] == "invalid_grant"


def test_a_revoked_sign_in_needs_re_authentication_and_is_not_retried(
    tmp_path: Path, cloud: FakeIdentityProvider, graph: FakeGraph
) -> None:
    ap, user, box = _delegated_graph_source(tmp_path, cloud, graph)
    assert ap.ok("fetch", "ap", "--json").json()["imported"] == 1
    cloud.revoke(user)
    box.append("INBOX", invoice(1))
    failed = ap.run("fetch", "ap")
    assert failed.code == 1 and "invoice-inbox source authenticate" in failed.stderr
    shown = ap.ok("source", "show", "ap", "--json").json()
    assert shown["auth_state"] == "needs_reauthentication"
    assert shown["auth_error"] and "revoked" in shown["auth_error"].lower()
    assert ap.ok("runs", "--json").json()[0]["status"] == "failed"

    asked = len(cloud.token_requests)
    again = ap.run("fetch", "ap")
    assert again.code == 1 and "needs re-authentication" in again.stderr
    assert len(cloud.token_requests) == asked, "a refused sign-in is not tried again"
    assert "needs reauthentication" in ap.ok("source", "list").stdout

    client = shown["client_id"]
    sign_in(ap.data_dir, "ap", cloud, user, client, tenant=shown["tenant_id"])
    assert ap.ok("source", "show", "ap", "--json").json()["auth_state"] == "ok"
    assert ap.ok("fetch", "ap", "--json").json()["imported"] == 1


def test_client_secret_expiry_warns_from_thirty_days_before(
    tmp_path: Path, cloud: FakeIdentityProvider
) -> None:
    ap = AP(tmp_path / "data", None)  # type: ignore[arg-type]
    soon = (date.today() + timedelta(days=10)).isoformat()
    r = ap.ok(
        *("source", "add", "ap", "--company", "ACME", "--provider", "microsoft365"),
        *("--auth", "app", "--tenant-id", "t", "--client-id", "c", "--client-secret-env", "CS"),
        *("--username", "ap@contoso.example", "--secret-expires", soon),
        env={"CS": CLIENT_SECRET},
    )
    assert f"expires in 10 days ({soon})" in r.stderr
    assert ap.ok("source", "show", "ap", "--json").json()["warnings"]
    later = (date.today() + timedelta(days=31)).isoformat()
    ap.ok("source", "set", "ap", "--secret-expires", later)
    assert ap.ok("source", "show", "ap", "--json").json()["warnings"] == []
    past = (date.today() - timedelta(days=1)).isoformat()
    r = ap.ok("source", "set", "ap", "--secret-expires", past)
    assert "the client secret expired on" in r.stderr
    assert "warning" in ap.ok("source", "list").stdout


def test_no_secret_or_token_in_output_logs_or_database(
    tmp_path: Path, cloud: FakeIdentityProvider, graph: FakeGraph, mailbox: Mailbox
) -> None:
    ap, _user, box = _delegated_graph_source(tmp_path, cloud, graph)
    ap.mailbox = mailbox  # type: ignore[assignment]
    ap.add_source(name="imap")  # a password source too
    outputs = [
        ap.ok("fetch", "ap", "--json"),
        ap.ok("fetch", "imap", "--json"),
        ap.ok("source", "list"),
        ap.ok("source", "list", "--json"),
        ap.ok("source", "show", "ap"),
        ap.ok("source", "show", "ap", "--json"),
        ap.ok("source", "check", "ap"),
        ap.ok("runs", "--json"),
        ap.ok("messages", "--json"),
    ]
    cloud.expire_access_tokens()  # a refresh and a rotation happen in the logged run below
    box.append("INBOX", invoice(1))
    serve = subprocess.run(
        [sys.executable, "-m", "invoice_inbox", "--data-dir", str(ap.data_dir), "serve", "--once"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert serve.returncode == 0, serve.stderr
    assert "source ap: 1 seen, 1 imported" in serve.stderr
    token = stored_token(ap.data_dir, "ap")
    secrets = {
        "password": mailbox.password,
        "client secret": CLIENT_SECRET,
        "access token": token.access_token,
        "refresh token": token.refresh_token or "",
    }
    text = "".join(r.stdout + r.stderr for r in outputs) + serve.stdout + serve.stderr
    stored = app_db.stored_bytes(ap.data_dir)
    assert stored, "the database file was read"
    for what, value in secrets.items():
        assert value and len(value) >= 8
        assert value not in text, f"the {what} was printed"
        assert value.encode() not in stored, f"the {what} is in the database in clear text"


def test_an_expired_client_secret_stops_the_source_until_a_new_one_is_set(
    tmp_path: Path, cloud: FakeIdentityProvider, graph: FakeGraph
) -> None:
    t = tag()
    tenant, client, address = f"tenant-{t}", f"app-{t}", f"ap-{t}@contoso.example"
    cloud.register_client(client, secret=CLIENT_SECRET, tenant=tenant, secret_expired=True)
    cloud.grant_consent(tenant, client)
    cloud.app_mailbox(client, address)
    box = graph.mailbox(address)
    box.append("INBOX", invoice(0))
    ap = AP(tmp_path / "data", box)  # type: ignore[arg-type]
    add(
        ap,
        *("--provider", "microsoft365", "--auth", "app", "--tenant-id", tenant),
        *("--client-id", client, "--client-secret-env", "CS", "--username", address),
    )
    failed = ap.run("fetch", "ap")
    assert failed.code == 1 and "AADSTS7000222" in failed.stderr
    shown = ap.ok("source", "show", "ap", "--json").json()
    assert shown["auth_state"] == "needs_reauthentication"
    asked = len(cloud.token_requests)
    again = ap.run("fetch", "ap")
    assert again.code == 1 and "--client-secret-env" in again.stderr
    assert len(cloud.token_requests) == asked, "refused credentials are not tried again"

    cloud.register_client(client, secret="a-new-secret-0123", tenant=tenant)
    ap.ok("source", "set", "ap", "--client-secret-env", "NEW", env={"NEW": "a-new-secret-0123"})
    assert ap.ok("fetch", "ap", "--json").json()["imported"] == 1
