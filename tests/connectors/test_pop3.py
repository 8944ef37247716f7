"""Pop3Connector against the private Dovecot (POP3, POP3S, STLS; XOAUTH2 through the idp's
introspection) and, for answers Dovecot never gives (no STLS, a refused QUIT, a locked
maildrop), a scripted POP3 server on 127.0.0.1. Mail is APPENDed over IMAP and read over POP3."""

from __future__ import annotations

import re
import socketserver
import threading
from collections.abc import Callable, Iterator
from datetime import date

import pytest

from builders import make_mail
from fakes.oauth import FakeIdentityProvider
from harness.dovecot import DovecotServer, Mailbox, free_ports
from invoice_inbox.connectors import pop3
from invoice_inbox.connectors.base import Deleting, TokenConnector
from invoice_inbox.connectors.pop3 import Pop3Connector, Pop3Settings
from invoice_inbox.connectors.pop3_session import DEFAULT_LOGIN_DELAY, parse_login_delay
from invoice_inbox.errors import (
    ConnectFailed,
    FolderMissing,
    LoginDelayed,
    LoginFailed,
    ProtocolFailed,
    TLSFailed,
)

SCOPES = ["https://outlook.office.com/POP.AccessAsUser.All", "offline_access"]


def settings(server: DovecotServer, user: str, **kw: object) -> Pop3Settings:
    security = kw.pop("security", "none")
    port = server.pop3s_port if security == "ssl" else server.pop3_port
    values: dict[str, object] = {
        "host": server.host,
        "port": port,
        "security": security,
        "ca_file": str(server.ca_file),
        "username": user,
        "timeout": 10.0,
    }
    values.update(kw)
    return Pop3Settings(**values)  # type: ignore[arg-type]


def connect(mailbox: Mailbox, **kw: object) -> Pop3Connector:
    kw.setdefault("password", mailbox.password)
    return Pop3Connector(settings(mailbox.server, mailbox.user, **kw))


def crlf(raw: bytes) -> bytes:
    return re.sub(rb"\r?\n", b"\r\n", raw)


def mail(n: int, **kw: object) -> bytes:
    kw.setdefault("body", f"Invoice number {n}.")
    return make_mail(subject=f"Invoice {n}", **kw)  # type: ignore[arg-type]


def fill(mailbox: Mailbox, *raws: bytes) -> list[bytes]:
    for raw in raws:
        mailbox.append("INBOX", raw)
    return list(raws)


# ---------------------------------------------------------------- connecting and signing in


@pytest.mark.parametrize("security", ["ssl", "starttls", "none"])
def test_check_signs_in_over_pop3s_stls_and_plain(mailbox: Mailbox, security: str) -> None:
    with connect(mailbox, security=security) as conn:
        assert conn.check() == ["INBOX"]


def test_meets_the_token_connector_contract(mailbox: Mailbox) -> None:
    conn: TokenConnector = connect(mailbox)  # checked by type checkers
    assert conn.cursor_kind == "token"
    assert isinstance(conn, Deleting)
    assert conn.list_folders() == ["INBOX"]
    conn.close()


def test_settings_repr_hides_password_and_token(mailbox: Mailbox) -> None:
    def token(renew: bool = False) -> str:
        return "t0k"

    text = repr(settings(mailbox.server, mailbox.user, password="s3cret", token=token))
    assert "s3cret" not in text and "t0k" not in text


def test_pop3s_without_the_private_ca_is_a_tls_failure(mailbox: Mailbox) -> None:
    with connect(mailbox, security="ssl", ca_file=None) as conn, pytest.raises(TLSFailed) as err:
        conn.check()
    assert f"{mailbox.server.host}:{mailbox.server.pop3s_port}" in str(err.value)
    assert not err.value.transient


def test_wrong_password_is_login_failed_with_the_servers_words(mailbox: Mailbox) -> None:
    with connect(mailbox, password="wrong") as conn, pytest.raises(LoginFailed) as err:
        conn.check()
    assert str(err.value) == (
        f"login refused by {mailbox.server.host}:{mailbox.server.pop3_port}:"
        " [AUTH] Authentication failed."
    )
    assert not err.value.transient


