"""``/docs`` in a real browser (Chromium via Playwright) against ``serve``: Swagger UI comes from
the app itself, so it shows the API's operations under the app's Content-Security-Policy, with
no request leaving the machine and no CSP violation in the console."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from browser.conftest import Served, shot


def test_api_docs_render_from_the_app_under_its_csp(page: Any, served: Served) -> None:
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))

    page.goto(served.url + "/docs")
    page.get_by_text("/api/v1/documents", exact=True).first.wait_for(state="visible")
    shot(page, "api-docs")

    assert "invoice-inbox" in page.inner_text("#swagger-ui")
    violations = [c for c in console if "Content Security Policy" in c or "pageerror" in c]
    assert violations == []
    ours = urlsplit(served.url).netloc
    assert {urlsplit(u).netloc for u in requested if not u.startswith("data:")} == {ours}
