"""Every screen in a pseudo-locale (issue 20): each message of ``messages.pot`` accented, 40 %
longer and bracketed, installed as a catalogue for the test. A screen's visible text (text
nodes and shown attributes, not scripts, not the data seeded here) must hold no English word
left untranslated: a hard-coded string fails, listed with its page. The list is also written to
``$INVOICE_INBOX_ARTIFACTS/untranslated.txt`` (default ``artifacts/``) for whoever fixes them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from zoneinfo import available_timezones

import pseudo
import screens
from babel.dates import get_day_names, get_month_names

from harness.dovecot import Mailbox
from invoice_inbox.i18n.formats import LANGUAGE_NAMES
from invoice_inbox.web import pages
from invoice_inbox.web.pages import einvoice_view
from web.conftest import Web

ARTIFACTS = Path(os.environ.get("INVOICE_INBOX_ARTIFACTS", "artifacts"))
# routes that answer no page (files, redirects to a provider)
NOT_SCREENS = {
    "/documents/{document_id}/file",
    "/documents/{document_id}/mail",
    "/documents/{document_id}/view.pdf",
    "/oauth/callback",
    "/sources/{source_id}/consent",
    "/setup",  # before the first user only: visited first
    "/login",  # signed out only: visited first
}
# names that are the same in every language: products, formats, protocols, units
PRODUCT_WORDS = set(
    [
        "invoice-inbox",
        "IMAP",
        "POP3",
        "PDF",
        "XML",
        "UBL",
        "CII",
        "API",
        "URL",
        "IBAN",
        "BIC",
        "KSeF",
        "ZUGFeRD",
        "Factur-X",
        "XRechnung",
        "Peppol",
        "BIS",
        "PINT",
        "Gmail",
        "Google",
        "Microsoft",
        "OAuth",
        "SMTP",
        "DKIM",
        "SPF",
        "DMARC",
        "JSON",
        "CSV",
        "HTML",
        "HTTP",
        "HTTPS",
        "TLS",
        "STARTTLS",
        "SSL",
        "UTC",
        "CET",
        "CEST",
        "GMT",
        "KB",
        "MB",
        "GB",
        "ID",
        "UN",
        "CEFACT",
        "EN",
        "Order-X",
        "ok",
        "SHA",
        "Message-ID",
        "BEGIN",
        "CERTIFICATE",
        "END",
    ]
) | set(LANGUAGE_NAMES.values())


def _format_words() -> set[str]:
    """Words Babel writes in the slot's dates (months, days) and zone names of the zone menu."""
    words: set[str] = set()
    for width in ("abbreviated", "wide"):
        words |= {w.strip(".") for w in get_month_names(width, locale=pseudo.SLOT).values()}
        words |= {w.strip(".") for w in get_day_names(width, locale=pseudo.SLOT).values()}
    for zone in available_timezones():
        words |= set(re.split(r"[/_+\-0-9]+", zone))
    return {w for w in words if w}


def _xml_values(path: Path) -> list[str]:
    """An e-invoice's values, texts and attributes (shown on its pages as data)."""
    xml = path.read_text(encoding="utf-8")
    found = re.findall(r">([^<>]+)<", xml) + re.findall(r'="([^"]+)"', xml)
    # not the short codes ("S", "DE", "7"): as text they would be cut out of words too
    return [v.strip() for v in found if len(v.strip()) >= 3 and re.search(r"[^\W\d_]", v)]


def _xml_words(path: Path) -> set[str]:
    return {w for v in _xml_values(path) for w in re.findall(r"[^\W\d_]+", v)}


def _routes() -> list[str]:
    def walk(routes: list[object]) -> list[str]:
        found = []
        for r in routes:
            if hasattr(r, "original_router"):
                found += walk(r.original_router.routes)
            elif "GET" in (getattr(r, "methods", None) or ()):
                found.append(str(getattr(r, "path", "")))
        return found

    return sorted(
        {p for router in [*pages.ROUTERS, einvoice_view.router] for p in walk(router.routes)}
    )


