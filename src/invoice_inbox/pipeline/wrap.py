"""Treat a bare document file (a PDF, an e-invoice XML, an archive, a winmail.dat) as a mail that
carries it, so ``inspect`` judges a file exactly as the pipeline would judge it attached."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP

from invoice_inbox.pipeline import sniff

_FILE_TYPES = (sniff.PDF, sniff.XML, sniff.ZIP, sniff.TNEF, *sniff.IMAGES)


def is_document_file(data: bytes) -> bool:
    """True for the bytes of a file we read as a document or container, not a mail."""
    return sniff.media_type(data) in _FILE_TYPES


def wrap_in_mail(filename: str, data: bytes) -> bytes:
    """A minimal mail from ``inspect@localhost`` with *data* attached as *filename*."""
    msg = EmailMessage()
    msg["From"] = "inspect@localhost.invalid"
    msg["To"] = "inbox@localhost.invalid"
    msg["Subject"] = filename
    msg.set_content(f"{filename} attached.")
    msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=filename)
    return msg.as_bytes(policy=SMTP)
