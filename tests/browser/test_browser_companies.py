"""Companies and notifications in a real browser against ``serve`` (no e-mail relay given):
a company's notification recipients are shown and changed on its page; a company is deleted
with its sources, mails and documents after a page that names what goes; a notification that
no channel could carry says "not sent: no e-mail relay configured" and links to how."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from browser.conftest import Served, shot
from builders import Attachment, make_mail
from corpus import CORPUS
from harness.dovecot import Mailbox

ADMIN, PASSWORD = "admin@acme.example", "a long admin password"
ZUGFERD = CORPUS / "zugferd-corpus__EN16931_Einfach.pdf"


def sign_up(page: Any, served: Served) -> None:
    page.goto(served.setup_url)
    page.fill("input[name=email]", ADMIN)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=repeat]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/sources/new")


def add_source(served: Served, mailbox: Mailbox, name: str, company: str, password: str) -> None:
    """An IMAP source on the test mailbox, fetched only when asked (``fetch NAME``)."""
    served.cli(
        *("source", "add", name, "--company", company, "--provider", "imap"),
        *("--host", "127.0.0.1", "--port", str(mailbox.server.imap_port), "--security", "none"),
        *("--username", mailbox.user, "--password-env", "COMPANY_TEST_PASSWORD"),
        *("--schedule", "manual"),
        env={"COMPANY_TEST_PASSWORD": password, **os.environ},
    )


def open_company(page: Any, served: Served, name: str) -> None:
    page.goto(served.url + "/companies")
    page.click(f"text={name}")
    page.wait_for_url("**/companies/*")


def test_recipients_are_shown_added_and_removed(page: Any, served: Served) -> None:
    served.cli("company", "add", "ACME GmbH")
    sign_up(page, served)
    open_company(page, served, "ACME GmbH")
    listed = page.inner_text("#recipient-list")
    assert ADMIN in listed and "administrator" in listed

    page.fill("#recipient", "not an address")
    page.click("#add-recipient-button")
    page.wait_for_load_state()
    assert page.locator("#recipient-error").is_visible()
    assert page.get_attribute("#recipient", "aria-invalid") == "true"

    page.fill("#recipient", "AP-Team@acme.example")
    page.click("#add-recipient-button")
    page.wait_for_url("**/companies/*")
    listed = page.inner_text("#recipient-list")
    assert "ap-team@acme.example" in listed.lower() and "added here" in listed
    shot(page, "companies-recipients")
    shown = served.cli("company", "show", "ACME GmbH", "--json")
    assert "ap-team@acme.example" in shown.lower()  # the same list as `company set --notify`

    page.click("button[aria-label^='Remove ']")
    page.wait_for_url("**/companies/*")
    assert "ap-team" not in page.inner_text("#recipient-list").lower()
    assert ADMIN in page.inner_text("#recipient-list")


def test_a_company_is_deleted_after_a_page_naming_what_goes(
    page: Any, served: Served, mailbox: Mailbox
) -> None:
    mailbox.append(
        "INBOX",
        make_mail(
            from_="billing@lieferant.example",
            subject="Rechnung 471102",
            attachments=[Attachment("EN16931_Einfach.pdf", ZUGFERD.read_bytes())],
        ),
    )
    mailbox.append("INBOX", make_mail(from_="news@shop.example", subject="Our offers"))
    add_source(served, mailbox, "acme-ap", "ACME GmbH", mailbox.password)
    served.cli("fetch", "acme-ap", "--wait")  # serve may be fetching the new source already
    served.cli("company", "add", "Beta AG")
    add_source(served, mailbox, "beta-ap", "Beta AG", mailbox.password)

    sign_up(page, served)
    open_company(page, served, "ACME GmbH")
    page.click("#delete-company")
    page.wait_for_url("**/companies/*/delete")
    shot(page, "companies-delete-confirm")
    assert "1 source" in page.inner_text("#gone-sources")
    assert "acme-ap" in page.inner_text("#gone-sources")
    assert "1 document" in page.inner_text("#gone-documents")
    assert "2 mails" in page.inner_text("#gone-mails")
    assert "clean-up" in page.inner_text("#delete-summary")  # the stored files stay, and why
    assert served.cli("company", "show", "ACME GmbH")  # nothing is gone before the click

    page.click("#confirm-delete")
    page.wait_for_url("**/companies")
    shot(page, "companies-deleted")
    assert "is deleted" in page.inner_text("main")
    assert "ACME GmbH" not in page.inner_text("table")
    listed = served.cli("source", "list")
    assert "acme-ap" not in listed and "beta-ap" in listed
    assert "EN16931_Einfach.pdf" not in served.cli("documents", "list")


def test_a_notification_without_a_relay_says_so_and_links_to_how(
    page: Any, served: Served, mailbox: Mailbox
) -> None:
    add_source(served, mailbox, "ap", "ACME GmbH", "not the password")
    refused = subprocess.run(
        [sys.executable, "-m", "invoice_inbox", "--data-dir", str(served.data_dir), "fetch", "ap"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode != 0  # the login was refused: the company is notified

    sign_up(page, served)
    page.goto(served.url + "/notifications")
    row = page.locator("tr[id^=notification-]").first
    email = row.locator("td[id^=email-]")
    shot(page, "notifications-no-relay")
    assert email.locator(".badge").inner_text() == "not sent: no e-mail relay configured"
    assert "pending" not in row.inner_text() and "skipped" not in row.inner_text()
    email.locator("a").click()
    page.wait_for_url("**/help/notifications")
    shot(page, "notifications-help")
    assert "--notify-smtp" in page.inner_text("#help-email")
