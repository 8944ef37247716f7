"""A fresh instance against a page that rebinds its name to 127.0.0.1: the first administrator
needs the one-time token ``serve`` printed, and a request for another host name is refused.
Against ``invoice-inbox serve`` in a process of its own, over real HTTP."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from invoice_inbox.runtime.context import App
from invoice_inbox.store import users
from web.conftest import PASSWORD, csrf_of
from web.serving import serving


def _users(data: Path) -> int:
    a = App.open(data)
    try:
        with a.db.session() as s:
            return users.count(s)
    finally:
        a.close()


def test_setup_needs_the_printed_token_and_works_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with serving(data) as srv:
        setup_url = srv.setup_url()
        assert setup_url.startswith(srv.url + "/setup?token=")
        token = parse_qs(urlsplit(setup_url).query)["token"][0]
        assert len(token) >= 32

        with httpx.Client(base_url=srv.url) as c:
            page = c.get("/setup")  # without the token: a field asks for it
            assert page.status_code == 200 and 'name="token"' in page.text
            form = {
                "email": "boss@x.test",
                "password": PASSWORD,
                "repeat": PASSWORD,
                "csrf_token": csrf_of(page.text),
            }
            assert c.post("/setup", data=form).status_code == 403
            wrong = c.post("/setup", data={**form, "token": token[:-2] + "xx"})
            assert wrong.status_code == 403 and "setup token" in wrong.text
            assert _users(data) == 0

            page = c.get(setup_url)  # the printed address fills it in
            assert page.status_code == 200 and f'value="{token}"' in page.text
            made = c.post("/setup", data={**form, "token": token})
            assert made.status_code == 303 and made.headers["location"] == "/sources/new"

        with httpx.Client(base_url=srv.url) as again:  # once only
            page = again.get(setup_url)
            assert page.status_code == 303 and page.headers["location"] == "/login"
            r = again.post(
                "/setup",
                data={**form, "email": "evil@x.test", "token": token},
                cookies={"ii_csrf": "t"},
                headers={"X-CSRF-Token": "t"},
            )
            assert r.status_code in (303, 403)
        assert _users(data) == 1


def test_requests_for_another_host_are_refused(tmp_path: Path) -> None:
    with serving(
        tmp_path / "data",
        *("--allowed-host", "invoices.example", "--allowed-host", "*.ap.example"),
        env={"INVOICE_INBOX_PUBLIC_URL": "https://ap.example.com/inbox"},
    ) as srv:
        port = srv.url.rsplit(":", 1)[1]

        def status(host: str, path: str = "/login") -> int:
            return httpx.get(srv.url + path, headers={"Host": host}).status_code

        for evil in ("rebind.attacker.example", f"rebind.attacker.example:{port}", "10.1.2.3"):
            assert status(evil) == 400, evil
            assert status(evil, "/setup") == 400, evil
        post = httpx.post(srv.url + "/setup", headers={"Host": "rebind.attacker.example"})
        assert post.status_code == 400
        for good in (
            f"127.0.0.1:{port}",
            f"localhost:{port}",
            "invoices.example",
            "eu.ap.example",
            "ap.example.com",
            "AP.Example.COM.",
        ):
            assert status(good) in (200, 303), good
