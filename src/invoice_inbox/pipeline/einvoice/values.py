"""Small readers shared by the vocabularies: trimmed text, the first non-empty match, ISO dates."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date

from lxml import etree

Namespaces = Mapping[str, str]

_ISO_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})")
_BASIC_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})")
# UNTDID 2379 formats that start with a whole calendar date (102 CCYYMMDD, 203 ...HHMM, 204 ...SS).
_DATE_FORMATS = frozenset({"102", "203", "204"})
_IBAN = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")


def clean(element: etree._Element | None) -> str | None:
    """The element's text content, whitespace-trimmed; None when missing or blank."""
    if element is None:
        return None
    if len(element) == 0:  # no child elements, comments or PIs: the text is all there is
        return (element.text or "").strip() or None
    value = "".join(element.itertext()).strip()
    return value or None


def children(node: etree._Element | None) -> dict[str, etree._Element]:
    """The node's first child element of each tag (Clark notation ``{ns}name``), in one pass:
    cheaper than a ``find`` per field where many fields of one element are read."""
    found: dict[str, etree._Element] = {}
    if node is not None:
        for child in node:
            tag = child.tag
            if isinstance(tag, str) and tag not in found:
                found[tag] = child
    return found


def first_text(
    node: etree._Element | None,
    paths: tuple[str, ...],
    ns: Namespaces,
    read: Callable[[etree._Element], str | None] = clean,
) -> str | None:
    """The first non-blank text among the elements the paths select, tried in order; *read*
    makes an element's text (by default ``clean``: trimmed, None when blank)."""
    if node is None:
        return None
    for path in paths:
        for element in node.iterfind(path, ns):
            value = read(element)
            if value:
                return value
    return None


def first(
    node: etree._Element | None, paths: tuple[str, ...], ns: Namespaces
) -> etree._Element | None:
    """The first element the paths select, tried in order."""
    if node is None:
        return None
    for path in paths:
        element = node.find(path, ns)
        if element is not None:
            return element
    return None


def iso_date(value: str | None, date_format: str | None = None) -> str | None:
    """``yyyy-mm-dd`` from an ISO date (time and zone ignored) or a UNTDID 2379 102/203/204
    string; None for anything else (a month, a week) or an impossible date."""
    if not value:
        return None
    value = value.strip()
    match = _ISO_DATE.match(value)
    if match:
        candidate = match.group(1)
    elif date_format in (None, "", *_DATE_FORMATS) and (basic := _BASIC_DATE.match(value)):
        candidate = "-".join(basic.groups())
    else:
        return None
    try:
        return date.fromisoformat(candidate).isoformat()
    except ValueError:
        return None


def compact(value: str | None) -> str | None:
    """``value`` without any whitespace (account numbers are often written in groups of four)."""
    if value is None:
        return None
    return "".join(value.split()) or None


def kebab(name: str) -> str:
    """``OrderResponse`` → ``order-response``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def local_name(element: etree._Element) -> str:
    """The element's tag without its namespace."""
    return etree.QName(element).localname


def namespace(element: etree._Element) -> str:
    """The element's namespace URI, "" when it has none."""
    return etree.QName(element).namespace or ""


def is_iban(value: str | None) -> bool:
    """True when ``value`` (without spaces) has an IBAN's shape: country, check digits, BBAN."""
    return bool(value and _IBAN.match(value.upper()))


def joined(elements: Iterable[etree._Element | None]) -> str | None:
    """The elements' trimmed, non-blank texts joined by newlines; None when there are none."""
    found = [value for element in elements if (value := clean(element))]
    return "\n".join(found) or None