def test_every_screen_is_translated_in_the_pseudo_locale(
    web: Web, mailbox: Mailbox, pseudo_locale: str
) -> None:
    allowed = PRODUCT_WORDS | _format_words() | _xml_words(screens.UBL)
    asks = {"Accept-Language": pseudo_locale}
    pages_seen: dict[str, str] = {}
    anonymous = web.client()
    setup = anonymous.get("/setup", headers=asks)
    assert setup.status_code == 200, setup.text
    pages_seen["/setup"] = setup.text

    browser, ids, data = screens.seed(web, mailbox)
    data += _xml_values(screens.UBL)
    pages_seen["/login"] = web.client().get("/login", headers=asks).text
    browser.headers.update(asks)
    missing = []
    for route in _routes():
        if route in NOT_SCREENS:
            continue
        params = re.findall(r"\{(\w+)\}", route)
        if any(p not in ids for p in params):
            missing.append(route)
            continue
        url = re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), route)
        r = browser.get(url)
        assert r.status_code == 200, f"{url}: {r.status_code} {r.text[:300]}"
        pages_seen[route] = r.text
    einvoice = browser.get(f"/documents/{ids['einvoice_document_id']}")
    assert einvoice.status_code == 200
    pages_seen["/documents/{document_id} (an e-invoice)"] = einvoice.text
    pages_seen["(error page)"] = browser.get("/documents/999999").text
    assert not missing, f"no seeded data for {missing}"

    report = []
    for route, html in pages_seen.items():
        for text in pseudo.leftovers(html, allowed, data):
            report.append(f"{route}\t{text}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "untranslated.txt").write_text("".join(f"{line}\n" for line in report))
    summary = f"{len(report)} untranslated texts on {len(pages_seen)} screens:\n"
    assert not report, summary + "\n".join(report[:60])


# the screens a clerk lives in, checked for layout at a small laptop's width
MAIN_SCREENS = [
    "/documents",
    "/documents/{document_id}",
    "/documents/{einvoice_document_id}",
    "/sources",
    "/sources/{source_id}",
    "/sources/new",
    "/runs/{run_id}",
    "/suppliers",
    "/suppliers/{supplier_id}",
    "/account",
    "/users",
    "/users/{user_id}",
    "/webhooks",
    "/companies",
    "/notifications",
]
# what overflows: the page wider than the window, a cell, button, label or heading whose
# content is wider than its box (inline elements have no box of their own: skipped), or a
# header, label or button that breaks one of its words across lines
OVERFLOWS = """() => {
  const found = [];
  const root = document.documentElement;
  if (root.scrollWidth > window.innerWidth) found.push(`page: ${root.scrollWidth}px wide`);
  const boxes = 'td, th, button, a.button, label, .badge, nav a, h1, h2, h3, dt, dd, summary';
  for (const el of document.querySelectorAll(boxes)) {
    if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1) {
      const text = (el.innerText || '').trim().replace(/\\s+/g, ' ').slice(0, 80);
      found.push(`${el.tagName.toLowerCase()} ${el.scrollWidth}>${el.clientWidth}px: ${text}`);
    }
  }
  // a word of the interface broken across lines ("Unternehme|n") in a header, label or button
  const labels = 'th, button, a.button, label, .badge, nav a, dt, summary, h1, h2, h3';
  for (const el of document.querySelectorAll(labels)) {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const m of node.data.matchAll(/\\S{2,}/g)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
        if (tops.size > 1) found.push(`${el.tagName.toLowerCase()} breaks the word ${m[0]}`);
      }
    }
  }
  return found;
}"""


def test_main_screens_hold_text_40_percent_longer(
    web: Web, mailbox: Mailbox, pseudo_locale: str, chromium: Any
) -> None:
    browser, ids, _ = screens.seed(web, mailbox)
    browser.headers["Accept-Language"] = pseudo_locale
    context = chromium.new_context(viewport={"width": 1024, "height": 800}, locale=pseudo_locale)
    page = context.new_page()

    screens.route_to(page, browser)
    problems = []
    try:
        for route in MAIN_SCREENS:
            url = re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), route)
            shown = page.goto(f"{screens.ADDRESS}{url}")
            assert shown is not None and shown.ok, f"{url}: {shown and shown.status}"
            problems += [f"{route}\t{p}" for p in page.evaluate(OVERFLOWS)]
            shot = ARTIFACTS / "screenshots" / f"pseudo-{_file_name(route)}.png"
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)
    finally:
        context.close()
    (ARTIFACTS / "overflows.txt").write_text("".join(f"{p}\n" for p in problems))
    assert not problems, "overflowing at 1024 px with 40 % longer text:\n" + "\n".join(problems)


def _file_name(route: str) -> str:
    return re.sub(r"[^a-z]+", "-", route.replace("_id", "")).strip("-") or "home"
