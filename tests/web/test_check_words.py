"""A connection check names what went wrong in the product's words and never repeats what a
remote service said before it proved to be a mail server of the right kind: pointed at a mail
relay, it says "that port answered, but not as an IMAP server" (not the relay's banner). Words
a real mail server says after its greeting (Dovecot's "Authentication failed") still help, but
arrive without control characters and cut to a readable length."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from harness.dovecot import Mailbox, free_ports
from web.conftest import Web
from web.listeners import fake_imap, smtp_banner

NOT_IMAP = "that port answered, but not as an IMAP server"
NOT_POP3 = "that port answered, but not as a POP3 server"
NOTHING = "nothing answered on that port (connection refused)"


def admin_api(web: Web) -> TestClient:
    web.user("admin@x.test", "admin")
    return web.api("admin@x.test")


def add(api: TestClient, port: int, provider: str = "imap", **more: Any) -> int:
    settings = {
        "name": f"src-{uuid.uuid4().hex[:8]}",
        "company": "ACME",
        "provider": provider,
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "username": "ap",
        "password": "pw",
        **more,
    }
    r = api.post("/api/v1/sources", json=settings)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def problem(api: TestClient, source_id: int) -> dict[str, str]:
    r = api.post(f"/api/v1/sources/{source_id}/check")
    assert r.status_code == 422, r.text
    return r.json()


@pytest.mark.parametrize(("provider", "words"), [("imap", NOT_IMAP), ("pop3", NOT_POP3)])
def test_a_mail_relay_is_named_in_our_words_and_its_banner_is_not_echoed(
    web: Web, provider: str, words: str
) -> None:
    api = admin_api(web)
    secret = f"banner-{uuid.uuid4().hex}"
    with smtp_banner(secret) as relay:
        source_id = add(api, relay.port, provider)
        found = problem(api, source_id)
        assert found["detail"] == f"cannot connect to 127.0.0.1:{relay.port}: {words}"
        assert found["field"] == "port"
        assert b"pw" not in relay.received, "nothing was sent to something that is not IMAP"

        # a fetch records the same words in the source's health and its run log
        r = api.post(f"/api/v1/sources/{source_id}/fetch", params={"wait": "true"})
        assert r.status_code == 422 and secret not in r.text
        shown = api.get(f"/api/v1/sources/{source_id}").text
        runs = api.get("/api/v1/runs", params={"source_id": source_id}).text
        assert words in shown
        for text in (found["detail"], shown, runs):
            assert secret not in text and "ESMTP" not in text and "220 " not in text


def test_tls_to_a_plain_text_port_names_the_handshake_not_the_banner(web: Web) -> None:
    api = admin_api(web)
    secret = f"banner-{uuid.uuid4().hex}"
    with smtp_banner(secret) as relay:
        found = problem(api, add(api, relay.port, security="ssl"))
    assert found["detail"].startswith(f"the TLS handshake with 127.0.0.1:{relay.port} failed: ")
    assert found["field"] == "security"
    assert secret not in found["detail"]


def test_the_other_protocols_port_of_a_real_server_is_named(web: Web, mailbox: Mailbox) -> None:
    api = admin_api(web)
    srv = mailbox.server
    imap_on_pop3 = problem(api, add(api, srv.pop3_port))
    assert imap_on_pop3["detail"] == (
        f"cannot connect to 127.0.0.1:{srv.pop3_port}: {NOT_IMAP}: it looks like POP3"
        " (choose the POP3 protocol or the IMAP port)"
    )
    assert imap_on_pop3["field"] == "port"
    pop3_on_imap = problem(api, add(api, srv.imap_port, "pop3"))
    assert pop3_on_imap["detail"] == (
        f"cannot connect to 127.0.0.1:{srv.imap_port}: {NOT_POP3}: it looks like IMAP"
        " (choose the IMAP protocol or the POP3 port)"
    )
    (closed,) = free_ports(1)
    nothing = problem(api, add(api, closed))
    assert nothing["detail"] == f"cannot connect to 127.0.0.1:{closed}: {NOTHING}"


def test_a_mail_servers_refusal_is_kept_but_cleaned_and_cut(web: Web) -> None:
    api = admin_api(web)
    noisy = b"NO [AUTHENTICATIONFAILED] Go away\x1b[2J\x07" + b" and more" * 100
    with fake_imap(login_answer=noisy) as server:
        found = problem(api, add(api, server.port))
    assert found["field"] == "password"
    detail = found["detail"]
    assert detail.startswith("login refused by server: [AUTHENTICATIONFAILED] Go away")
    assert not any(ord(c) < 32 or ord(c) == 127 for c in detail), repr(detail)
    assert len(detail) < 250 and detail.endswith("…")
