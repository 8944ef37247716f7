"""The source form guides a new administrator, in a real browser against ``serve``: schedule
mistakes in the form's own words next to their own fields, all at once; an OAuth2 source that
waits for its first sign-in says so (with the Authenticate button and the redirect URI to
register); a move target that does not exist yet reads "will be created", not like an error."""

from __future__ import annotations

import os
from typing import Any

from browser.conftest import Served, shot
from harness.dovecot import Mailbox

ADMIN, PASSWORD = "admin@acme.example", "a long admin password"
CLI_WORDS = ("write e.g.", "'every", "'at ", "every 30m")


def sign_up(page: Any, served: Served) -> None:
    page.goto(served.setup_url)
    page.fill("input[name=email]", ADMIN)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=repeat]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/sources/new")


def test_schedule_errors_are_in_the_forms_words_next_to_their_fields(
    page: Any, served: Served
) -> None:
    sign_up(page, served)
    page.goto(served.url + "/sources/new?provider=imap")
    page.fill("#name", "acme-ap")
    page.fill("#new_company", "ACME")
    page.fill("#host", "mail.acme.example")
    page.fill("#username", "ap@acme.example")
    page.check("#schedule-at")
    page.fill("#schedule_times", "25:00, 7:5, 12:00")
    page.fill("#schedule_zone", "Europe/Warsw")
    page.click("#save-source")
    page.wait_for_load_state()
    shot(page.locator("#schedule-settings"), "guidance-schedule-at-errors")

    times = page.locator("#schedule_times-error").inner_text()
    zone = page.locator("#schedule_zone-error").inner_text()
    assert "25:00" in times and "7:5" in times and "HH:MM" in times  # both, not the first only
    assert "Europe/Warsw" in zone and "Europe/Warsaw" in zone  # the closest name suggested
    for words in (times, zone):
        assert not any(cli in words for cli in CLI_WORDS), words
    assert page.get_attribute("#schedule_times", "aria-invalid") == "true"
    assert page.get_attribute("#schedule_zone", "aria-invalid") == "true"
    assert page.get_attribute("#schedule_minutes", "aria-invalid") is None  # not its problem
    summary = page.locator("#form-errors").inner_text()
    assert "Times" in summary and "Time zone" in summary

    page.check("#schedule-every")
    page.fill("#schedule_minutes", "0")
    page.click("#save-source")
    page.wait_for_load_state()
    shot(page.locator("#schedule-settings"), "guidance-schedule-every-error")
    minutes = page.locator("#schedule_minutes-error").inner_text()
    assert "minutes" in minutes and "10080" in minutes
    assert not any(cli in minutes for cli in CLI_WORDS), minutes
    assert page.locator("#schedule_times-error").count() == 0  # the other choice is not judged
    assert page.get_attribute("#schedule_times", "aria-invalid") is None


def test_an_oauth_source_waiting_for_its_first_sign_in_says_so(page: Any, served: Served) -> None:
    sign_up(page, served)
    page.goto(served.url + "/sources/new?provider=gmail")
    # before saving, the credentials say which redirect URI the app registration must list
    redirect = page.locator("#credentials #redirect-uri")
    assert redirect.inner_text() == served.url + "/oauth/callback"
    page.fill("#name", "acme-gmail")
    page.fill("#new_company", "ACME")
    page.fill("#username", "ap@acme.example")
    page.fill("#client_id", "1234.apps.googleusercontent.com")
    page.fill("#client_secret", "a client secret")
    if page.locator("#active").count() and page.is_checked("#active"):
        page.uncheck("#active")  # saved, not started: still the sign-in is what it waits for
    page.click("#save-source")
    page.wait_for_load_state()
    assert page.locator("#form-errors").count() == 0, page.inner_text("#form-errors")
    assert page.locator("#source-status").inner_text() == "needs sign-in"
    assert page.locator("#authenticate").is_visible()
    assert page.locator("#credentials #redirect-uri").inner_text() == (
        served.url + "/oauth/callback"
    )

    page.goto(served.url + "/sources")
    row = page.locator("#sources tbody tr").first
    assert row.locator("[id^=status-]").inner_text() == "needs sign-in"
    button = row.locator("[id^=authenticate-]")
    assert button.is_visible() and button.inner_text() == "Authenticate"
    shot(page, "guidance-needs-sign-in")

    page.goto(served.url + "/companies")
    page.get_by_role("link", name="ACME", exact=True).click()
    page.wait_for_url("**/companies/*")
    assert page.locator("[id^=company-source-status-]").inner_text() == "needs sign-in"


def test_a_year_folder_that_does_not_exist_yet_will_be_created(
    page: Any, served: Served, mailbox: Mailbox
) -> None:
    served.cli(
        *("source", "add", "acme-ap", "--company", "ACME", "--provider", "imap"),
        *("--host", "127.0.0.1", "--port", str(mailbox.server.imap_port), "--security", "none"),
        *("--username", mailbox.user, "--password-env", "GUIDANCE_PASSWORD"),
        *("--move-imported-to", "Archive/{year}"),
        env={"GUIDANCE_PASSWORD": mailbox.password, **os.environ},
    )
    sign_up(page, served)
    page.goto(served.url + "/sources")
    page.locator("[id^=edit-]").first.click()
    page.wait_for_url("**/sources/*")
    page.click("#check-connection")
    page.locator("#check-result").wait_for()
    chosen = page.locator("#move_imported_to option:checked").inner_text()
    shot(page.locator("#folder-settings"), "guidance-year-folder")
    assert chosen == "Archive/{year} (will be created)"
    assert "not on the server" not in page.inner_text("#folder-settings")
