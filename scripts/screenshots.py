"""Screenshots of the main screens in given languages, for the README and for translators
(issue 20): the queue, an e-invoice's document page, the sources and a run, at 1,280 px, into
``docs/screenshots/<lang>-<screen>.png``.

    .venv/bin/python scripts/screenshots.py              # every language
    .venv/bin/python scripts/screenshots.py pl de        # these
    .venv/bin/python scripts/screenshots.py --out /tmp/shots --width 1024 nl

The data is real, made as the language tests make it (tests/i18n/screens.py): a private Dovecot
(the test harness's) with two supplier mails, an IMAP source fetching them, a webhook. Pages are
rendered by the app in this process, with the committed catalogues, and shown by Debian's
Chromium through Playwright (``/usr/bin/chromium``, or ``INVOICE_INBOX_CHROMIUM``); the browser
asks for the language with ``Accept-Language``, as a user's browser would.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for folder in ("src", "tests", "tests/i18n"):
    sys.path.insert(0, str(REPO / folder))

from harness.dns_server import DnsServer  # noqa: E402
from harness.dovecot import DovecotServer, Mailbox, find_dovecot  # noqa: E402
from invoice_inbox.i18n import LOCALES  # noqa: E402
from invoice_inbox.runtime.context import App  # noqa: E402
from invoice_inbox.web.app import create_app  # noqa: E402

CHROMIUM = Path(os.environ.get("INVOICE_INBOX_CHROMIUM", "/usr/bin/chromium"))
SCREENS = {  # name in the file → the page (ids filled from the seeded data)
    "queue": "/documents",
    "document": "/documents/{einvoice_document_id}",
    "sources": "/sources",
    "run": "/runs/{run_id}",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("languages", nargs="*", default=list(LOCALES), metavar="LANG")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args()
    unknown = [lang for lang in args.languages if lang not in LOCALES]
    if unknown:
        print(f"not a language of invoice-inbox: {', '.join(unknown)}", file=sys.stderr)
        return 2
    if find_dovecot() is None or not CHROMIUM.exists():
        print(f"needs dovecot and {CHROMIUM} (make test installs both)", file=sys.stderr)
        return 1
    import screens
    from playwright.sync_api import sync_playwright

    from web.conftest import Web

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ii-shots-") as tmp, DnsServer() as dns:
        os.environ["INVOICE_INBOX_DNS_SERVER"] = dns.address
        mail_dir = Path(tmp) / "dovecot"
        mail_dir.mkdir(mode=0o755)
        Path(tmp).chmod(0o755)
        with DovecotServer(mail_dir, {}, pool_size=2) as dovecot:
            user, password = dovecot.new_user()
            app = App.open(Path(tmp) / "data")
            try:
                web = Web(app, create_app(app))
                browser, ids, _ = screens.seed(web, Mailbox(user, password, dovecot))
                with sync_playwright() as p:
                    chromium = p.chromium.launch(
                        executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
                    )
                    for lang in args.languages:
                        browser.headers["Accept-Language"] = lang
                        context = chromium.new_context(
                            viewport={"width": args.width, "height": 900}, locale=lang
                        )
                        page = context.new_page()
                        screens.route_to(page, browser)
                        for name, route in SCREENS.items():
                            url = route.format(**ids)
                            page.goto(f"{screens.ADDRESS}{url}")
                            path = args.out / f"{lang}-{name}.png"
                            page.screenshot(path=str(path), full_page=True)
                            print(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
                        context.close()
                    chromium.close()
            finally:
                app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
