"""Judge what a file is from its bytes, never from its name or declared type."""

from __future__ import annotations

PDF = "application/pdf"
ZIP = "application/zip"
TNEF = "application/ms-tnef"
XML = "application/xml"
HTML = "text/html"
JPEG = "image/jpeg"
PNG = "image/png"
TIFF = "image/tiff"
EXECUTABLE = "application/x-executable"
OLE = "application/x-ole-storage"  # legacy Office (.doc/.xls/.msg), may carry macros

IMAGES = (JPEG, PNG, TIFF)

# A PDF header may be preceded by junk; readers accept it within the first 1024 bytes
# (PDF 32000-1:2008, annex H.3, implementation note 13).
_PDF_HEADER_WINDOW = 1024

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", ZIP),
    (b"PK\x05\x06", ZIP),  # an empty archive
    (b"\x78\x9f\x3e\x22", TNEF),
    (b"\xff\xd8\xff", JPEG),
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"II*\x00", TIFF),
    (b"MM\x00*", TIFF),
    (b"MZ", EXECUTABLE),  # Windows PE (.exe, .dll, .scr)
    (b"\x7fELF", EXECUTABLE),
    (b"\xca\xfe\xba\xbe", EXECUTABLE),  # Mach-O universal (also Java class files)
    (b"\xcf\xfa\xed\xfe", EXECUTABLE),  # Mach-O 64-bit
    (b"\xce\xfa\xed\xfe", EXECUTABLE),  # Mach-O 32-bit
    (b"#!", EXECUTABLE),  # a script with an interpreter line
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", OLE),
)

# Names that are never documents whatever their bytes look like: programs, scripts, shortcuts
# and Office files that can carry macros.
_PROGRAMS = "exe dll scr com pif cpl msi msp jar apk app dmg iso img"
_SCRIPTS = "bat cmd ps1 psm1 vbs vbe js jse wsf wsh hta sh bash lnk reg inf"
_MACRO_OFFICE = "docm dotm xlsm xltm xlam pptm potm ppsm ppam sldm"
NEVER_EXTENSIONS = frozenset(f"{_PROGRAMS} {_SCRIPTS} {_MACRO_OFFICE}".split())


def is_pdf(data: bytes) -> bool:
    """True when the bytes carry a PDF header (``%PDF-``) within the first 1024 bytes."""
    return b"%PDF-" in data[:_PDF_HEADER_WINDOW]


def looks_like_xml(data: bytes) -> bool:
    """True when the bytes start like an XML document (after a byte-order mark and spaces)."""
    head = data[:512]
    for bom in (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"):
        if head.startswith(bom):
            if bom != b"\xef\xbb\xbf":  # UTF-16: compare on the decoded start
                codec = "utf-16-le" if bom == b"\xff\xfe" else "utf-16-be"
                return head[2:].decode(codec, "ignore").lstrip().startswith("<")
            head = head[3:]
            break
    head = head.lstrip()
    return head.startswith(b"<?xml") or (
        head[:1] == b"<" and (head[1:2].isalpha() or head[1:2] in (b"!", b"_"))
    )


def media_type(data: bytes) -> str | None:
    """The media type of the bytes when we recognise it, else None."""
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    if is_pdf(data):
        return PDF
    if looks_like_xml(data):
        return HTML if _looks_like_html(data) else XML
    return None


def _looks_like_html(data: bytes) -> bool:
    """HTML starts like XML but is not: ``<!DOCTYPE html`` or an ``<html`` root."""
    head = data[:512].lstrip(b"\xef\xbb\xbf").lstrip().lower()
    if head.startswith(b"<?xml"):
        head = head[head.find(b"?>") + 2 :].lstrip()
    while head.startswith(b"<!--"):  # comments before the doctype
        end = head.find(b"-->")
        if end < 0:
            return False
        head = head[end + 3 :].lstrip()
    return head.startswith((b"<!doctype html", b"<html"))


_UNSET = "unset"


def is_never_a_document(name: str | None, data: bytes, media: str | None = _UNSET) -> bool:
    """Executables, scripts and macro-capable Office files, by bytes or by name. *media*:
    ``media_type(data)`` when the caller has it."""
    if (media_type(data) if media is _UNSET else media) in (EXECUTABLE, OLE):
        return True
    if name and "." in name:
        return name.rsplit(".", 1)[1].strip().lower() in NEVER_EXTENSIONS
    return False
