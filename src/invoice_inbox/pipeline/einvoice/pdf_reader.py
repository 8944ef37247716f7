"""The pypdf side of ``einvoice.pdf``: the e-invoice XML embedded in a PDF, read with every
step bounded (that module's doc says how). Imported by the first PDF that may embed a file.
"""

from __future__ import annotations

import io
import logging
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from pypdf import PdfReader, apply_configuration
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    IndirectObject,
    NullObject,
    PdfObject,
    StreamObject,
)

from ..limits import MB, LimitExceeded, Limits
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
_FLATE = frozenset({"/FlateDecode", "/Fl"})
_NAME_TREE_DEPTH = 8  # levels of /Kids in the embedded-files name tree
_INFLATE_STEP = 1 * MB


def find_embedded(data: bytes, limits: Limits) -> tuple[str, EInvoice] | None:
    """The first readable e-invoice XML embedded in the PDF *data* with its file name, or None;
    raises ``LimitExceeded`` (module doc of ``einvoice.pdf``)."""
    with _quiet_pypdf(), apply_configuration(**_pypdf_limits(limits)):
        reader: _BoundedReader | None = None
        try:
            reader = _BoundedReader(data, limits.pdf_object_bytes)
            if reader.is_encrypted:
                reader.decrypt("")
            candidates = _xml_files(reader, limits)
        except (LimitExceeded, MemoryError):  # a limit, named by the step or the worker
            raise
        except Exception:  # any other failure inside pypdf means "no readable XML"
            candidates = []
        if reader is not None and reader.over_budget is not None:
            raise reader.over_budget
        for name, stream in candidates:  # one at a time: only one is ever unpacked in memory
            try:
                xml = _unpack(name, stream, limits)
            except (LimitExceeded, MemoryError):
                raise
            except Exception:  # a damaged stream: this file is no readable XML
                continue
            if xml is None:
                continue
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


# -- bounded reading -----------------------------------------------------------------------------


# Any in this module: pypdf's configuration values and its PDF objects, of many classes
def _pypdf_limits(limits: Limits) -> dict[str, Any]:
    """pypdf's per-stream caps for everything it decodes on its own (xref and object streams),
    lowered from its 75 MB defaults; and no external JBIG2 decoder."""
    cap = max(limits.pdf_embedded_bytes, 1 * MB)
    return {
        "zlib_maximum_output_length": cap,
        "lzw_maximum_output_length": cap,
        "run_length_maximum_output_length": cap,
        "brotli_maximum_output_length": cap,
        "jbig2_maximum_output_length": cap,
        "array_based_stream_maximum_output_length": cap,
        "stream_decoding_work_maximum_length": 2 * cap,
        "jbig2dec_binary": None,
    }


class _SharedBytes(io.BytesIO):
    """A BytesIO over the document's own bytes, without ``getbuffer``: pypdf measures a stream
    with it where it exists, and a buffer view of a BytesIO sharing its bytes forces a copy of
    them (50 MB for a 50 MB scan); without it pypdf seeks to the end instead, and ``read()`` of
    the whole stream returns the shared bytes themselves."""

    @property
    def getbuffer(self) -> Any:
        raise AttributeError("getbuffer")


class _BoundedReader(PdfReader):
    """A PdfReader whose object streams (each unpacked whole, and kept) share one budget."""

    def __init__(self, data: bytes, budget: int) -> None:
        self._budget = budget
        self._spent = 0
        self._unpacked_streams: set[int] = set()
        self.over_budget: LimitExceeded | None = None  # sticky, should pypdf swallow it
        super().__init__(_SharedBytes(data), strict=False)

    def _get_object_from_stream(self, indirect_reference: IndirectObject) -> Any:
        if self.over_budget is not None:
            raise self.over_budget
        entry = self.xref_objStm.get(indirect_reference.idnum)
        if entry is not None and entry[0] not in self._unpacked_streams:
            self._unpacked_streams.add(entry[0])
            container = IndirectObject(entry[0], 0, self).get_object()
            if isinstance(container, StreamObject):  # unpacked once here; pypdf keeps it
                self._spent += len(container.get_data())
                if self._spent > self._budget:
                    self.over_budget = LimitExceeded(
                        "pdf_object_bytes",
                        f"a PDF's object streams unpack to more than {_mb(self._budget)} "
                        "(limit pdf_object_bytes)",
                    )
                    raise self.over_budget
        return super()._get_object_from_stream(indirect_reference)


def _xml_files(reader: PdfReader, limits: Limits) -> list[tuple[str, StreamObject]]:
    """The embedded files named ``*.xml`` (name tree, then /AF), known names first.

    Every file specification counts against ``pdf_embedded_files``, XML or not; the others are
    never unpacked."""
    root = reader.trailer["/Root"].get_object()
    seen: set[int] = set()
    found: dict[str, StreamObject] = {}
    for key, spec in (*_name_tree(root, limits), *_associated(root)):
        if id(spec) in seen:  # listed in the name tree and in /AF
            continue
        seen.add(id(spec))
        if len(seen) > limits.pdf_embedded_files:
            raise _too_many_files(limits)
        name = next((n for n in (key, *_spec_names(spec)) if n.lower().endswith(".xml")), None)
        stream = _file_stream(spec)
        if name is not None and name not in found and stream is not None:
            found[name] = stream
    return [(name, found[name]) for name in sorted(found, key=_rank)]


