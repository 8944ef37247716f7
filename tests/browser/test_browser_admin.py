"""The web admin in a real browser (Debian's Chromium via Playwright) against ``serve``: the
path of a new user from the first-run setup to the invoices in the documents queue."""

from __future__ import annotations

from browser.conftest import Served, shot

ADMIN, PASSWORD = "admin@acme.example", "a long admin password"


def create_first_admin(page: object, served: Served) -> None:
    page.goto(served.url + "/")  # type: ignore[attr-defined]
    assert page.url.endswith("/setup")  # type: ignore[attr-defined]
    shot(page, "01-setup")
    page.fill("input[name=email]", ADMIN)  # type: ignore[attr-defined]
    page.fill("input[name=password]", PASSWORD)  # type: ignore[attr-defined]
    page.fill("input[name=repeat]", PASSWORD)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url("**/sources/new")  # type: ignore[attr-defined]


def test_first_admin_signs_out_and_in_again(page: object, served: Served) -> None:
    create_first_admin(page, served)
    page.goto(served.url + "/sources")  # type: ignore[attr-defined]
    page.click("text=Sign out")  # type: ignore[attr-defined]
    page.wait_for_url("**/login")  # type: ignore[attr-defined]
    page.fill("input[name=email]", ADMIN)  # type: ignore[attr-defined]
    page.fill("input[name=password]", "not the password")  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    assert "password is wrong" in page.inner_text("main")  # type: ignore[attr-defined]
    shot(page, "02-login-refused")
    page.fill("input[name=password]", PASSWORD)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url("**/sources")  # type: ignore[attr-defined]
    assert ADMIN in page.inner_text("header")  # type: ignore[attr-defined]
