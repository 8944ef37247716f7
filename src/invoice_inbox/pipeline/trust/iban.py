"""The IBAN a document asks payment to: the e-invoice's ``seller_iban`` first, else the first
valid IBAN in the text layer of the PDF.

IBAN candidates in text may be written in groups (spaces, dots, hyphens), after an "IBAN:"
label or not, in any country's format; each is validated by schwifty (country, length, format
and checksum), so a number that merely looks like one is never taken.

Reading a PDF's text is bounded: only PDFs up to ``MAX_PDF_BYTES``, the first ``PAGES`` pages,
content streams capped as for the e-invoice reader, at most ``MAX_CHARS`` characters and a time
budget between pages. A PDF pypdf cannot read has no IBAN; nothing here raises for bad input.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from invoice_inbox.pipeline.einvoice.pdf import CONTENT_NAMES
from invoice_inbox.pipeline.limits import DEFAULT_LIMITS, MB, Limits

if TYPE_CHECKING:
    from invoice_inbox.pipeline.einvoice.model import EInvoice

PAGES = 3  # pages of a PDF whose text is read
MAX_PDF_BYTES = 20 * MB  # larger PDFs are not read for an IBAN
MAX_CHARS = 200_000  # text taken from one PDF
SECONDS = 2.0  # time budget for one PDF's text, checked between pages
EOF_WITHIN = 64 * 1024  # a PDF's %%EOF lies this near its end, or it is not read for text
MAX_PAGE_CONTENT = 4 * MB  # a page whose content stream is larger is skipped

# a country code, two check digits, then 10-32 letters or digits, single separators between
_CANDIDATE = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2}[0-9]{2}(?:[ .\-\u00a0]?[A-Za-z0-9]){10,32})")
_SEPARATORS = re.compile(r"[\s.\-]")
_ACCOUNT = re.compile(r"^[A-Z0-9]{5,34}$")


# A page has text only through its /Contents, which sits in the PDF's uncompressed bytes or in
# an object stream, whose dictionary, uncompressed, says /Type /ObjStm. Without either name
# pypdf finds no page content: the reader and its page tree (most of a content-less PDF's
# time here) are not built.
_MAY_HAVE_CONTENT = re.compile(b"/(?:" + CONTENT_NAMES + b")")


def normalize(value: str | None) -> str | None:
    """*value* as a compact, upper-case IBAN when it is a valid one, else None."""
    if not value:
        return None
    compact = _SEPARATORS.sub("", value).upper()
    if not 15 <= len(compact) <= 34:
        return None
    from schwifty import IBAN  # imported by the first candidate (a twentieth of a second)
    from schwifty.exceptions import SchwiftyException

    try:
        return IBAN(compact).compact
    except (SchwiftyException, ValueError):
        return None


def _first_valid(chars: str) -> str | None:
    """The IBAN at the start of *chars* (compact), trying each length a country allows."""
    for end in range(min(len(chars), 34), 14, -1):
        found = normalize(chars[:end])
        if found:
            return found
    return None


def ibans_in_text(text: str) -> list[str]:
    """The valid IBANs in *text*, compact and upper case, in order, each once."""
    found: list[str] = []
    for m in _CANDIDATE.finditer(text or ""):
        iban = _first_valid(_SEPARATORS.sub("", m.group(1)).upper())
        if iban and iban not in found:
            found.append(iban)
    return found


def _page_texts(data: bytes, limits: Limits, content: bool | None = None) -> Iterator[str]:
    """The text of each of the first pages of a PDF, within the bounds above; nothing when
    unreadable. Only ``MemoryError`` passes, for the decide worker to name the memory limit.
    *content*: ``einvoice.pdf.marks(data).content`` when the caller has it."""
    if len(data) > MAX_PDF_BYTES or not data.lstrip()[:1024].startswith(b"%PDF"):
        return
    if content is False:  # known without a look: before the backward search for %%EOF
        return
    if data.rfind(b"%%EOF", max(0, len(data) - EOF_WITHIN)) < 0:
        return  # no end marker: pypdf would search the whole file backwards, line by line
    if content is None and _MAY_HAVE_CONTENT.search(data) is None:
        return  # no page has content
    # the e-invoice reader's bounded pypdf reading, so that both read a PDF the same way;
    # imported by the first PDF read for text, as pypdf itself
    from pypdf import apply_configuration

    from invoice_inbox.pipeline.einvoice.pdf_reader import (
        _BoundedReader,
        _pypdf_limits,
        _quiet_pypdf,
    )

    deadline = time.monotonic() + SECONDS
    size = 0
    with _quiet_pypdf(), apply_configuration(**_pypdf_limits(limits)):
        try:
            reader = _BoundedReader(data, limits.pdf_object_bytes)
            if reader.is_encrypted:
                reader.decrypt("")
            for index, page in enumerate(reader.pages):
                if index >= PAGES or time.monotonic() > deadline or size >= MAX_CHARS:
                    break
                contents = page.get_contents()
                if contents is None or len(contents.get_data()) > MAX_PAGE_CONTENT:
                    continue
                text = (page.extract_text() or "")[: MAX_CHARS - size]
                size += len(text)
                yield text
        except MemoryError:
            raise
        except Exception:  # a limit, a hostile or broken PDF: no (more) text
            return


def pdf_text(data: bytes, limits: Limits = DEFAULT_LIMITS) -> str:
    """The text layer of the first pages of a PDF, within the bounds above; "" when unreadable."""
    return "\n".join(_page_texts(data, limits))


def einvoice_iban(invoice: EInvoice | None) -> str | None:
    """The e-invoice's payee account: a valid IBAN compact, else the account as written (some
    e-invoices carry a national account number), else None."""
    if invoice is None or not invoice.seller_iban:
        return None
    valid = normalize(invoice.seller_iban)
    if valid:
        return valid
    compact = _SEPARATORS.sub("", invoice.seller_iban).upper()
    return compact if _ACCOUNT.match(compact) else None


def document_iban(
    data: bytes,
    invoice: EInvoice | None,
    *,
    pdf: bool,
    limits: Limits = DEFAULT_LIMITS,
    content: bool | None = None,
) -> str | None:
    """The IBAN of one document: the e-invoice's, else the first one in a PDF's text.
    *content*: ``einvoice.pdf.marks(data).content`` when the caller has it."""
    found = einvoice_iban(invoice)
    if found or not pdf:
        return found
    for text in _page_texts(data, limits, content):  # page by page: most say it on the first
        ibans = ibans_in_text(text)
        if ibans:
            return ibans[0]
    return None


def mask(iban: str | None) -> str:
    """``DE89370400440532013000`` -> ``DE89 …3000``: enough to tell two accounts apart."""
    if not iban:
        return ""
    return f"{iban[:4]} …{iban[-4:]}" if len(iban) > 8 else iban