def _too_many_files(limits: Limits) -> LimitExceeded:
    return LimitExceeded(
        "pdf_embedded_files",
        f"a PDF holds more than {limits.pdf_embedded_files} embedded files "
        "(limit pdf_embedded_files)",
    )


def _name_tree(root: PdfObject | None, limits: Limits) -> list[tuple[str, DictionaryObject]]:
    """(name, file specification) pairs of the /EmbeddedFiles name tree, walked without
    recursion; its nodes are bounded like its files (a tree of n files needs under 2n nodes)."""
    names = _get(root, "/Names")
    tree = _get(names, "/EmbeddedFiles") if isinstance(names, DictionaryObject) else None
    out: list[tuple[str, DictionaryObject]] = []
    stack: list[tuple[Any, int]] = [(tree, 0)]
    nodes = 0
    visited: set[int] = set()
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, DictionaryObject) or id(node) in visited:
            continue
        visited.add(id(node))
        nodes += 1
        if nodes > 2 * limits.pdf_embedded_files + 1 or depth > _NAME_TREE_DEPTH:
            raise LimitExceeded(
                "pdf_embedded_files",
                f"a PDF's embedded-files tree is larger than {limits.pdf_embedded_files} files "
                "need (limit pdf_embedded_files)",
            )
        pairs = _get(node, "/Names")
        if isinstance(pairs, ArrayObject):
            for index in range(0, len(pairs) - 1, 2):
                spec = pairs[index + 1].get_object()
                if isinstance(spec, DictionaryObject):
                    out.append((str(pairs[index].get_object()), spec))
                if len(out) > limits.pdf_embedded_files:
                    raise _too_many_files(limits)
        kids = _get(node, "/Kids")
        if isinstance(kids, ArrayObject):
            stack.extend((kid.get_object(), depth + 1) for kid in reversed(kids))
    return out


def _associated(root: PdfObject | None) -> Iterator[tuple[str, DictionaryObject]]:
    """Files listed in the catalogue's /AF array (PDF/A-3 associated files)."""
    specs = _get(root, "/AF")
    for spec in specs if isinstance(specs, ArrayObject) else ():
        spec = spec.get_object()
        if isinstance(spec, DictionaryObject):
            yield "", spec


def _spec_names(spec: DictionaryObject) -> tuple[str, ...]:
    return tuple(str(_get(spec, key) or "") for key in ("/UF", "/F"))


def _file_stream(spec: DictionaryObject) -> StreamObject | None:
    files = _get(spec, "/EF")
    if not isinstance(files, DictionaryObject):
        return None
    stream = _get(files, "/F") or _get(files, "/UF")
    return stream if isinstance(stream, StreamObject) else None


def _get(obj: Any, key: str) -> Any:
    """The resolved value at ``key`` of a dictionary; None when absent, null or not a dict."""
    return _resolved(obj.get(key)) if isinstance(obj, DictionaryObject) else None


def _resolved(value: Any) -> Any:
    value = value.get_object() if value is not None else None
    return None if isinstance(value, NullObject) else value


def _unpack(name: str, stream: StreamObject, limits: Limits) -> bytes | None:
    """The file's bytes, inflated here with the output capped; None for a filter other than
    Flate (no e-invoice writer uses one, and each is another decoder to trust)."""
    cap = limits.pdf_embedded_bytes
    raw = stream._data  # the stored bytes; pypdf has no public name for them undecoded
    filters = _get(stream, "/Filter")
    if isinstance(filters, ArrayObject) and len(filters) <= 1:
        filters = _resolved(filters[0]) if filters else None
    params = _get(stream, "/DecodeParms")
    if isinstance(params, ArrayObject) and len(params) <= 1:
        params = _resolved(params[0]) if params else None
    plain = params is None or (
        isinstance(params, DictionaryObject) and _get(params, "/Predictor") in (None, 1)
    )
    if filters is None:
        data = raw
    elif isinstance(filters, str) and filters in _FLATE and plain:
        data = _inflate(raw, cap, name)
    else:
        return None
    if len(data) > cap:
        raise _too_large(name, cap)
    return data


def _inflate(raw: bytes, cap: int, name: str) -> bytes:
    """Inflate in steps of 1 MB, refusing as soon as the output passes *cap*: at most *cap*
    bytes plus one step are ever held."""
    inflater = zlib.decompressobj()
    chunks: list[bytes] = []
    size = 0
    pending = raw
    while pending and not inflater.eof:
        chunk = inflater.decompress(pending, _INFLATE_STEP)
        pending = inflater.unconsumed_tail
        size += len(chunk)
        if size > cap:
            raise _too_large(name, cap)
        chunks.append(chunk)
        if not chunk and not pending:
            break
    chunks.append(inflater.flush())
    if size + len(chunks[-1]) > cap:
        raise _too_large(name, cap)
    return b"".join(chunks)


def _too_large(name: str, cap: int) -> LimitExceeded:
    return LimitExceeded(
        "pdf_embedded_bytes",
        f"the embedded file {name[:100]!r} unpacks to more than {_mb(cap)} "
        "(limit pdf_embedded_bytes)",
    )


def _mb(size: int) -> str:
    return f"{size / MB:,.0f} MB" if size >= MB else f"{size:,} bytes"


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