def test_closed_port_is_a_transient_connect_failure() -> None:
    (port,) = free_ports(1)
    conn = Pop3Connector(
        Pop3Settings(host="127.0.0.1", port=port, security="none", username="x", password="y")
    )
    with pytest.raises(ConnectFailed) as err:
        conn.check()
    assert str(err.value) == (
        f"cannot connect to 127.0.0.1:{port}: nothing answered on that port (connection refused)"
    )
    assert err.value.transient
    conn.close()


# ---------------------------------------------------------------- listing and reading


def test_changes_lists_uidls_oldest_first_and_they_survive_reconnecting(
    mailbox: Mailbox,
) -> None:
    raws = fill(mailbox, mail(1), mail(2), mail(3))
    with connect(mailbox) as conn:
        first = conn.changes(None)
        assert len(first.ids) == 3 and len(set(first.ids)) == 3
        assert first.full and first.cursor == "3"
        assert [raw for _id, raw in conn.fetch(first.ids)] == [crlf(r) for r in raws]
    with connect(mailbox, security="ssl") as conn:
        again = conn.changes(first.cursor)
    assert again.ids == first.ids
    assert not again.full


def test_fetch_returns_the_exact_bytes_with_long_and_dotted_lines(mailbox: Mailbox) -> None:
    long_line = b"<p>" + b"x" * 5000 + b"</p>"
    raw = (
        b"From: billing@supplier.example\r\n"
        b"To: invoices@buyer.example\r\n"
        b"Subject: dots and a long line\r\n"
        b"Date: Mon, 02 Mar 2026 10:00:00 +0100\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n"
        b"\r\n" + long_line + b"\r\n"
        b".starts with a dot\r\n"
        b".\r\n"
        b"..\r\n"
        b"\r\n"
        b"last line\r\n"
    )
    lf_only = mail(2, body="written with bare LF line ends\n.dot line\n", crlf=False)
    assert b"\r\n" not in lf_only
    fill(mailbox, raw, lf_only)
    with connect(mailbox, security="ssl") as conn:
        got = dict(conn.fetch(conn.changes(None).ids))
    assert list(got.values()) == [raw, crlf(lf_only)]


def test_a_message_without_a_final_line_break_gets_one(mailbox: Mailbox) -> None:
    fill(mailbox, b"Subject: short\r\n\r\nno line break at the end")
    with connect(mailbox) as conn:
        ((_id, raw),) = conn.fetch(conn.changes(None).ids)
    assert raw == b"Subject: short\r\n\r\nno line break at the end\r\n"


def test_fetch_keeps_the_callers_order_and_skips_unknown_ids(mailbox: Mailbox) -> None:
    raws = fill(mailbox, mail(1), mail(2))
    with connect(mailbox) as conn:
        a, b = conn.changes(None).ids
        got = list(conn.fetch([b, "no-such-uidl", a, b]))
    assert got == [(b, crlf(raws[1])), (a, crlf(raws[0]))]


def test_fetch_without_a_listing_first_lists_itself(mailbox: Mailbox) -> None:
    raws = fill(mailbox, mail(1), mail(2))
    with connect(mailbox) as conn:
        ids = conn.changes(None).ids
    with connect(mailbox) as conn:
        assert dict(conn.fetch([ids[1]])) == {ids[1]: crlf(raws[1])}


def test_a_message_expunged_by_another_client_is_not_yielded(mailbox: Mailbox) -> None:
    raws = fill(mailbox, mail(1), mail(2))
    with connect(mailbox) as conn:
        a, b = conn.changes(None).ids
        imap = mailbox.imap()
        imap.select("INBOX")
        imap.store("1", "+FLAGS", "\\Deleted")
        imap.expunge()
        imap.logout()
        # Dovecot still lists it in this POP3 session but answers "-ERR Message 1 expunged."
        assert list(conn.fetch([a, b])) == [(b, crlf(raws[1]))]


