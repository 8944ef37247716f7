"""Grow an e-invoice to many lines for parse-cost tests and benchmarks: ``with_lines(data, n)``
repeats the document's first line (UBL ``InvoiceLine``/``CreditNoteLine``, CII
``IncludedSupplyChainTradeLineItem``) until it has ``n`` lines, numbering the copies 1..n.
The totals are left as they are, so the figures of the grown invoice do not add up."""

from __future__ import annotations

import copy

from lxml import etree

_LINE_TAGS = ("InvoiceLine", "CreditNoteLine", "IncludedSupplyChainTradeLineItem")


def with_lines(data: bytes, count: int) -> bytes:
    """``data`` (an e-invoice XML with at least one line) with exactly ``count`` lines."""
    root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    lines = [
        element
        for element in root.iter(etree.Element)
        if etree.QName(element).localname in _LINE_TAGS
    ]
    if not lines:
        raise ValueError("the document has no line to repeat")
    first = lines[0]
    parent = first.getparent()
    assert parent is not None
    at = parent.index(first)  # CII keeps its lines before the header parts, UBL after them
    after = [child for child in parent[at:] if child not in lines]
    for child in parent[at:]:
        parent.remove(child)
    for number in range(1, count + 1):
        line = copy.deepcopy(first)
        _renumber(line, str(number))
        parent.append(line)
    parent.extend(after)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _renumber(line: etree._Element, number: str) -> None:
    """The line's own id: UBL ``cbc:ID`` child, CII ``AssociatedDocumentLineDocument/LineID``."""
    for child in line:
        name = etree.QName(child).localname
        if name == "ID":
            child.text = number
            return
        if name == "AssociatedDocumentLineDocument":
            for grandchild in child:
                if etree.QName(grandchild).localname == "LineID":
                    grandchild.text = number
            return
