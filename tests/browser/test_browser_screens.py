"""The everyday screens in a real browser (issue 14, items 11, 12 and 15): every main screen at
1,024 and 1,440 px wide without anything wider than the window or its card, values as people
read them (amounts, kinds, formats, times in the viewer's zone), and accounts payable ticking two
documents in the queue and marking them processed at once.

The screens are filled from a real mailbox: Dovecot with an e-invoice PDF, an XRechnung, a PDF
with a long name from a long address, the same PDF again (an exact duplicate) and a newsletter,
fetched by the CLI beside ``serve``. Screenshots go to ``artifacts/screenshots/screen-*.png``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from browser.conftest import Served, shot
from browser.test_browser_admin import create_first_admin
from builders import Attachment, make_mail, make_pdf
from corpus import CORPUS
from harness.dovecot import Mailbox

ZUGFERD = CORPUS / "zugferd-corpus__EN16931_Einfach.pdf"  # Lieferant GmbH, 471102, 529.87 EUR
XRECHNUNG = CORPUS / "xrechnung-testsuite__01.02a-INVOICE_ubl.xml"  # 12.6 EUR
LONG_NAME = "Rechnung_2026-11_Kundennummer-4711-0815_Sammelrechnung_Wartungsvertrag_Standort.pdf"
LONG_SENDER = "Buchhaltung <accounts-receivable.department@a-very-long-supplier-name-gmbh.example>"
WIDTHS = (1024, 1440)

# Everything a screen draws wider than the window, than the main column, or than the card it is
# in; and any scroller whose content is wider than itself (overflow hidden away).
OVERFLOWS = """() => {
  const out = [];
  const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (typeof el.className === "string" && el.className.trim()
      ? "." + el.className.trim().split(/\\s+/).join(".") : "");
  const vw = window.innerWidth, page = document.documentElement.scrollWidth;
  if (page > vw) out.push(`the page is ${page}px wide in a ${vw}px window`);
  const boxes = document.querySelectorAll("header.top, main, .card, fieldset, section");
  for (const box of boxes) {
    const r = box.getBoundingClientRect(), cs = getComputedStyle(box);
    const inner = box.tagName === "MAIN"
      ? [r.left + parseFloat(cs.paddingLeft), r.right - parseFloat(cs.paddingRight)]
      : [r.left, r.right];
    for (const el of box.querySelectorAll("*")) {
      const e = el.getBoundingClientRect();
      if (e.width === 0 || e.height === 0 || e.width <= 2) continue;
      if (e.right > inner[1] + 1 || e.left < inner[0] - 1) {
        out.push(`${name(el)} (${Math.round(e.left)}..${Math.round(e.right)}px) sticks out ` +
                 `of ${name(box)} (${Math.round(inner[0])}..${Math.round(inner[1])}px)`);
      }
    }
  }
  for (const el of document.querySelectorAll("body *")) {
    if (["TEXTAREA", "INPUT", "SELECT", "IFRAME", "OPTION"].includes(el.tagName)) continue;
    const x = getComputedStyle(el).overflowX;
    if (["auto", "scroll", "hidden"].includes(x) && el.scrollWidth > el.clientWidth + 1) {
      out.push(`${name(el)} hides ${el.scrollWidth - el.clientWidth}px of its content`);
    }
  }
  return [...new Set(out)].slice(0, 12);
}"""


def stock(served: Served, mailbox: Mailbox) -> None:
    """A source "ap" of "ACME Beschaffung GmbH" fetched once from a mailbox of typical mail."""
    same = make_pdf("Wartung 2026-11")
    mails = [
        make_mail(
            from_="billing@lieferant.example",
            subject="Rechnung 471102",
            attachments=[Attachment("EN16931_Einfach.pdf", ZUGFERD.read_bytes())],
        ),
        make_mail(
            subject="XRechnung 123456",
            attachments=[Attachment("xrechnung.xml", XRECHNUNG.read_bytes(), "application/xml")],
        ),
        make_mail(
            from_=LONG_SENDER,
            subject="Ihre Sammelrechnung für November 2026 zum Wartungsvertrag aller Standorte",
            attachments=[Attachment(LONG_NAME, same)],
        ),
        make_mail(subject="Reminder", attachments=[Attachment("again.pdf", same)]),
        make_mail(from_="news@shop.example", subject="Our offers"),
    ]
    for mail in mails:
        mailbox.append("INBOX", mail)
    served.cli(
        *("source", "add", "ap", "--company", "ACME Beschaffung GmbH", "--host", "127.0.0.1"),
        *("--port", str(mailbox.server.imap_port), "--security", "none"),
        *("--username", mailbox.user, "--password-env", "PW"),
        env={"PW": mailbox.password},
    )
    served.cli("fetch", "ap", "--wait")  # serve may be fetching the new source already


def overflows(page: Any) -> list[str]:
    return list(page.evaluate(OVERFLOWS))


def doc_id(page: Any, served: Served, filename: str, where: str = "/documents?status=all") -> int:
    """The id of the document *filename*, as linked from the page at *where*."""
    page.goto(served.url + where)
    href = page.locator(f"a:text-is('{filename}')").first.get_attribute("href")
    return int(re.search(r"/documents/(\d+)", href).group(1))  # type: ignore[union-attr]


@pytest.fixture
def stocked(page: Any, served: Served, mailbox: Mailbox) -> Served:
    create_first_admin(page, served)
    stock(served, mailbox)
    return served


def test_every_screen_fits_at_1024_and_1440_px(page: Any, stocked: Served) -> None:
    served = stocked
    zugferd = doc_id(page, served, "EN16931_Einfach.pdf")
    copy = doc_id(page, served, "again.pdf", "/runs/1")  # an exact copy is not in the queue
    screens = {
        "sources": "/sources",
        "source-edit": "/sources/1",
        "documents": "/documents?status=all",
        "document": f"/documents/{zugferd}",
        "duplicate": f"/documents/{copy}",
        "log": "/sources/1/log",
        "run": "/runs/1",
        "notifications": "/notifications",
        "companies": "/companies",
        "users": "/users",
        "webhooks": "/webhooks",
        "account": "/account",
        "404": "/documents/999999",
    }
    found: dict[str, list[str]] = {}
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for name, path in screens.items():
            answer = page.goto(served.url + path)
            assert answer.status == (404 if name == "404" else 200), (name, answer.status)
            if name.startswith("document"):
                page.wait_for_timeout(500)  # the PDF viewer draws in its frame
            shot(page, f"screen-{name}-{width}")
            if problems := overflows(page):
                found[f"{name} at {width} px"] = problems
    assert not found, "\n".join(f"{k}: {'; '.join(v)}" for k, v in found.items())

    # the 404 page keeps the navigation of the signed-in user
    page.goto(served.url + "/documents/999999")
    assert page.locator("header nav a[href='/documents']").is_visible()
    assert "Sign out" in page.inner_text("header")
    assert page.inner_text("h1") == "Not found"
    # the PDF has the room of the page, not a narrow column
    page.goto(served.url + f"/documents/{zugferd}")
    pdf = page.locator("iframe.pdf").bounding_box()
    assert pdf is not None and pdf["width"] >= 0.55 * 1440
    # the source form's sections stand side by side on a wide screen, not in one long column
    page.goto(served.url + "/sources/1")
    details = page.locator("#source-form fieldset#details").bounding_box()
    connection = page.locator("#source-form fieldset#connection").bounding_box()
    assert details is not None and connection is not None
    assert connection["x"] >= details["x"] + details["width"] and connection["y"] == details["y"]


def test_values_read_as_people_read_them(chromium: Any, stocked: Served) -> None:
    served = stocked
    context = chromium.new_context(
        viewport={"width": 1280, "height": 900}, timezone_id="America/New_York"
    )
    context.set_default_timeout(30_000)
    page = context.new_page()
    try:
        page.goto(served.url + "/login")
        page.fill("input[name=email]", "admin@acme.example")
        page.fill("input[name=password]", "a long admin password")
        page.click("button[type=submit]")
        page.wait_for_url("**/sources")

        page.goto(served.url + "/documents")
        queue = page.inner_text("table.queue")
        assert "12.60 EUR" in queue and "529.87 EUR" in queue
        assert "E-invoice (PDF)" in queue and "E-invoice (XML)" in queue
        assert "XRechnung (UBL)" in queue
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d E[SD]T", queue), "times in the browser's zone"
        assert " UTC" not in queue
        shot(page, "screen-values-queue")

        page.click("text=xrechnung.xml")
        page.wait_for_url("**/documents/*")
        facts = page.inner_text("main")
        assert "XRechnung (UBL)" in facts and "12.60 EUR" in facts and "Invoice" in facts

        original = doc_id(page, served, LONG_NAME)
        page.goto(served.url + "/runs/1")
        assert f"exact duplicate of document #{original}" in page.inner_text("main")

        # a zone of one's own on the Account page wins over the browser's
        page.goto(served.url + "/account")
        page.select_option("#time_zone", "Asia/Tokyo")
        page.click("#save-time-zone")
        page.wait_for_url("**/account")
        assert "Times are shown in Asia/Tokyo" in page.inner_text("main")
        page.goto(served.url + "/documents")
        queue = page.inner_text("table.queue")
        assert " JST" in queue and " EST" not in queue and " EDT" not in queue
        shot(page, "screen-values-own-zone")
    finally:
        context.close()


def test_tick_two_documents_at_1024_px_and_mark_them_processed(page: Any, stocked: Served) -> None:
    served = stocked
    page.set_viewport_size({"width": 1024, "height": 800})
    page.goto(served.url + "/documents?sort=-amount")
    rows = page.locator("table.queue tbody tr")
    before = rows.count()
    assert before == 3  # the ZUGFeRD, the XRechnung and the long one; the copy is not queued
    assert "529.87 EUR" in rows.first.inner_text()  # highest amount first
    page.check("#tick-all")  # the head's box ticks every row, and clears them again
    assert page.locator("table.queue tbody input[type=checkbox]:checked").count() == before
    page.uncheck("#tick-all")
    assert page.locator("table.queue tbody input[type=checkbox]:checked").count() == 0
    ticked = [rows.nth(0), rows.nth(1)]
    names = [r.locator("td").nth(1).locator("a").inner_text() for r in ticked]
    for r in ticked:
        r.locator("input[type=checkbox]").check()
    shot(page, "screen-bulk-ticked-1024")
    assert overflows(page) == []
    page.click("#bulk-processed")
    page.wait_for_load_state()
    assert "2 documents are marked as processed" in page.inner_text("main")
    left = page.inner_text("table.queue")
    assert all(n not in left for n in names)
    assert page.locator("table.queue tbody tr").count() == before - 2
    shot(page, "screen-bulk-done-1024")

    # processing the last one from its page: the queue has nothing new left
    page.locator("table.queue tbody tr a").first.click()
    page.wait_for_url("**/documents/*")
    page.click("#mark-processed")
    page.wait_for_url("**/documents?sort=-amount")
    assert "No new documents are left in this queue" in page.inner_text("main")