def test_since_leaves_out_older_mail_and_keeps_undated_mail(
    mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pop3, "PIPELINE_WINDOW", 4)  # Dovecot offers PIPELINING: two windows
    fill(
        mailbox,
        mail(1, date="Mon, 01 Jan 2024 10:00:00 +0000"),
        mail(2, date="Sat, 01 Jun 2024 10:00:00 +0000"),
        b"Subject: no date\r\n\r\nbody\r\n",
        mail(4, date="yesterday-ish"),
        mail(5, date="Fri, 01 Mar 2024 00:30:00 +0200"),  # the 1st as written in the header
        mail(6, date="Thu, 29 Feb 2024 23:30:00 -0500"),
    )
    with connect(mailbox) as conn:
        every = conn.changes(None).ids
        recent = conn.changes(None, since=date(2024, 3, 1))
    assert recent.ids == [every[1], every[2], every[3], every[4]]
    assert recent.cursor == "6"


def test_since_stays_in_step_when_one_top_is_refused(mailbox: Mailbox) -> None:
    fill(
        mailbox,
        mail(1, date="Mon, 01 Jan 2024 10:00:00 +0000"),
        mail(2, date="Mon, 01 Jan 2024 10:00:00 +0000"),
        mail(3, date="Sat, 01 Jun 2024 10:00:00 +0000"),
    )
    with connect(mailbox) as conn:
        a, _b, c = conn.changes(None).ids
        imap = mailbox.imap()
        imap.select("INBOX")
        imap.store("1", "+FLAGS", "\\Deleted")
        imap.expunge()
        imap.logout()
        # TOP 1 0 now gets -ERR: message 1 counts as undated, the pipelined answers after it
        # still belong to the right messages
        assert conn.changes(None, since=date(2024, 3, 1)).ids == [a, c]


def test_unread_only_is_refused_because_pop3_has_no_flags(mailbox: Mailbox) -> None:
    with connect(mailbox) as conn, pytest.raises(ValueError, match="no read flags"):
        conn.changes(None, unread_only=True)


# ---------------------------------------------------------------- deleting


def test_delete_then_commit_removes_exactly_those_messages(mailbox: Mailbox) -> None:
    raws = fill(mailbox, mail(1), mail(2), mail(3))
    conn = connect(mailbox)
    a, b, c = conn.changes(None).ids
    conn.delete([b])
    assert list(conn.fetch([b])) == [], "marked messages are not read any more"
    assert mailbox.count() == 3, "DELE only marks"
    conn.commit()
    assert mailbox.count() == 2
    # the next command opens a new session, whose message numbers differ from the last one's
    assert list(conn.fetch([c, a])) == [(c, crlf(raws[2])), (a, crlf(raws[0]))]
    assert conn.changes("3").ids == [a, c]
    conn.close()


def test_delete_then_close_without_commit_deletes_nothing(mailbox: Mailbox) -> None:
    fill(mailbox, mail(1), mail(2))
    conn = connect(mailbox)
    ids = conn.changes(None).ids
    conn.delete(ids)
    conn.close()
    assert mailbox.count() == 2
    with connect(mailbox) as again:
        assert again.changes(None).ids == ids


def test_an_error_inside_with_deletes_nothing(mailbox: Mailbox) -> None:
    fill(mailbox, mail(1))
    with pytest.raises(RuntimeError), connect(mailbox) as conn:
        conn.delete(conn.changes(None).ids)
        raise RuntimeError("the decision could not be stored")
    assert mailbox.count() == 1


def test_deleting_unknown_or_already_marked_ids_is_ignored(mailbox: Mailbox) -> None:
    fill(mailbox, mail(1), mail(2))
    with connect(mailbox) as conn:
        a, b = conn.changes(None).ids
        conn.delete(["no-such-uidl", a])
        conn.delete([a, "no-such-uidl"])
        conn.commit()
        assert conn.changes(None).ids == [b]


# ---------------------------------------------------------------- XOAUTH2


def token_for(idp: FakeIdentityProvider, user: str) -> str:
    idp.add_user(user)
    return str(idp.mint_user_token(user, "pop-client", SCOPES)["access_token"])


def oauth_settings(server: DovecotServer, user: str, token: Callable[..., str]) -> Pop3Settings:
    return settings(server, user, security="starttls", token=token)


