"""The redirect URI an OAuth2 app registration must list is shown on the source form: the web
app's ``oauth/callback``, at the address users open (``serve --public-url``) when one is given,
else at the request's own base URL."""

from __future__ import annotations

from pathlib import Path

import lxml.html

from invoice_inbox.runtime.context import App
from invoice_inbox.web.app import create_app
from invoice_inbox.web.hosts import HostPolicy
from web.conftest import Web


def _shown(web: Web) -> str:
    admin = web.browser(web.user("admin@acme.example"))
    page = admin.get("/sources/new?provider=microsoft365")
    assert page.status_code == 200, page.text
    found = lxml.html.fromstring(page.text).xpath('//*[@id="redirect-uri"]')
    assert len(found) == 1, "the redirect URI is shown once"
    return str(found[0].text_content())


def test_the_public_url_is_the_redirect_uri_behind_a_proxy(tmp_path: Path) -> None:
    app = App.open(tmp_path / "data")
    try:
        hosts = HostPolicy("127.0.0.1", ["https://ap.example.com/"], ["testserver"])
        web = Web(app, create_app(app, hosts=hosts))
        assert _shown(web) == "https://ap.example.com/oauth/callback"
    finally:
        app.close()


def test_without_a_public_url_the_request_base_url_is_used(web: Web) -> None:
    assert _shown(web) == "http://testserver/oauth/callback"
