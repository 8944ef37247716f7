"""Render a mail body (HTML or plain text) to a PDF, offline, for suppliers whose invoice *is* the
mail: no attachment, just the message.

The PDF starts with a header block (From, To, Date, Subject) above the body. Nothing is fetched
while rendering: every URL WeasyPrint asks for goes through the shared engine's fetcher
(``render_engine``), which serves ``cid:`` URLs from the message's inline parts and decodes
``data:`` URLs itself, and refuses everything else (http, https, file, ftp, relative, ...)
without touching the network or the file system. The HTML is parsed with the parser WeasyPrint
uses (tinyhtml5), cleaned (scripts, frames, objects, embeds, ``<base>``, ``<meta>``,
non-stylesheet links and attachment links removed) and serialised again before WeasyPrint sees
it.

Rendering is bounded (``pipeline.limits``): the HTML's element count (``render_elements``) before
layout, then pages and wall time (``render_pages``, ``render_seconds``) at every page WeasyPrint
lays out (``render_bounds``); past any of them it raises ``LimitExceeded``.

WeasyPrint takes about 0.6 s to import, so it is imported on the first render and kept
(``render_engine.engine``).
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from invoice_inbox.pipeline.limits import DEFAULT_LIMITS, Limits
from invoice_inbox.pipeline.render_bounds import Bounds
from invoice_inbox.pipeline.render_engine import (
    Engine,
    RenderError,
    clean_css,
    engine,
    quiet_logs,
    rendering,
    write_pdf,
)

__all__ = ["Body", "RenderError", "body_to_pdf"]

MAX_BODY_BYTES = 5 * 1024 * 1024  # larger bodies are refused, not rendered
_MB = 1024 * 1024
_MAX_HEADER_CHARS = 2000  # per header field shown in the header block
NO_TEXT = "(the message has no text)"
HEADER_ID = "invoice-inbox-header"


@dataclass(frozen=True, kw_only=True)
class Body:
    """What is needed to render a mail body: display headers, the bodies, the inline parts."""

    sender: str  # display form, e.g. 'Acme GmbH <billing@acme.example>'
    to: str
    date: str  # display form, already formatted by the caller (may be "")
    subject: str
    html: str | None  # the text/html body, decoded to str, or None
    text: str | None  # the text/plain body, or None
    # Content-ID without <> -> (media type, bytes), for cid: images
    inline: Mapping[str, tuple[str, bytes]] = field(default_factory=dict)


def body_to_pdf(body: Body, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """Render *body* to PDF bytes (A4, header block first). Raises :class:`RenderError`, or
    ``LimitExceeded`` when it needs more pages or time than *limits* allow."""
    bounds = Bounds(limits.render_pages, limits.render_seconds, limits.render_elements)
    html = _clean(body.html) if body.html and body.html.strip() else None
    text = _clean(body.text) if body.text and body.text.strip() else None
    source = html if html is not None else text
    if source is not None:
        size = len(source.encode("utf-8"))
        if size > MAX_BODY_BYTES:
            raise RenderError(f"the mail body is too large to render ({size / _MB:.1f} MB)")
    engine_ = engine()
    with rendering(bounds, "the mail body"):
        if html is not None:
            root, quirks = _parse_html(engine_, html)
            bounds.check_elements(sum(1 for _ in root.iter()))  # before any layout
        else:
            root, quirks = _text_document(text), False
        _add_header(root, body)
        markup = _serialise(root, quirks=quirks)
        fetcher = engine_.fetcher(body.inline)
        options = {"stylesheets": [_stylesheet()], "presentational_hints": True}
        html_doc = engine_.HTML(string=markup, base_url=None, url_fetcher=fetcher)
        return write_pdf(html_doc.render(**options), bounds, "the mail body", **options)


def _clean(value: str) -> str:
    """The string without lone surrogates (they cannot be encoded, so nothing could render them)."""
    return value.encode("utf-8", "replace").decode("utf-8")


@functools.cache
def _stylesheet() -> Any:  # a weasyprint.CSS (weasyprint is untyped)
    """The user stylesheet (``_USER_CSS``) as WeasyPrint takes it, made once."""
    engine_ = engine()
    with quiet_logs():
        return engine_.CSS(string=_USER_CSS, url_fetcher=engine_.fetcher({}))


# -- building the document --------------------------------------------------------------------

_SVG = "{http://www.w3.org/2000/svg}"
# removed with everything inside them (HTML namespace); <script> in any namespace
_DROP = frozenset(
    {"script", "iframe", "frame", "frameset", "object", "embed", "applet", "param", "base",
     "meta", "title", "portal", "fencedframe"}
)  # fmt: skip
_ASCII_WS = re.compile(r"[\t\n\f\r ]+")


def _parse_html(engine: Engine, html: str) -> tuple[ET.Element, bool]:
    """The cleaned tree, and whether the HTML was parsed in quirks mode (no or an old doctype)."""
    root, quirks = engine.parse(html)
    _sanitise(root)
    if root.find("body") is None:  # a frameset document, now without its frameset
        ET.SubElement(root, "body")
    for style in root.iter("style"):  # HTML <style> only: SVG ones are handled apart
        if style.text:
            style.text = clean_css(engine.css, style.text)
    return root, quirks


def _unwanted(el: ET.Element) -> bool:
    tag = el.tag
    if not isinstance(tag, str):  # comments, processing instructions
        return True
    if tag in _DROP or tag == f"{_SVG}script":
        return True
    if tag == "link":  # only plain stylesheets stay (served from cid:/data: or refused)
        rel = _ASCII_WS.split(el.get("rel", "").strip().lower())
        return rel != ["stylesheet"]
    return False


def _sanitise(root: ET.Element) -> None:
    """Remove the elements that fetch or embed things, keeping the text that follows them."""
    stack = [root]
    while stack:
        parent = stack.pop()
        kids = list(parent)
        kept: list[ET.Element] = []
        for kid in kids:
            if not _unwanted(kid):
                kept.append(kid)
            elif kid.tail:
                if kept:
                    kept[-1].tail = (kept[-1].tail or "") + kid.tail
                else:
                    parent.text = (parent.text or "") + kid.tail
        if len(kept) != len(kids):
            parent[:] = kept
        if parent.tag in ("a", "area"):
            parent.attrib.pop("rel", None)  # rel=attachment would embed the target in the PDF
        elif parent.tag == "plaintext":  # it has no end tag, so it cannot be serialised
            parent.tag = "pre"
        stack.extend(kept)


def _text_document(text: str | None) -> ET.Element:
    root = ET.Element("html")
    ET.SubElement(root, "head")
    body = ET.SubElement(root, "body")
    if text is None:
        ET.SubElement(body, "p").text = NO_TEXT
    else:
        pre = ET.SubElement(body, "pre", {"class": "invoice-inbox-text"})
        pre.text = text.replace("\r\n", "\n").replace("\r", "\n")
    return root


def _add_header(root: ET.Element, body: Body) -> None:
    """Put the subject in <title> and the header block first in <body>."""
    head = root.find("head")
    if head is None:
        head = ET.Element("head")
        root.insert(0, head)
    title = ET.Element("title")
    title.text = _short(body.subject)
    head.insert(0, title)
    page = root.find("body")
    if page is None:
        page = ET.SubElement(root, "body")

    block = ET.Element("div", {"id": HEADER_ID})
    table = ET.SubElement(block, "table")
    for label, value in (
        ("From", body.sender),
        ("To", body.to),
        ("Date", body.date),
        ("Subject", body.subject),
    ):
        if value and value.strip():
            row = ET.SubElement(table, "tr")
            ET.SubElement(row, "th").text = label
            ET.SubElement(row, "td").text = _short(value)
    block.tail, page.text = page.text, None
    page.insert(0, block)


def _short(value: str) -> str:
    value = _clean(value)
    return value if len(value) <= _MAX_HEADER_CHARS else value[: _MAX_HEADER_CHARS - 1] + "…"


# -- serialising (the HTML standard's algorithm, for a tree tinyhtml5 built) ---------------------

_VOID = frozenset(
    {"area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "img", "input",
     "keygen", "link", "meta", "param", "source", "track", "wbr"}
)  # fmt: skip
_RAW_TEXT = frozenset({"style", "script", "xmp", "iframe", "noembed", "noframes", "plaintext"})
_LEADING_NEWLINE_DROPPED = frozenset({"pre", "textarea", "listing"})
_ATTR_PREFIX = {
    "http://www.w3.org/1999/xlink": "xlink:",
    "http://www.w3.org/XML/1998/namespace": "xml:",
    "http://www.w3.org/2000/xmlns/": "xmlns:",
}


def _local(name: str) -> tuple[str, str | None]:
    """(local name, namespace or None) of an ElementTree tag or attribute name."""
    if name.startswith("{"):
        ns, _, local = name[1:].partition("}")
        return local, ns
    return name, None


def _attr_name(name: str) -> str:
    local, ns = _local(name)
    if ns is None:
        return local
    if ns == "http://www.w3.org/2000/xmlns/" and local == "xmlns":
        return "xmlns"
    return _ATTR_PREFIX.get(ns, "") + local


def _escape_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escape_attr(value: str) -> str:
    return _escape_text(value).replace('"', "&quot;")


def _serialise(root: ET.Element, *, quirks: bool) -> str:
    """The tree as an HTML string that parses back to the same tree (iterative: any depth).

    Quirks mode changes how the tree is built (a <table> may sit in a <p>), so a document
    parsed in quirks mode is written without a doctype, which makes the parser use it again.
    """
    out = [] if quirks else ["<!DOCTYPE html>"]
    stack: list[tuple[ET.Element, bool]] = [(root, False)]
    while stack:
        el, closing = stack.pop()
        tag = el.tag
        if not isinstance(tag, str):  # a comment: dropped, the text after it kept
            if el.tail:
                out.append(_escape_text(el.tail))
            continue
        name, ns = _local(tag)
        if closing:
            out.append(f"</{name}>")
            if el.tail:
                out.append(_escape_text(el.tail))
            continue
        out.append("<" + name)
        for key, value in el.attrib.items():
            out.append(f' {_attr_name(key)}="{_escape_attr(value)}"')
        out.append(">")
        if ns is None and name in _VOID:
            if el.tail:
                out.append(_escape_text(el.tail))
            continue
        if ns is None and name in _LEADING_NEWLINE_DROPPED:
            out.append("\n")  # the parser drops one newline right after the start tag
        if el.text:
            raw = ns is None and name in _RAW_TEXT
            out.append(el.text if raw else _escape_text(el.text))
        stack.append((el, True))
        stack.extend((kid, False) for kid in reversed(el))
    return "".join(out)


# -- the user stylesheet: page set-up, and a header block the mail's CSS cannot restyle ----------
# User-origin !important declarations win over every declaration of the mail's own CSS.

_MARGIN_BOXES = (
    "top-left-corner", "top-left", "top-center", "top-right", "top-right-corner", "right-top",
    "right-middle", "right-bottom", "bottom-right-corner", "bottom-right", "bottom-center",
    "bottom-left", "bottom-left-corner", "left-bottom", "left-middle", "left-top",
)  # fmt: skip
_H = f"#{HEADER_ID}"
_USER_CSS = f"""
@page {{
  size: A4 !important;
  margin: 15mm 15mm 18mm 15mm !important;
  {" ".join(f"@{box} {{ content: none !important; }}" for box in _MARGIN_BOXES)}
}}
html {{ font-family: "DejaVu Sans", sans-serif; font-size: 10pt; }}
html, body {{
  display: block !important; position: static !important; float: none !important;
  visibility: visible !important; opacity: 1 !important; transform: none !important;
  margin-top: 0 !important; padding-top: 0 !important; border-top-width: 0 !important;
  height: auto !important; columns: auto !important;
}}
{_H}, {_H} * {{
  position: static !important; float: none !important; visibility: visible !important;
  opacity: 1 !important; transform: none !important; overflow: visible !important;
  color: #000 !important; background: #fff none !important; border: none !important;
  margin: 0 !important; padding: 0 !important; box-sizing: content-box !important;
  width: auto !important; height: auto !important; min-width: 0 !important;
  min-height: 0 !important; max-width: none !important; max-height: none !important;
  font-family: "DejaVu Sans", sans-serif !important; font-size: 9pt !important;
  font-style: normal !important; font-weight: normal !important; line-height: 1.35 !important;
  text-align: left !important; text-indent: 0 !important; text-transform: none !important;
  text-decoration: none !important; letter-spacing: normal !important;
  word-spacing: normal !important; white-space: normal !important;
  overflow-wrap: anywhere !important; vertical-align: top !important;
  direction: ltr !important; page-break-before: auto !important;
}}
{_H}::before, {_H}::after, {_H} *::before, {_H} *::after {{ content: none !important; }}
{_H} {{
  display: block !important; margin: 0 0 5mm 0 !important; padding: 0 0 2mm 0 !important;
  border-bottom: 0.75pt solid #000 !important;
}}
{_H} table {{
  display: table !important; width: 100% !important; border-collapse: collapse !important;
}}
{_H} tr {{ display: table-row !important; }}
{_H} th, {_H} td {{ display: table-cell !important; padding: 0.4mm 0 0.4mm 0 !important; }}
{_H} th {{
  width: 18mm !important; padding-right: 3mm !important; font-weight: bold !important;
  white-space: nowrap !important;
}}
pre.invoice-inbox-text {{
  white-space: pre-wrap; overflow-wrap: anywhere; margin: 0;
  font-family: "DejaVu Sans Mono", monospace; font-size: 9pt;
}}
"""
