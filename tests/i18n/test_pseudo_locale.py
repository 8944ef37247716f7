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
from urllib.parse import urlsplit
from zoneinfo import available_timezones

import pseudo
from babel.dates import get_day_names, get_month_names

from builders import Attachment, make_mail, make_pdf
from conftest import PSEUDO_SLOT
from corpus import CORPUS
from harness.dovecot import Mailbox
from invoice_inbox.i18n.formats import LANGUAGE_NAMES
from invoice_inbox.runtime import runner
from invoice_inbox.store.models import Company, Document, Run, Source, User
from invoice_inbox.store.models_events import Webhook
from invoice_inbox.store.models_trust import Supplier
from invoice_inbox.web import pages
from invoice_inbox.web.pages import einvoice_view
from web.conftest import Browser, Web

UBL = CORPUS / "xrechnung-testsuite__01.02a-INVOICE_ubl.xml"
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
        words |= {w.strip(".") for w in get_month_names(width, locale=PSEUDO_SLOT).values()}
        words |= {w.strip(".") for w in get_day_names(width, locale=PSEUDO_SLOT).values()}
    for zone in available_timezones():
        words |= set(re.split(r"[/_+\-0-9]+", zone))
    return {w for w in words if w}


def _xml_words(path: Path) -> set[str]:
    """The words of an e-invoice's values (shown on its pages as data)."""
    values = re.findall(r">([^<>]+)<", path.read_text(encoding="utf-8"))
    return {w for v in values for w in re.findall(r"[A-Za-z][A-Za-z'’-]*[A-Za-z]", v)}


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


def _seed(web: Web, mailbox: Mailbox) -> tuple[Browser, dict[str, int], list[str]]:
    """An admin, a clerk, a source with a run that filed an e-invoice and a PDF, a webhook;
    the signed-in admin's browser, the ids each route needs, and the seeded data."""
    web.user("admin@x.test", companies=("ACME",))
    web.user("clerk@x.test", "clerk", ("ACME",))
    for raw in (
        make_mail(
            subject="XRechnung 123456", attachments=[Attachment("123456.xml", UBL.read_bytes())]
        ),
        make_mail(
            subject="Invoice 77", attachments=[Attachment("INV-77.pdf", make_pdf("Invoice 77"))]
        ),
    ):
        mailbox.append("INBOX", raw)
    web.imap_source("ap-inbox", mailbox, "ACME")
    runner.fetch(web.app, "ap-inbox")
    browser = web.browser("admin@x.test")
    hook = browser.form(
        "/webhooks",
        {
            "company_id": web.company_id("ACME"),
            "url": "https://erp.example/hook",
            "events": ["document.created"],
        },
    )
    assert hook.status_code == 201, hook.text
    ids: dict[str, int] = {}
    with web.app.db.session() as s:
        for name, model in (
            ("company_id", Company),
            ("document_id", Document),
            ("run_id", Run),
            ("source_id", Source),
            ("supplier_id", Supplier),
            ("user_id", User),
            ("webhook_id", Webhook),
        ):
            row = s.query(model).order_by(model.id.desc()).first()
            if row is not None:
                ids[name] = row.id
        names = [row.name for row in s.query(Supplier)] + [
            row.filename for row in s.query(Document)
        ]
    data = ["admin@x.test", "clerk@x.test", "ACME", "ap-inbox", "XRechnung 123456", "Invoice 77"]
    data += ["https://erp.example/hook", mailbox.user, "127.0.0.1", "INBOX", "acme-import", *names]
    # providers' own names for their services (presets)
    data += ["Microsoft 365 / Exchange Online", "Gmail / Google Workspace", "iCloud Mail"]
    return browser, ids, data


def test_every_screen_is_translated_in_the_pseudo_locale(
    web: Web, mailbox: Mailbox, pseudo_locale: str
) -> None:
    allowed = PRODUCT_WORDS | _format_words() | _xml_words(UBL)
    asks = {"Accept-Language": pseudo_locale}
    screens: dict[str, str] = {}
    anonymous = web.client()
    setup = anonymous.get("/setup", headers=asks)
    assert setup.status_code == 200, setup.text
    screens["/setup"] = setup.text

    browser, ids, data = _seed(web, mailbox)
    screens["/login"] = web.client().get("/login", headers=asks).text
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
        screens[route] = r.text
    screens["(error page)"] = browser.get("/documents/999999").text
    assert not missing, f"no seeded data for {missing}"

    report = []
    for route, html in screens.items():
        for text in pseudo.leftovers(html, allowed, data):
            report.append(f"{route}\t{text}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "untranslated.txt").write_text("".join(f"{line}\n" for line in report))
    assert not report, f"{len(report)} untranslated texts on {len(screens)} screens:\n" + "\n".join(
        report[:60]
    )


# the screens a clerk lives in, checked for layout at a small laptop's width
MAIN_SCREENS = [
    "/documents",
    "/documents/{document_id}",
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
# what overflows: the page wider than the window, or a cell, button, label or heading whose
# content is wider than its box (inline elements have no box of their own: skipped)
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
  return found;
}"""


def test_main_screens_hold_text_40_percent_longer(
    web: Web, mailbox: Mailbox, pseudo_locale: str, chromium: Any
) -> None:
    browser, ids, _ = _seed(web, mailbox)
    browser.headers["Accept-Language"] = pseudo_locale
    context = chromium.new_context(viewport={"width": 1024, "height": 800})
    page = context.new_page()

    def answer(route: Any) -> None:  # every request is answered by the app in this process
        request = route.request
        url = urlsplit(request.url)
        sent = {k: v for k, v in request.headers.items() if k.lower() in _FORWARDED}
        r = browser.request(
            request.method,
            url.path + (f"?{url.query}" if url.query else ""),
            content=request.post_data_buffer,
            headers=sent,
        )
        route.fulfill(status=r.status_code, headers=dict(r.headers), body=r.content)

    page.route("**/*", answer)
    problems = []
    try:
        for route in MAIN_SCREENS:
            url = re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), route)
            page.goto(f"{_NEVER_CONTACTED}{url}")
            problems += [f"{route}\t{p}" for p in page.evaluate(OVERFLOWS)]
            shot = ARTIFACTS / "screenshots" / f"pseudo-{_file_name(route)}.png"
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)
    finally:
        context.close()
    (ARTIFACTS / "overflows.txt").write_text("".join(f"{p}\n" for p in problems))
    assert not problems, "overflowing at 1024 px with 40 % longer text:\n" + "\n".join(problems)


_FORWARDED = {"content-type", "hx-request", "hx-current-url", "hx-target", "hx-trigger"}
# the pages' address for Chromium: every request to it is routed to the app in this process
_NEVER_CONTACTED = "http://127.0.0.1:9"


def _file_name(route: str) -> str:
    return re.sub(r"[^a-z]+", "-", route.replace("_id", "")).strip("-") or "home"
