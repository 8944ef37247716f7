"""Parse untrusted XML bytes safely: no DTD, no entities, no network, at most 20 MB.

A document type declaration is refused outright rather than parsed with care: invoices never
need one, and refusing it is what makes external entities (XXE) and entity expansion ("billion
laughs") impossible instead of merely unlikely. The prolog is scanned before lxml sees the
bytes, and the parsed tree is checked again afterwards.
"""

from __future__ import annotations

import codecs
import re

from lxml import etree

from .errors import XmlMalformed, XmlRefused

MAX_XML_BYTES = 20 * 1024 * 1024
DOCTYPE_REFUSED = "XML declares a DOCTYPE (entities are refused)"

_HEAD_BYTES = 512
_SPACE = re.compile(rb"[ \t\r\n]*")
_LIBXML_LOCATION = re.compile(r"\s*\(<string>, line \d+\)\s*$")


def looks_like_xml(data: bytes) -> bool:
    """Cheap sniff: after a BOM and whitespace, ``<?xml``, or ``<`` and a name char or ``!``."""
    head = _decode(data[:_HEAD_BYTES]).removeprefix("\ufeff").lstrip(" \t\r\n")
    if head.startswith("<?xml"):
        return True
    return len(head) > 1 and head[0] == "<" and (head[1] == "!" or _is_name_start(head[1]))


def parse(data: bytes) -> etree._Element:
    """The root element of ``data``; raises XmlRefused or XmlMalformed with a one-line reason."""
    if len(data) > MAX_XML_BYTES:
        raise XmlRefused(f"XML is larger than the 20 MB limit ({len(data):,} bytes)")
    if _prolog_declares_doctype(_as_ascii_compatible(data)):
        raise XmlRefused(DOCTYPE_REFUSED)
    try:
        root = etree.fromstring(data, safe_parser())
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise XmlMalformed(f"XML is not well-formed: {_reason(exc)}") from exc
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise XmlRefused(DOCTYPE_REFUSED)
    return root


def safe_parser() -> etree.XMLParser:
    """A new lxml parser that never loads a DTD, expands an entity or touches the network.

    New per call: lxml parsers keep state and are not meant to be shared between threads.
    """
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
    )


def _wide_encoding(data: bytes) -> str | None:
    """UTF-16 or UTF-32 (with or without BOM) when the bytes are in one, else None."""
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if data[1:4] == b"\0\0\0":
        return "utf-32-le"
    if data[:3] == b"\0\0\0":
        return "utf-32-be"
    if data[1:2] == b"\0" and data[:1] != b"\0":
        return "utf-16-le"
    if data[:1] == b"\0" and data[1:2] != b"\0":
        return "utf-16-be"
    return None


def _decode(data: bytes) -> str:
    """Text good enough for sniffing: wide encodings decoded, anything else read as Latin-1."""
    encoding = _wide_encoding(data)
    if encoding is None:
        return data.removeprefix(codecs.BOM_UTF8).decode("latin-1")
    return data.decode(encoding, errors="ignore")


def _as_ascii_compatible(data: bytes) -> bytes:
    """``data``, or UTF-8 when it is UTF-16/32, so the prolog scan can look for ASCII."""
    encoding = _wide_encoding(data)
    if encoding is None:
        return data
    return data.decode(encoding, errors="replace").encode("utf-8")


def _prolog_declares_doctype(doc: bytes) -> bool:
    """True when a ``<!DOCTYPE`` comes before the root element (after PIs, comments, space)."""
    pos = len(codecs.BOM_UTF8) if doc.startswith(codecs.BOM_UTF8) else 0
    while True:
        pos = _SPACE.match(doc, pos).end()  # type: ignore[union-attr]  # "*" always matches
        if doc.startswith(b"<?", pos):
            pos = doc.find(b"?>", pos + 2)
            if pos < 0:
                return False
            pos += 2
        elif doc.startswith(b"<!--", pos):
            pos = doc.find(b"-->", pos + 4)
            if pos < 0:
                return False
            pos += 3
        else:
            return doc[pos : pos + 9].upper() == b"<!DOCTYPE"


def _is_name_start(char: str) -> bool:
    return char.isalpha() or char in "_:" or ord(char) > 0x7F


def _reason(exc: Exception) -> str:
    """libxml2's message on one line, without the ``(<string>, line N)`` suffix or a final dot."""
    message = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
    message = _LIBXML_LOCATION.sub("", " ".join(str(message).split()))
    return message.rstrip(".") or "unreadable"