def test_xoauth2_signs_in_with_a_token(
    oauth_dovecot: DovecotServer, idp: FakeIdentityProvider
) -> None:
    user, _ = oauth_dovecot.new_user()
    oauth_dovecot.append(user, "INBOX", mail(1))
    good = token_for(idp, user)
    with Pop3Connector(oauth_settings(oauth_dovecot, user, lambda renew=False: good)) as conn:
        assert len(conn.changes(None).ids) == 1


def test_xoauth2_renews_a_refused_token_once(
    oauth_dovecot: DovecotServer, idp: FakeIdentityProvider
) -> None:
    user, _ = oauth_dovecot.new_user()
    asked: list[bool] = []

    def token(renew: bool = False) -> str:
        asked.append(renew)
        return token_for(idp, user) if renew else "stale-token"

    with Pop3Connector(oauth_settings(oauth_dovecot, user, token)) as conn:
        assert conn.check() == ["INBOX"]
    assert asked == [False, True]


def test_xoauth2_with_tokens_that_stay_refused_is_login_failed(
    oauth_dovecot: DovecotServer,
) -> None:
    user, password = oauth_dovecot.new_user()
    asked: list[bool] = []

    def token(renew: bool = False) -> str:
        asked.append(renew)
        return password  # a password is no token: the passdb filter keeps them apart

    with (
        Pop3Connector(oauth_settings(oauth_dovecot, user, token)) as conn,
        pytest.raises(LoginFailed, match=r"^login refused by 127\.0\.0\.1:\d+: \[AUTH\]"),
    ):
        conn.check()
    assert asked == [False, True]


# ---------------------------------------------------------------- what POP3 does not have


def test_the_only_folder_is_the_inbox(mailbox: Mailbox) -> None:
    with connect(mailbox) as conn:
        conn.open_folder("INBOX")
        conn.open_folder("inbox")
        with pytest.raises(FolderMissing, match="POP3 has only the inbox") as err:
            conn.open_folder("Archive")
        assert err.value.folder == "Archive" and err.value.existing == ["INBOX"]


def test_moving_or_creating_folders_is_refused_and_marking_read_does_nothing(
    mailbox: Mailbox,
) -> None:
    fill(mailbox, mail(1))
    with connect(mailbox) as conn:
        ids = conn.changes(None).ids
        with pytest.raises(ProtocolFailed, match="POP3 has no folders") as err:
            conn.move(ids, "Archive")
        assert not err.value.transient
        with pytest.raises(ProtocolFailed, match="POP3 has no folders"):
            conn.ensure_folder("Archive")
        conn.ensure_folder("INBOX")
        conn.mark_seen(ids)
    assert mailbox.count() == 1


# ---------------------------------------------------------------- answers Dovecot does not give


class ScriptedPop3:
    """A POP3 server on 127.0.0.1 that answers each command line from *script* (a dict of
    command → answer lines; unknown commands get ``-ERR``) and records what it received."""

    def __init__(self, script: dict[str, list[str]]) -> None:
        self.script = script
        self.received: list[str] = []
        owner = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self.wfile.write(b"+OK scripted\r\n")
                for raw in self.rfile:
                    line = raw.decode().rstrip("\r\n")
                    owner.received.append(line)
                    answer = owner.script.get(line.split(" ")[0].upper(), ["-ERR unknown"])
                    self.wfile.write("".join(f"{a}\r\n" for a in answer).encode())
                    if line.upper() == "QUIT":
                        return

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedPop3:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


SIGNED_IN = {"USER": ["+OK"], "PASS": ["+OK signed in"], "RSET": ["+OK"]}


@pytest.fixture
def scripted() -> Iterator[Callable[[dict[str, list[str]]], ScriptedPop3]]:
    servers: list[ScriptedPop3] = []

    def start(script: dict[str, list[str]]) -> ScriptedPop3:
        servers.append(ScriptedPop3(script).__enter__())
        return servers[-1]

    yield start
    for server in servers:
        server.__exit__()


def scripted_connector(server: ScriptedPop3, security: str = "none") -> Pop3Connector:
    return Pop3Connector(
        Pop3Settings(
            host="127.0.0.1",
            port=server.port,
            security=security,  # type: ignore[arg-type]
            username="ap",
            password="pw",
            timeout=5.0,
        )
    )


