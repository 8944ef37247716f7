"""Judge what a file is from its bytes, never from its name or declared type."""

from __future__ import annotations

PDF = "application/pdf"

# A PDF header may be preceded by junk; readers accept it within the first 1024 bytes
# (PDF 32000-1:2008, annex H.3, implementation note 13).
_PDF_HEADER_WINDOW = 1024


def is_pdf(data: bytes) -> bool:
    """True when the bytes carry a PDF header (``%PDF-``) within the first 1024 bytes."""
    return b"%PDF-" in data[:_PDF_HEADER_WINDOW]


def media_type(data: bytes) -> str | None:
    """The media type of the bytes when we recognise it, else None."""
    if is_pdf(data):
        return PDF
    return None
