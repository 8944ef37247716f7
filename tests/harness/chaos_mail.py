"""The fault-injection rig's mail and configuration: mailboxes full of invoice mail (each PDF
unique, some sent again in another mail of the same company), not-invoice mail from allowed and
unknown senders, and what the end state must be.

Mailbox *i* belongs to company ``i // boxes_per_company``, so a PDF repeated in the sibling
mailbox tests the company-wide de-duplication. Per mailbox:

- ``invoices`` mails from the allowed supplier, each with its own PDF, of which every
  ``dup_every``-th carries instead the PDF of an earlier invoice of the same company;
- one exact copy of an earlier mail (the same raw bytes again);
- ``extra`` mails that are not invoices: half from the supplier without attachment, half from
  an unknown sender with a (unique) PDF.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builders import Attachment, make_mail, make_pdf

SUPPLIER = "billing@supplier-{company}.example"
STRANGER = "someone@unknown-{box}.example"
IMPORTED, NOT_IMPORTED = "Imported", "Not imported"


@dataclass
class Box:
    """One mailbox: its IMAP user, its company, its mail and the folder each mail must end in."""

    user: str
    password: str
    company: str
    mails: list[bytes] = field(default_factory=list)
    expected: dict[str, int] = field(default_factory=dict)  # folder -> mails

    def add(self, raw: bytes, folder: str) -> None:
        self.mails.append(raw)
        self.expected[folder] = self.expected.get(folder, 0) + 1

    @property
    def source(self) -> str:
        return f"box-{self.user}"


@dataclass
class Corpus:
    boxes: list[Box]
    queue: dict[str, set[str]]  # company -> SHA-256 of every PDF that must be queued once

    @property
    def mails(self) -> int:
        return sum(len(b.mails) for b in self.boxes)

    @property
    def invoices(self) -> int:
        return sum(len(q) for q in self.queue.values())


def _pdf_mail(sender: str, subject: str, pdf: bytes, n: int) -> bytes:
    return make_mail(
        from_=sender,
        subject=subject,
        message_id=f"<{hashlib.sha256(subject.encode()).hexdigest()[:24]}.{n}@chaos.test>",
        attachments=[Attachment(f"{subject.replace(' ', '-')}.pdf", pdf)],
    )


def make_corpus(
    users: list[tuple[str, str]],
    *,
    invoices: int,
    extra: int,
    boxes_per_company: int = 2,
    dup_every: int = 10,
) -> Corpus:
    """The mail for mailboxes *users* (IMAP user, password)."""
    boxes: list[Box] = []
    queue: dict[str, set[str]] = {}
    earlier: dict[str, list[bytes]] = {}  # company -> its PDFs so far
    for b, (user, password) in enumerate(users):
        company = f"Chaos Company {b // boxes_per_company:02d}"
        box = Box(user, password, company)
        queued = queue.setdefault(company, set())
        pdfs = earlier.setdefault(company, [])
        supplier = SUPPLIER.format(company=b // boxes_per_company)
        for j in range(invoices):
            subject = f"Invoice {b:02d}-{j:04d}"
            if j and j % dup_every == 0 and pdfs:
                pdf = pdfs[(b * 7 + j) % len(pdfs)]  # sent again: queued only once
            else:
                pdf = make_pdf(f"{company}\n{subject}\nbox {user}")
                pdfs.append(pdf)
                queued.add(hashlib.sha256(pdf).hexdigest())
            box.add(_pdf_mail(supplier, subject, pdf, j), IMPORTED)
        if box.mails:
            box.add(box.mails[len(box.mails) // 2], IMPORTED)  # the same raw mail twice
        for k in range(extra):
            if k % 2:
                pdf = make_pdf(f"Not for us {user} {k}")
                raw = _pdf_mail(STRANGER.format(box=b), f"Offer {b}-{k}", pdf, k)
            else:
                raw = make_mail(from_=supplier, subject=f"Hello {b}-{k}", body="No invoice here.")
            box.add(raw, NOT_IMPORTED)
        boxes.append(box)
    return Corpus(boxes, queue)


def source_values(box: Box, port: int, *, instant: bool = True) -> dict[str, Any]:
    """``runtime.configure.create`` values of *box*'s source, reading through *port* (the
    proxy): plain IMAP, the supplier allowed, fetched every minute, never switched off for the
    failures the rig causes on purpose."""
    company_no = int(box.company.rsplit(" ", 1)[1])
    return {
        "name": box.source,
        "company": box.company,
        "provider": "imap",
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "username": box.user,
        "password": box.password,
        "folders": ["INBOX"],
        "move_imported_to": IMPORTED,
        "move_not_imported_to": NOT_IMPORTED,
        "allowed_senders": [SUPPLIER.format(company=company_no)],
        "schedule": "every 1m",
        "instant": instant,
        "max_failures": 1000,
    }


def configure(
    data_dir: Path, corpus: Corpus, port: int, webhook_url: str, *, instant: bool = True
) -> None:
    """Companies, sources and one ``document.created`` webhook per company, in the database
    that ``INVOICE_INBOX_DATABASE_URL`` names (the data dir holds the secret key)."""
    from invoice_inbox.delivery import egress, webhook_subscriptions
    from invoice_inbox.runtime import configure as conf
    from invoice_inbox.runtime.context import App
    from invoice_inbox.store import sources

    egress.allow_private(True)  # the receiver is on 127.0.0.1; only while it is configured
    app = App.open(data_dir)
    try:
        with app.db.session() as s:
            for box in corpus.boxes:
                conf.create(app, s, source_values(box, port, instant=instant))
            s.flush()
            for company in corpus.queue:
                webhook_subscriptions.create(
                    s, app.secrets, sources.company(s, company), webhook_url, ["document.created"]
                )
    finally:
        app.close()
        egress.allow_private(False)  # the pytest process's later tests refuse such URLs again
