"""Read e-invoice XML bytes: parse them safely, then ask each vocabulary reader in turn.

A Peppol Standard Business Document (SBDH envelope) is opened first, so the UBL inside is read.
The invoice found is checked (``checks``): its ``problems`` list the calculation rules it breaks.
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from . import checks, cii, ksef, ubl, xmlsafe
from .booking_numbers import numbers_only
from .model import EInvoice
from .values import local_name, namespace

_SBDH = "http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader"

_READERS: tuple[Callable[[etree._Element], EInvoice | None], ...] = (
    cii.read,
    ubl.read,
    ksef.read,
)


def read_xml(data: bytes) -> EInvoice | None:
    """The e-invoice (or related e-business document) in ``data``.

    None when the bytes are well-formed XML in no vocabulary we know; raises EInvoiceError when
    they are refused (DOCTYPE, over 20 MB) or not well-formed.
    """
    return read_root(xmlsafe.parse(data))


def read_root(root: etree._Element) -> EInvoice | None:
    """The document a parsed root element holds, or None."""
    root = _unwrap(root)
    for reader in _READERS:
        found = reader(root)
        if found is not None:
            return numbers_only(checks.check(found))  # problems first, then only numbers
    return None


def _unwrap(root: etree._Element) -> etree._Element:
    """The payload of an SBDH envelope (its first element after the header), else ``root``."""
    if local_name(root) != "StandardBusinessDocument" or namespace(root) != _SBDH:
        return root
    for child in root.iterchildren(tag=etree.Element):
        if local_name(child) != "StandardBusinessDocumentHeader":
            return child
    return root
