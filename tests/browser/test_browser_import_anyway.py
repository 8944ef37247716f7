"""A not-imported mail acted on from the log in a real browser (issue 14, item 14): a clerk
presses "Import anyway" on the run page and the mail's PDF joins the queue once, the mail moved
to the imported folder on Dovecot; "Allow this sender" adds the sender, and the running
service's background recheck imports that sender's other skipped mail. ``serve`` runs as a user
runs it; the mail is fetched by the CLI beside it. Screenshots: ``import-anyway-*.png``.
"""

from __future__ import annotations

import time
from typing import Any

from browser.conftest import Served, shot
from browser.test_browser_admin import create_first_admin
from browser.test_browser_screens import overflows
from builders import Attachment, make_mail, make_pdf
from harness.dovecot import Mailbox

KNOWN = "billing@known.example"
ONE_OFF = "invoices@one-off-supplier.example"
NEW = "billing@new-supplier.example"


def invoice(sender: str, name: str) -> bytes:
    return make_mail(
        from_=sender, subject=f"Invoice {name}", attachments=[Attachment(name, make_pdf(name))]
    )


def row_of(page: Any, sender: str, subject: str) -> Any:
    return page.locator("table.messages tbody tr", has_text=sender).filter(has_text=subject)


def test_a_not_imported_mail_is_imported_from_the_log_and_its_sender_allowed(
    page: Any, served: Served, mailbox: Mailbox
) -> None:
    create_first_admin(page, served)
    mailbox.append("INBOX", invoice(ONE_OFF, "ONE-OFF-1.pdf"))
    mailbox.append("INBOX", invoice(NEW, "NEW-1.pdf"))
    mailbox.append("INBOX", invoice(NEW, "NEW-2.pdf"))
    served.cli(
        *("source", "add", "ap", "--company", "ACME", "--host", "127.0.0.1"),
        *("--port", str(mailbox.server.imap_port), "--security", "none"),
        *("--username", mailbox.user, "--password-env", "PW", "--schedule", "manual"),
        *("--allow-sender", KNOWN, "--move-imported-to", "Invoices"),
        *("--move-not-imported-to", "Not imported"),
        env={"PW": mailbox.password},
    )
    served.cli("fetch", "ap", "--wait")  # serve may be fetching the new source already
    assert mailbox.count("Not imported") == 3

    page.goto(served.url + "/runs/1")
    one_off = row_of(page, ONE_OFF, "ONE-OFF-1.pdf")
    for width in (1024, 1440):
        page.set_viewport_size({"width": width, "height": 900})
        assert one_off.locator("button", has_text="Import anyway").is_visible()
        shot(page, f"import-anyway-run-{width}")
        assert overflows(page) == [], f"at {width} px"

    one_off.locator("button", has_text="Import anyway").click()
    page.wait_for_url("**/runs/1#message-*")
    assert "Imported: 1 document added to the queue" in page.inner_text("main")
    one_off = row_of(page, ONE_OFF, "ONE-OFF-1.pdf")
    assert "ONE-OFF-1.pdf" in one_off.inner_text()  # the document's link
    assert one_off.locator("button").count() == 0  # imported now: nothing to press
    assert "imported by admin@acme.example on" in one_off.inner_text()
    shot(page, "import-anyway-done")
    assert (mailbox.count("Invoices"), mailbox.count("Not imported")) == (1, 2)

    row_of(page, NEW, "NEW-1.pdf").locator("button", has_text="Allow this sender").click()
    page.wait_for_url("**/runs/1#message-*")
    assert "re-checked in the background" in page.inner_text("main")
    page.goto(served.url + "/sources/1")
    assert NEW in page.input_value("textarea[name=allowed_senders]")

    deadline = time.monotonic() + 90  # the service re-checks every few seconds
    queue = ""
    while time.monotonic() < deadline:
        page.goto(served.url + "/documents?status=all")
        queue = page.inner_text("main")
        if "NEW-2.pdf" in queue:
            break
        time.sleep(0.5)
    assert all(name in queue for name in ("ONE-OFF-1.pdf", "NEW-1.pdf", "NEW-2.pdf")), queue
    shot(page, "import-anyway-queue")
    assert (mailbox.count("Invoices"), mailbox.count("Not imported")) == (3, 0)
    page.goto(served.url + "/sources/1/log")
    assert "recheck" in page.inner_text("main")
