"""The web admin in a real browser (Debian's Chromium via Playwright) against ``serve`` and the
test Dovecot: the path of a new user from the first-run setup to the invoices in the documents
queue, as the README promises it. Every screen is saved as a screenshot artifact."""

from __future__ import annotations

import hashlib
from typing import Any

from browser.conftest import Served, shot
from builders import Attachment, make_mail
from corpus import CORPUS
from harness.dovecot import Mailbox

ADMIN, PASSWORD = "admin@acme.example", "a long admin password"
ZUGFERD = CORPUS / "zugferd-corpus__EN16931_Einfach.pdf"  # Lieferant GmbH, 471102, 529.87 EUR


def create_first_admin(page: Any, served: Served) -> None:
    page.goto(served.url + "/")
    assert page.url.endswith("/setup")
    page.goto(served.setup_url)  # the address serve printed, with its one-time token
    shot(page, "01-setup")
    page.fill("input[name=email]", ADMIN)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=repeat]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/sources/new")


def test_first_admin_signs_out_and_in_again(page: Any, served: Served) -> None:
    create_first_admin(page, served)
    page.click("text=Sign out")
    page.wait_for_url("**/login")
    page.fill("input[name=email]", ADMIN)
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert "password is wrong" in page.inner_text("main")
    shot(page, "02-login-refused")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/sources")
    assert ADMIN in page.inner_text("header")


def test_from_setup_to_the_invoice_in_the_queue(
    page: Any, served: Served, mailbox: Mailbox
) -> None:
    pdf = ZUGFERD.read_bytes()
    imap = mailbox.imap()
    for folder in ("Imported", "Not imported"):
        imap.create(f'"{folder}"')
    imap.logout()
    mailbox.append(
        "INBOX",
        make_mail(
            from_="billing@lieferant.example",
            subject="Rechnung 471102",
            attachments=[Attachment("EN16931_Einfach.pdf", pdf)],
        ),
    )
    mailbox.append("INBOX", make_mail(from_="news@shop.example", subject="Our offers"))

    create_first_admin(page, served)
    shot(page, "03-new-source-presets")
    page.click("#preset-imap")
    page.fill("#name", "acme-ap")
    page.fill("#new_company", "ACME")
    page.fill("#host", "127.0.0.1")
    page.fill("#port", str(mailbox.server.imap_port))
    page.select_option("#security", "none")
    page.fill("#username", mailbox.user)
    page.fill("#password", "a wrong password")
    page.fill("#senders textarea", "*@lieferant.example")
    shot(page, "04-new-source-form")
    page.click("#save-source")
    page.wait_for_url("**/sources/*")

    # a wrong password: the server's refusal is shown next to the password field
    page.click("#check-connection")
    error = page.locator("#password-error")
    error.wait_for()
    assert "authentication failed" in error.inner_text().lower()
    shot(page, "05-wrong-password")

    # the typed password is what the check tries; a source made here waits to be started
    page.fill("#password", mailbox.password)
    page.click("#check-connection")
    page.locator("#check-result").wait_for()
    assert page.locator("#source-status").inner_text() == "not started"
    page.check("#folders input[value=INBOX]")
    page.select_option("#move_imported_to", "Imported")
    page.select_option("#move_not_imported_to", "Not imported")
    shot(page, "06-folders-loaded")
    shot(page.locator("#folder-settings"), "06-folder-settings")
    assert page.locator("#start-fetching").count() == 1  # offered after the check
    page.click("#save-source")  # saved, still not started: nothing runs on its own
    page.wait_for_load_state()
    assert page.locator("#form-errors").count() == 0
    assert page.locator("#source-status").inner_text() == "not started"

    # fetch now from the list (any source can be fetched by hand), then the run in the log
    page.goto(served.url + "/sources")
    page.locator("[id^=fetch-now-]").first.click()
    row = page.locator("#sources tbody tr").first
    row.locator("text=1 imported").wait_for(timeout=60_000)
    shot(page, "07-sources")
    assert mailbox.count("Imported") == 1 and mailbox.count("Not imported") == 1
    page.locator("[id^=log-]").first.click()
    page.wait_for_url("**/log")
    shot(page, "08-log")
    page.locator("a[href^='/runs/']").first.click()
    page.wait_for_url("**/runs/*")
    run = page.inner_text("main")
    assert "Rechnung 471102" in run and "Our offers" in run
    shot(page, "09-run")

    # the queue, the document with its PDF in the page and its e-invoice fields
    page.click("header >> text=Documents")
    page.wait_for_url("**/documents")
    queue = page.inner_text("main")
    assert "EN16931_Einfach.pdf" in queue and "Lieferant GmbH" in queue
    shot(page, "10-documents")
    page.click("text=EN16931_Einfach.pdf")
    page.wait_for_url("**/documents/*")
    frame = page.locator("iframe.pdf")
    src = frame.get_attribute("src")
    assert src is not None
    answer = page.request.get(served.url + src)
    assert answer.headers["content-type"] == "application/pdf"
    assert hashlib.sha256(answer.body()).hexdigest() == hashlib.sha256(pdf).hexdigest()
    facts = page.inner_text("main")
    assert "471102" in facts and "529.87" in facts
    page.wait_for_timeout(1000)  # let the PDF viewer draw before the screenshot
    shot(page, "11-document")
