"""Find and read the e-invoice XML embedded in a PDF (ZUGFeRD 1/2, Factur-X, XRechnung in PDF).

Only the document catalogue is read: the embedded-files name tree, then the /AF associated
files. Pages are never parsed, so a plain PDF costs a trailer, an xref table and a root dict.

A PDF is hostile until read, so every step is bounded by ``pipeline.limits.Limits``: at most
``pdf_embedded_files`` embedded files, only those named ``*.xml`` are unpacked, one at a time,
and each is inflated here (never by pypdf's ``get_data()``) with its output capped at
``pdf_embedded_bytes``. The object streams pypdf unpacks to find them share one budget
(``pdf_object_bytes``), and pypdf's own per-stream caps are lowered to match. Exceeding a limit
raises ``LimitExceeded``, which quarantines the mail.

A PDF that pypdf cannot read yields None; only a refused embedded XML (DOCTYPE, too large) or a
limit raises, because that is a reason a person should see.

This module answers what the PDF's bytes say before any parse (``marks``, ``may_embed_files``);
the reading with pypdf is ``einvoice.pdf_reader``, imported by the first PDF that may embed a file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..limits import DEFAULT_LIMITS, Limits

if TYPE_CHECKING:
    from .model import EInvoice

# the names an embedded file needs in the PDF's uncompressed bytes (``may_embed_files``)
_FILE_MARKER = re.compile(rb"/(?:EmbeddedFile|AF|ObjStm)")


def pdf_name(name: str) -> str:
    """A pattern for the PDF name *name* after its ``/``, also with any of its letters written
    ``#xx`` (in hex of either case), as pypdf reads names."""
    out = ""
    for ch in name:
        escaped = "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in f"{ord(ch):02x}")
        out += f"(?:{ch}|#{escaped})"
    return out


# the names a page's content needs (``trust.iban``): /Contents, or /ObjStm, escaped or not
CONTENT_NAMES = f"{pdf_name('Contents')}|{pdf_name('ObjStm')}".encode()
# Both sets of names in one pattern: each match is one name, starting at its only "/" (an
# escape is "#xx"), so no match hides another; the first group holds the embedded-file ones.
_MARKS = re.compile(rb"/(?:(EmbeddedFile|AF|ObjStm)|" + CONTENT_NAMES + rb")")


@dataclass(frozen=True, slots=True)
class Marks:
    """What a PDF's uncompressed bytes say before it is parsed: whether it may embed files
    (``may_embed_files``) and whether its pages may have content (``trust.iban``)."""

    embeds: bool
    content: bool


def marks(data: bytes) -> Marks:
    """Both readers' questions about *data* answered in one pass over it (a 36 KB PDF is read
    once instead of twice: each pass is a memory-bound 10-20 us)."""
    embeds = content = False
    for found in _MARKS.finditer(data):
        name = found.group(1)
        if name is None:
            content = True
        else:
            embeds = True
            content = content or name == b"ObjStm"
        if embeds and content:
            break
    return Marks(embeds, content)


def read_pdf(
    data: bytes, limits: Limits = DEFAULT_LIMITS, *, embeds: bool | None = None
) -> EInvoice | None:
    """The e-invoice embedded in the PDF ``data``, or None when it has none (or is unreadable).
    Raises ``LimitExceeded`` when the PDF needs more than ``limits`` allow. *embeds*:
    ``marks(data).embeds`` when the caller has it (else ``may_embed_files`` reads the bytes)."""
    found = _find(data, limits, embeds)
    return None if found is None else found[1]


def embedded_xml_name(data: bytes, limits: Limits = DEFAULT_LIMITS) -> str | None:
    """The file name of the embedded e-invoice XML, or None. Raises like ``read_pdf``."""
    found = _find(data, limits)
    return None if found is None else found[0]


def may_embed_files(data: bytes) -> bool:
    """False when the PDF provably embeds no file, without parsing it: an embedded file needs an
    /EmbeddedFiles name tree or an /AF array, and both sit in uncompressed objects unless the
    PDF packs objects into compressed object streams (/ObjStm). Saves pypdf's repair scan of
    damaged PDFs, by far its slowest path. One regular-expression pass over the bytes: a
    quarter of the time of three ``in`` tests, each a pass of its own when the marker is absent."""
    return _FILE_MARKER.search(data) is not None


def _find(data: bytes, limits: Limits, embeds: bool | None = None) -> tuple[str, EInvoice] | None:
    if not (may_embed_files(data) if embeds is None else embeds):
        return None
    # pypdf is imported by the first PDF that may embed a file: most never need it, and it is
    # a tenth of a second of every process's start (the fetch and each decide worker)
    from .pdf_reader import find_embedded

    return find_embedded(data, limits)
