"""Find the documents in a parsed message: PDFs, e-invoices (XML, or embedded in a PDF), files
inside ZIP archives and Outlook's winmail.dat, and optionally scanned images.

Every file is judged by its bytes. Containers are opened in memory, one level at a time, up to
``Options.max_depth`` levels; their entry names are only ever used as display names, sanitised.
Each part that does not become a document is listed with the reason. A part that cannot be read
at all (damaged encoding, a refused archive, hostile XML) raises ``Unreadable``: the message is
then quarantined with that reason rather than imported without it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from functools import cached_property

from invoice_inbox.pipeline import containers, einvoice, mime, sniff
from invoice_inbox.pipeline.einvoice.pdf import marks as pdf_marks
from invoice_inbox.pipeline.filenames import sanitize
from invoice_inbox.pipeline.limits import DEFAULT_LIMITS, LimitExceeded, Limits
from invoice_inbox.pipeline.trust import iban


class Kind(StrEnum):
    """How a document was found; shown to users and stored on the document."""

    PDF = "pdf"
    EINVOICE_PDF = "einvoice_pdf"  # a PDF carrying e-invoice XML (ZUGFeRD, Factur-X)
    EINVOICE_XML = "einvoice_xml"  # XRechnung, Peppol, UBL, CII, KSeF
    BODY_PDF = "body_pdf"  # the mail text, rendered
    IMAGE = "image"  # a scan, when the source imports images
    FILE = "file"  # any other attachment, when the source does not require PDFs


@dataclass(frozen=True)
class Document:
    """One file taken from a message, with what we learned about it."""

    filename: str
    media_type: str
    data: bytes = field(repr=False)
    kind: str = Kind.PDF
    einvoice: einvoice.EInvoice | None = None
    rule: str | None = None  # the import rule that matched the mail
    origin_sender: str | None = None  # the sender of the forwarded mail it came in
    origin_date: datetime | None = None
    damaged: bool = False  # its base64 was damaged: imported as far as it could be decoded
    # the IBAN it asks payment to: the e-invoice's, else the first valid one in a PDF's text
    iban: str | None = None
    # the size of ``data`` when the bytes are not carried: a decide worker stored them in the
    # blob folder and sent the document without them (``runtime.decision_wire``)
    stored_size: int | None = field(default=None, repr=False, compare=False)

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        return len(self.data) if self.stored_size is None else self.stored_size

    def with_rule(self, rule: str | None) -> Document:
        if not rule:
            return self
        ruled = replace(self, rule=rule)
        digest = self.__dict__.get("sha256")
        if digest is not None:  # the same bytes: their digest, computed once
            ruled.__dict__["sha256"] = digest
        return ruled


@dataclass(frozen=True, slots=True)
class Skipped:
    """A part, or a file inside a container, that did not become a document, and why."""

    name: str
    reason: str


class Unreadable(ValueError):
    """A part that cannot be read; the sentence names it. The message goes to quarantine."""


@dataclass(frozen=True, kw_only=True)
class Options:
    allow_images: bool = False  # JPEG, PNG and TIFF attachments become documents
    any_attachment: bool = False  # images and other attachments become documents too
    max_depth: int = 3  # archives inside archives (and winmail.dat inside them)
    zip_limits: containers.ZipLimits = field(default_factory=containers.ZipLimits)
    limits: Limits = DEFAULT_LIMITS  # embedded files in PDFs


@dataclass
class Extraction:
    documents: list[Document] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    tnef_html: str | None = None  # the HTML body Outlook packed into a winmail.dat, if any
    unpacked: int = 0  # bytes taken out of archives so far, over all levels


@dataclass(frozen=True, slots=True)
class _File:
    """A candidate file: a MIME part or an entry of a container."""

    label: str  # safe display name, with the container path ("a.zip/b.pdf")
    filename: str  # safe file name for the document
    declared: str  # the declared media type, or "" when a container gives none
    data: bytes
    origin: mime.Headers | None
    inline: bool = False  # referenced from the mail text (cid:), e.g. a logo
    damaged: bool = False


def extract(parsed: mime.ParsedMessage, options: Options | None = None) -> Extraction:
    """All documents of a message in document order, the same bytes only once."""
    options = options or Options()
    out = Extraction()
    for index, part in enumerate(parsed.parts, start=1):
        if part.is_body:
            continue
        fallback = f"attachment-{index}"
        name = sanitize(part.filename, default=fallback)
        if not part.data:
            if part.is_attachment:
                out.skipped.append(Skipped(name, "the attachment is empty"))
            continue
        f = _File(
            label=name,
            filename=name,
            declared=part.content_type,
            data=part.data,
            origin=part.origin,
            inline=bool(part.content_id) and part.disposition != "attachment",
            damaged=part.damaged,
        )
        _classify(f, 0, options, out)
    seen: set[str] = set()
    unique = []
    for doc in out.documents:
        if doc.sha256 not in seen:  # the same file attached twice is one document
            seen.add(doc.sha256)
            unique.append(doc)
    out.documents = unique
    return out


def _classify(f: _File, depth: int, options: Options, out: Extraction) -> None:
    media = sniff.media_type(f.data)
    if f.damaged and media is None:  # nothing recognisable could be decoded
        raise _damaged(f)
    if sniff.is_never_a_document(f.filename, f.data, media):
        out.skipped.append(Skipped(f.label, "executable, script or macro file: never a document"))
    elif media == sniff.PDF:
        _pdf(f, options, out)
    elif media == sniff.ZIP:
        _archive(f, depth, options, out)
    elif media == sniff.TNEF:
        _tnef(f, depth, options, out)
    elif media == sniff.XML:
        _xml(f, out)
    elif media in sniff.IMAGES:
        if not (options.allow_images or options.any_attachment):
            out.skipped.append(Skipped(f.label, "image (this source does not import images)"))
        elif f.inline:
            out.skipped.append(Skipped(f.label, "image shown in the mail text"))
        else:
            out.documents.append(_document(f, media, Kind.IMAGE))
    elif options.any_attachment:
        out.documents.append(_document(f, f.declared or "application/octet-stream", Kind.FILE))
    else:
        what = f.declared or "unknown type"
        out.skipped.append(Skipped(f.label, f"not a PDF or e-invoice ({what})"))


def _damaged(f: _File) -> Unreadable:
    return Unreadable(f"{f.label}: the attachment's base64 encoding is damaged; it cannot be read")


def _document(
    f: _File,
    media: str,
    kind: Kind,
    invoice: einvoice.EInvoice | None = None,
    limits: Limits = DEFAULT_LIMITS,
    content: bool | None = None,
) -> Document:
    origin = f.origin
    pdf = media == sniff.PDF
    return Document(
        filename=f.filename,
        media_type=media,
        data=f.data,
        kind=kind,
        einvoice=invoice,
        origin_sender=origin.sender if origin else None,
        origin_date=origin.date if origin else None,
        damaged=f.damaged,
        iban=iban.document_iban(f.data, invoice, pdf=pdf, limits=limits, content=content),
    )


def _pdf(f: _File, options: Options, out: Extraction) -> None:
    found = pdf_marks(f.data)  # one pass over the bytes for both readers
    try:
        invoice = einvoice.read_pdf(f.data, options.limits, embeds=found.embeds)
    except LimitExceeded as exc:  # quarantines the mail; the sentence names the file
        raise LimitExceeded(exc.limit, f"{f.label}: {exc}") from None
    except einvoice.EInvoiceError as exc:
        out.skipped.append(Skipped(f.label, f"embedded e-invoice XML refused: {exc}"))
        invoice = None
    if invoice is not None and not invoice.is_invoice:
        note = f"embedded {invoice.format} XML is not an invoice; imported as a plain PDF"
        out.skipped.append(Skipped(f.label, note))
        invoice = None
    kind = Kind.EINVOICE_PDF if invoice else Kind.PDF
    out.documents.append(_document(f, sniff.PDF, kind, invoice, options.limits, found.content))


# Root elements of the e-invoice vocabularies (UBL, CII, ZUGFeRD 1, KSeF, Order-X, SBDH).
_EINVOICE_ROOT = re.compile(
    rb"<(?:!DOCTYPE\s+)?(?:[\w.-]+:)?(?:Invoice|CreditNote|CrossIndustryInvoice|"
    rb"CrossIndustryDocument|Faktura|SCRDMCCBDACIOMessageStructure|StandardBusinessDocument)\b"
)


def _xml(f: _File, out: Extraction) -> None:
    try:
        invoice = einvoice.read_xml(f.data)
    except einvoice.EInvoiceError as exc:
        # An unreadable or refused e-invoice quarantines the mail; other markup (an HTML page,
        # a bookmarks file) is only skipped, with the same reason.
        if _EINVOICE_ROOT.search(_ascii_head(f.data)):
            raise Unreadable(f"{f.label}: {exc}") from None
        out.skipped.append(Skipped(f.label, f"not an e-invoice: {exc}"))
        return
    if invoice is None:
        out.skipped.append(Skipped(f.label, "XML, but not an e-invoice"))
    elif not invoice.is_invoice:
        out.skipped.append(Skipped(f.label, f"{invoice.format} document, not an invoice"))
    else:
        out.documents.append(_document(f, "application/xml", Kind.EINVOICE_XML, invoice))


def _ascii_head(data: bytes) -> bytes:
    """The start of an XML file as UTF-8, also when it is UTF-16 (with a byte-order mark)."""
    head = data[:8192]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", "ignore").encode("utf-8")
    return head


def _archive(f: _File, depth: int, options: Options, out: Extraction) -> None:
    if depth >= options.max_depth:
        raise Unreadable(f"{f.label}: archives are nested more than {options.max_depth} deep")
    # one budget for the whole mail: archives inside archives share the total size limit
    budget = options.zip_limits.max_total_size - out.unpacked
    try:
        if budget <= 0:
            raise containers.ContainerRefused(
                f"the archives of this mail unpack to more than "
                f"{options.zip_limits.max_total_size:,} bytes"
            )
        unpacked = containers.unzip(f.data, replace(options.zip_limits, max_total_size=budget))
    except containers.ContainerRefused as exc:
        raise Unreadable(f"{f.label}: {exc}") from None
    out.unpacked += sum(len(e.data) for e in unpacked.entries)
    names = {e.name for e in unpacked.entries}
    if "[Content_Types].xml" in names:  # OOXML: a Word/Excel/PowerPoint file, not an archive
        macro = any(n.endswith("vbaProject.bin") for n in names)
        what = "Office file with macros" if macro else "Office document"
        out.skipped.append(Skipped(f.label, f"{what}: not an invoice format"))
        return
    _unpacked(f, unpacked, depth, options, out)


def _tnef(f: _File, depth: int, options: Options, out: Extraction) -> None:
    if depth >= options.max_depth:
        raise Unreadable(f"{f.label}: containers are nested more than {options.max_depth} deep")
    from invoice_inbox.pipeline import tnef  # imported by the first winmail.dat

    try:
        unpacked = tnef.untnef(f.data)
    except containers.ContainerRefused as exc:
        raise Unreadable(f"{f.label}: {exc}") from None
    if unpacked.html_body and out.tnef_html is None:
        out.tnef_html = unpacked.html_body
    if not unpacked.entries and not unpacked.skipped:
        out.skipped.append(Skipped(f.label, "winmail.dat holds no files"))
    _unpacked(f, unpacked, depth, options, out)


def _unpacked(
    f: _File, unpacked: containers.Unpacked, depth: int, options: Options, out: Extraction
) -> None:
    for number, entry in enumerate(unpacked.entries, start=1):
        name = sanitize(entry.name, default=f"{f.filename}-{number}")
        inner = _File(
            label=f"{f.label}/{name}", filename=name, declared="", data=entry.data, origin=f.origin
        )
        if entry.data:
            _classify(inner, depth + 1, options, out)
        else:
            out.skipped.append(Skipped(inner.label, "the file is empty"))
    for name, reason in unpacked.skipped:
        out.skipped.append(Skipped(f"{f.label}/{sanitize(name)}", reason))
