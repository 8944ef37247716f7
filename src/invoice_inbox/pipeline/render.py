"""Render a mail body (HTML or plain text) to a PDF, offline, for suppliers whose invoice *is* the
mail: no attachment, just the message.

The PDF starts with a header block (From, To, Date, Subject) above the body. Nothing is fetched
while rendering: every URL WeasyPrint asks for goes through ``OfflineFetcher``, which serves
``cid:`` URLs from the message's inline parts and decodes ``data:`` URLs itself, and refuses
everything else (http, https, file, ftp, relative, ...) without touching the network or the file
system. The HTML is parsed with the parser WeasyPrint uses (tinyhtml5), cleaned (scripts, frames,
objects, embeds, ``<base>``, ``<meta>``, non-stylesheet links and attachment links removed) and
serialised again before WeasyPrint sees it.

Rendering is bounded (``pipeline.limits``): the HTML's element count (``render_elements``) before
layout, then pages and wall time (``render_pages``, ``render_seconds``) at every page WeasyPrint
lays out (``render_bounds``); past any of them it raises ``LimitExceeded``.

WeasyPrint takes about 0.6 s to import, so it is imported on the first render and kept.
"""

from __future__ import annotations

import base64
import functools
import io
import logging
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, unquote_to_bytes

from invoice_inbox.pipeline.limits import DEFAULT_LIMITS, LimitExceeded, Limits
from invoice_inbox.pipeline.render_bounds import Bounds, bounded, watch_progress

__all__ = ["Body", "RenderError", "body_to_pdf"]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 5 * 1024 * 1024  # larger bodies are refused, not rendered
_MB = 1024 * 1024
_MAX_HEADER_CHARS = 2000  # per header field shown in the header block
NO_TEXT = "(the message has no text)"
HEADER_ID = "invoice-inbox-header"

# loggers that report every refused fetch; silenced while rendering (the refusals are expected)
_NOISY_LOGGERS = ("weasyprint", "fontTools")


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


class RenderError(Exception):
    """The body could not be rendered; the message is one plain sentence."""


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
    engine = _engine()
    try:
        with bounded(bounds), _quiet_logs():
            if html is not None:
                root, quirks = _parse_html(engine, html)
                bounds.check_elements(sum(1 for _ in root.iter()))  # before any layout
            else:
                root, quirks = _text_document(text), False
            _add_header(root, body)
            markup = _serialise(root, quirks=quirks)
            fetcher = engine.fetcher(body.inline)
            options = {"stylesheets": [engine.stylesheet], "presentational_hints": True}
            html_doc = engine.HTML(string=markup, base_url=None, url_fetcher=fetcher)
            document = html_doc.render(**options)
            bounds.check_pages(len(document.pages))  # also when the progress log was off
            bounds.check_time()
            pdf = document.write_pdf(**options)
    except LimitExceeded:
        raise
    except Exception as exc:
        raise RenderError(f"WeasyPrint failed on the mail body ({type(exc).__name__})") from exc
    if not isinstance(pdf, bytes):  # pragma: no cover - write_pdf() without a target
        raise RenderError("WeasyPrint returned no PDF for the mail body")
    return pdf


def _clean(value: str) -> str:
    """The string without lone surrogates (they cannot be encoded, so nothing could render them)."""
    return value.encode("utf-8", "replace").decode("utf-8")


# -- the engine, imported once ----------------------------------------------------------------


@dataclass(frozen=True)
class _Engine:
    HTML: Any  # weasyprint.HTML
    parse: Callable[[str], tuple[ET.Element, bool]]  # HTML -> (tree, parsed in quirks mode?)
    css: Any  # the tinycss2 module
    fetcher: Callable[[Mapping[str, tuple[str, bytes]]], Any]  # -> a weasyprint URLFetcher
    stylesheet: Any  # weasyprint.CSS, our user stylesheet


@functools.cache
def _engine() -> _Engine:
    try:
        with _quiet_logs():
            import tinycss2
            import weasyprint
            from tinyhtml5.parser import HTMLParser
            from weasyprint.urls import URLFetcher, URLFetcherResponse
    except Exception as exc:  # ImportError, or OSError when Pango is missing
        raise RenderError(f"WeasyPrint could not be loaded ({type(exc).__name__})") from exc

    class OfflineFetcher(URLFetcher):  # type: ignore[misc]  # weasyprint has no type hints
        """Serves cid: and data: URLs from memory; refuses every other URL."""

        def __init__(self, inline: Mapping[str, tuple[str, bytes]]) -> None:
            super().__init__(allowed_protocols=("cid", "data"), allow_redirects=False)
            self._inline = {_cid_key(cid): part for cid, part in inline.items()}

        def fetch(self, url: str, headers: Any = None) -> Any:
            media_type, data = _resolve(url, self._inline)
            if media_type.partition(";")[0] == "text/css":  # a cid: or data: stylesheet
                data = _clean_css_bytes(tinycss2, data, media_type.partition("charset=")[2])
                media_type = "text/css; charset=utf-8"
            return URLFetcherResponse(url, body=data, headers={"Content-Type": media_type})

    def parse(html: str) -> tuple[ET.Element, bool]:
        parser = HTMLParser(namespace_html_elements=False)  # as WeasyPrint parses
        # a StringIO, never the str: tinyhtml5 reads a *file* when given a short str naming one
        root = parser.parse(io.StringIO(html))
        return root, parser.compatibility_mode == "quirks"

    with _quiet_logs():
        stylesheet = weasyprint.CSS(string=_USER_CSS, url_fetcher=OfflineFetcher({}))
    watch_progress()
    return _Engine(
        HTML=weasyprint.HTML,
        parse=parse,
        css=tinycss2,
        fetcher=OfflineFetcher,
        stylesheet=stylesheet,
    )


