"""Find and read the e-invoice XML embedded in a PDF (ZUGFeRD 1/2, Factur-X, XRechnung in PDF).

Only the document catalogue is read: the embedded-files name tree, then the /AF associated
files. Pages are never parsed, so a plain PDF costs a trailer, an xref table and a root dict.
A PDF that pypdf cannot read yields None; only a refused embedded XML (DOCTYPE, too large)
raises, because that is a reason a person should see.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from pypdf import PdfReader
from pypdf.generic import DictionaryObject

from .errors import XmlMalformed
from .model import EInvoice
from .vocabulary import read_xml

# The names the standards give the XML (ZUGFeRD 1 writes "ZUGFeRD-invoice.xml"), in the order
# we try them; compared without regard to case.
KNOWN_NAMES = ("factur-x.xml", "zugferd-invoice.xml", "xrechnung.xml", "order-x.xml")
_RANK = {name: index for index, name in enumerate(KNOWN_NAMES)}
_FACTURX_NAME = "factur-x.xml"
# Formats of CII invoices; in a PDF they are named after the container, not the guideline.
_CII_FORMATS = frozenset({"facturx", "zugferd", "xrechnung-cii", "cii"})


def read_pdf(data: bytes) -> EInvoice | None:
    """The e-invoice embedded in the PDF ``data``, or None when it has none (or is unreadable)."""
    found = _find(data)
    return None if found is None else found[1]


def embedded_xml_name(data: bytes) -> str | None:
    """The file name of the embedded e-invoice XML, or None. Raises like ``read_pdf``."""
    found = _find(data)
    return None if found is None else found[0]


def _find(data: bytes) -> tuple[str, EInvoice] | None:
    for name, xml in _candidates(data):
        try:
            document = read_xml(xml)
        except XmlMalformed:
            continue
        if document is not None:
            return name, _as_embedded(document, name)
    return None


def _as_embedded(document: EInvoice, name: str) -> EInvoice:
    """A CII invoice in a PDF is "facturx" when the file is factur-x.xml, else "zugferd"."""
    if not document.is_invoice or document.format not in _CII_FORMATS:
        return document
    container = "facturx" if name.lower() == _FACTURX_NAME else "zugferd"
    return replace(document, format=container)


def may_embed_files(data: bytes) -> bool:
    """False when the PDF provably embeds no file, without parsing it: an embedded file needs an
    /EmbeddedFiles name tree or an /AF array, and both sit in uncompressed objects unless the
    PDF packs objects into compressed object streams (/ObjStm). Saves pypdf's repair scan of
    damaged PDFs, by far its slowest path."""
    return b"/EmbeddedFile" in data or b"/AF" in data or b"/ObjStm" in data


def _candidates(data: bytes) -> list[tuple[str, bytes]]:
    """Embedded ``*.xml`` files, known names first; [] for a PDF pypdf cannot read."""
    if not may_embed_files(data):
        return []
    with _quiet_pypdf():
        try:
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted:
                reader.decrypt("")
            files = dict(_embedded_files(reader))
        except Exception:  # any failure inside pypdf means "no readable XML"
            return []
    return [(name, files[name]) for name in sorted(files, key=_rank)]


def _embedded_files(reader: PdfReader) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of the EmbeddedFiles name tree, then of /AF files it did not list."""
    attachments = reader.attachments
    seen = set()
    for name in attachments:
        if name.lower().endswith(".xml"):
            seen.add(name)
            contents = attachments[name]
            if contents:
                yield name, contents[0]
    for name, contents in _associated_files(reader):
        if name not in seen:
            seen.add(name)
            yield name, contents


def _associated_files(reader: PdfReader) -> Iterator[tuple[str, bytes]]:
    """Files listed in the catalogue's /AF array (PDF/A-3 associated files)."""
    specs = reader.trailer["/Root"].get_object().get("/AF")
    for spec in specs.get_object() if specs is not None else ():
        spec = spec.get_object()
        if not isinstance(spec, DictionaryObject):
            continue
        name = str(spec.get("/UF") or spec.get("/F") or "")
        embedded = spec.get("/EF")
        streams = embedded.get_object() if embedded is not None else DictionaryObject()
        stream = streams.get("/F") or streams.get("/UF")
        if name.lower().endswith(".xml") and stream is not None:
            yield name, stream.get_object().get_data()


def _rank(name: str) -> tuple[int, str]:
    return (_RANK.get(name.lower(), len(_RANK)), name)


_PYPDF_LOGGER = logging.getLogger("pypdf")
_quiet_lock = threading.Lock()
_quiet_users = 0
_saved_level = logging.NOTSET


@contextmanager
def _quiet_pypdf() -> Iterator[None]:
    """pypdf logs a warning for every defect it repairs; broken PDFs are normal input here.

    The level is set on the "pypdf" logger, which its module loggers inherit. Counted under a
    lock so that overlapping calls from several threads restore the level the first one found.
    """
    global _quiet_users, _saved_level
    with _quiet_lock:
        if _quiet_users == 0:
            _saved_level = _PYPDF_LOGGER.level
            _PYPDF_LOGGER.setLevel(logging.ERROR)
        _quiet_users += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_users -= 1
            if _quiet_users == 0:
                _PYPDF_LOGGER.setLevel(_saved_level)