def test_starttls_against_a_server_without_stls_is_a_tls_failure(
    scripted: Callable[[dict[str, list[str]]], ScriptedPop3],
) -> None:
    server = scripted({"CAPA": ["+OK", "USER", "UIDL", "."], **SIGNED_IN})
    conn = scripted_connector(server, "starttls")
    with pytest.raises(TLSFailed, match="does not offer STLS") as err:
        conn.check()
    assert f"127.0.0.1:{server.port}" in str(err.value)
    assert server.received == ["CAPA"], "no credentials over an unencrypted line"


def test_a_refused_quit_is_a_protocol_failure(
    scripted: Callable[[dict[str, list[str]]], ScriptedPop3],
) -> None:
    server = scripted(
        {
            **SIGNED_IN,
            "UIDL": ["+OK", "1 aaa", "2 bbb", "."],
            "DELE": ["+OK marked"],
            "QUIT": ["-ERR some deleted messages not removed"],
        }
    )
    conn = scripted_connector(server)
    conn.delete(["bbb"])
    with pytest.raises(ProtocolFailed, match="refused QUIT: some deleted messages not removed"):
        conn.commit()
    assert server.received == ["USER ap", "PASS pw", "UIDL", "DELE 2", "QUIT"]
    conn.close()  # already closed: nothing more is sent
    assert server.received[-1] == "QUIT"


def test_a_locked_maildrop_is_transient_not_a_wrong_password(
    scripted: Callable[[dict[str, list[str]]], ScriptedPop3],
) -> None:
    server = scripted({"USER": ["+OK"], "PASS": ["-ERR [IN-USE] Mailbox is locked"]})
    with pytest.raises(ProtocolFailed, match=r"cannot open the mailbox now") as err:
        scripted_connector(server).check()
    assert not isinstance(err.value, LoginFailed)
    assert err.value.transient


def test_close_sends_rset_before_quit(
    scripted: Callable[[dict[str, list[str]]], ScriptedPop3],
) -> None:
    server = scripted(
        {**SIGNED_IN, "UIDL": ["+OK", "1 aaa", "."], "DELE": ["+OK"], "QUIT": ["+OK bye"]}
    )
    conn = scripted_connector(server)
    conn.delete(["aaa"])
    conn.close()
    assert server.received[-3:] == ["DELE 1", "RSET", "QUIT"]


def test_a_login_delay_refusal_is_not_a_wrong_password_and_carries_the_advertised_delay(
    scripted: Callable[[dict[str, list[str]]], ScriptedPop3],
) -> None:
    """Cyrus's words (popminpoll: 15); the delay is asked with CAPA after the refusal."""
    server = scripted(
        {
            "USER": ["+OK"],
            "PASS": ["-ERR [LOGIN-DELAY] Logins must be at least 15 minutes apart"],
            "CAPA": ["+OK", "USER", "LOGIN-DELAY 900", "UIDL", "."],
        }
    )
    with pytest.raises(LoginDelayed, match=r"allows one login every 900 s") as err:
        scripted_connector(server).check()
    assert err.value.retry_after == 900
    assert err.value.transient
    assert not isinstance(err.value, LoginFailed)
    assert server.received[:3] == ["USER ap", "PASS pw", "CAPA"]


def test_a_login_delay_refusal_without_an_advertised_delay_waits_the_default(
    scripted: Callable[[dict[str, list[str]]], ScriptedPop3],
) -> None:
    server = scripted({"USER": ["+OK"], "PASS": ["-ERR [LOGIN-DELAY] not yet"]})
    with pytest.raises(LoginDelayed) as err:
        scripted_connector(server).check()
    assert err.value.retry_after == DEFAULT_LOGIN_DELAY


@pytest.mark.parametrize(
    ("words", "seconds"),
    [(["60"], 60), (["900", "USER"], 900), ([], None), (["soon"], None), (["0"], None)],
)
def test_the_login_delay_capability_is_read_in_seconds(
    words: list[str], seconds: int | None
) -> None:
    assert parse_login_delay(words) == seconds
