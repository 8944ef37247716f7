"""Fixtures for the web admin and the REST API: the FastAPI app on a fresh data directory,
driven through Starlette's TestClient (real HTTP semantics: cookies, redirects, forms).

``web`` gives a :class:`Web`: make users and companies, get a signed-in browser client
(``web.browser(email)``, which knows its CSRF token) or an API client with a token
(``web.api(email)``), and add an IMAP source pointed at a Dovecot mailbox.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from harness.dovecot import Mailbox
from invoice_inbox.runtime import runner
from invoice_inbox.runtime.context import App
from invoice_inbox.store import sources, users
from invoice_inbox.store.models import Company
from invoice_inbox.web.app import create_app

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"|"X-CSRF-Token": "([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms send."""
    m = _CSRF.search(html)
    assert m, "no CSRF token on the page"
    return m.group(1) or m.group(2)


class Browser(TestClient):
    """A signed-in browser: ``form(url, data)`` posts a form with the session's CSRF token."""

    csrf: str = ""

    def form(self, url: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        return self.post(url, data={"csrf_token": self.csrf, **(data or {})}, **kw)


@dataclass
class Web:
    app: App
    asgi: Any
    fetched: list[str] = field(default_factory=list)  # names passed to fetch-now

    @property
    def setup_token(self) -> str:
        """The first-run setup token (``serve`` prints it; here it is read from the app)."""
        token = self.asgi.state.web.setup.value
        assert token, "the setup token is spent"
        return str(token)

    def client(self, **kw: Any) -> TestClient:
        return TestClient(self.asgi, follow_redirects=False, **kw)

    def company(self, name: str) -> int:
        with self.app.db.session() as s:
            return sources.company(s, name, create=True).id

    def user(self, email: str, role: str = "admin", companies: tuple[str, ...] = ()) -> str:
        for c in companies:
            self.company(c)
        with self.app.db.session() as s:
            users.create(s, email, PASSWORD, role, users.companies_named(s, list(companies)))
        return email

    def browser(self, email: str, password: str = PASSWORD) -> Browser:
        b = Browser(self.asgi, follow_redirects=False)
        r = b.get("/login")
        assert r.status_code == 200, r.text
        r = b.post(
            "/login",
            data={"email": email, "password": password, "csrf_token": csrf_of(r.text)},
        )
        assert r.status_code == 303, r.text
        page = b.get("/sources", follow_redirects=True)
        b.csrf = csrf_of(page.text)
        return b

    def token(self, email: str) -> str:
        with self.app.db.session() as s:
            user = users.by_email(s, email)
            assert user is not None
            return users.create_token(s, user, "test")[1]

    def api(self, email: str) -> TestClient:
        return TestClient(
            self.asgi,
            follow_redirects=False,
            headers={"Authorization": f"Bearer {self.token(email)}"},
        )

    def imap_source(self, name: str, mailbox: Mailbox, company: str = "ACME", **fields: Any) -> int:
        """An IMAP source (plain IMAP on Dovecot's port, password auth) added directly."""
        srv = mailbox.server
        with self.app.db.session() as s:
            src = sources.add(
                s,
                name=name,
                company_name=company,
                host="127.0.0.1",
                port=srv.imap_port,
                security="none",
                username=mailbox.user,
                secret=self.app.secrets.encrypt(mailbox.password),
                **fields,
            )
            return src.id

    def company_id(self, name: str) -> int:
        with self.app.db.session() as s:
            c = s.query(Company).filter_by(name=name).one()
            return c.id


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Web]:
    """The web app on a fresh data directory; fetch-now runs synchronously in the request."""
    app = App.open(tmp_path / "data")
    holder = Web(app, None)

    def fetch_now(name: str) -> None:
        holder.fetched.append(name)
        # a failure is recorded in the run log and the source's health, as in serve
        with contextlib.suppress(Exception):
            runner.fetch(app, name, trigger="manual")

    holder.asgi = create_app(app, fetch_now=fetch_now)
    try:
        yield holder
    finally:
        app.close()