class _Refused(Exception):
    """A URL that rendering must not fetch."""


def _resolve(url: str, inline: Mapping[str, tuple[str, bytes]]) -> tuple[str, bytes]:
    """(media type, bytes) for a cid: or data: URL; raises _Refused for anything else."""
    scheme, colon, rest = url.partition(":")
    scheme = scheme.strip().lower() if colon else ""
    if scheme == "cid":
        part = inline.get(_cid_key(unquote(rest)))
        if part is None:
            raise _Refused(f"no inline part has the Content-ID {rest[:100]!r}")
        media_type, data = part
        return _media_type(media_type), bytes(data)
    if scheme == "data":
        return _decode_data_url(rest)
    log.debug("refused to fetch %.200s while rendering a mail body", url)
    raise _Refused(f"{url[:100]!r} was not fetched: mail bodies are rendered offline")


def _cid_key(cid: str) -> str:
    cid = cid.strip()
    if cid.startswith("<") and cid.endswith(">"):
        cid = cid[1:-1].strip()
    return cid.lower()


_MEDIA_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")
_CHARSET = re.compile(r"charset\s*=\s*\"?([a-z0-9_.:+-]+)\"?")
_BASE64_SUFFIX = re.compile(r";\s*base64$", re.IGNORECASE)


def _media_type(value: str) -> str:
    """``type/subtype`` and its charset, if any, from a Content-Type value (lower case)."""
    kind, *params = (p.strip() for p in value.lower().split(";"))
    if not _MEDIA_TYPE.fullmatch(kind):
        return "application/octet-stream"
    charsets = [m[1] for p in params if (m := _CHARSET.fullmatch(p))]
    return f"{kind}; charset={charsets[0]}" if charsets else kind


def _decode_data_url(rest: str) -> tuple[str, bytes]:
    """RFC 2397: ``[<media type>][;charset=x][;base64],<data>``, decoded without urllib."""
    header, comma, payload = rest.partition(",")
    if not comma:
        raise _Refused("malformed data: URL (no comma)")
    header, is_base64 = _BASE64_SUFFIX.subn("", header.strip())
    media_type = _media_type(header) if header else "text/plain"
    data = unquote_to_bytes(payload)
    if is_base64:
        data = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
        data = base64.b64decode(data + b"=" * (-len(data) % 4))
    return media_type, data


# WeasyPrint 70 does not catch a failed fetch for @color-profile (css/__init__.py): one refused
# URL there would abort the whole render. So these rules go, from every stylesheet it will read.
_GROUP_RULES = frozenset({"media", "layer", "supports", "container", "scope", "document"})


def _clean_css(tinycss2: Any, css: str) -> str:
    """The stylesheet without @color-profile rules (also inside @media, @layer, ...)."""
    if "profile" not in css.lower() and "\\" not in css:
        return css
    rules = tinycss2.parse_stylesheet(css)
    return tinycss2.serialize(rules) if _drop_profiles(tinycss2, rules) else css


def _drop_profiles(tinycss2: Any, rules: list[Any]) -> bool:
    changed = False
    for i, rule in reversed(list(enumerate(rules))):
        if rule.type != "at-rule":
            continue
        if rule.lower_at_keyword == "color-profile":
            del rules[i]
            changed = True
        elif rule.lower_at_keyword in _GROUP_RULES and rule.content is not None:
            inner = tinycss2.parse_rule_list(rule.content)
            if _drop_profiles(tinycss2, inner):
                rules[i] = tinycss2.parse_one_rule(
                    "@"
                    + tinycss2.serialize_identifier(rule.at_keyword)
                    + tinycss2.serialize(rule.prelude)
                    + "{"
                    + tinycss2.serialize(inner)
                    + "}"
                )
                changed = True
    return changed


def _clean_css_bytes(tinycss2: Any, data: bytes, charset: str) -> bytes:
    css, _encoding = tinycss2.bytes.decode_stylesheet_bytes(data, protocol_encoding=charset or None)
    return _clean_css(tinycss2, css).encode("utf-8", "replace")


class _QuietLogs:
    """Raise the noisy loggers above CRITICAL while at least one render runs (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._saved: dict[str, int] = {}

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._depth == 0:
                for name in _NOISY_LOGGERS:
                    logger = logging.getLogger(name)
                    self._saved[name] = logger.level
                    logger.setLevel(logging.CRITICAL + 1)
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0:
                    for name, level in self._saved.items():
                        logging.getLogger(name).setLevel(level)
                    self._saved.clear()


_quiet_logs = _QuietLogs()


# -- building the document --------------------------------------------------------------------

_SVG = "{http://www.w3.org/2000/svg}"
# removed with everything inside them (HTML namespace); <script> in any namespace
_DROP = frozenset(
    {"script", "iframe", "frame", "frameset", "object", "embed", "applet", "param", "base",
     "meta", "title", "portal", "fencedframe"}
)  # fmt: skip
_ASCII_WS = re.compile(r"[\t\n\f\r ]+")


def _parse_html(engine: _Engine, html: str) -> tuple[ET.Element, bool]:
    """The cleaned tree, and whether the HTML was parsed in quirks mode (no or an old doctype)."""
    root, quirks = engine.parse(html)
    _sanitise(root)
    if root.find("body") is None:  # a frameset document, now without its frameset
        ET.SubElement(root, "body")
    for style in root.iter("style"):  # HTML <style> only: SVG ones are handled apart
        if style.text:
            style.text = _clean_css(engine.css, style.text)
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
