"""The WeasyPrint engine the renderers share (``render`` for mail bodies, ``render_html`` for
pages this program wrote), and the guards every render runs under.

``engine()`` imports WeasyPrint on first use (about 0.6 s) and keeps it. Its fetcher
(``OfflineFetcher``) serves ``cid:`` URLs from the message's inline parts and decodes ``data:``
URLs itself, and refuses everything else (http, https, file, ftp, relative, ...) without
touching the network or the file system; stylesheets it serves lose their ``@color-profile``
rules (``clean_css``), which WeasyPrint would otherwise fail on.

``rendering(bounds, what)`` is the guard around one render: the bounds of ``render_bounds``
apply, WeasyPrint's and fontTools' loggers are quiet (``quiet_logs``: the refused fetches are
expected), and any failure other than a limit becomes one ``RenderError`` sentence.
``write_pdf`` checks the laid-out pages and time against the bounds, then writes the PDF.
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
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, unquote_to_bytes

from invoice_inbox.pipeline.limits import LimitExceeded
from invoice_inbox.pipeline.render_bounds import Bounds, bounded, watch_progress

__all__ = ["Engine", "RenderError", "clean_css", "engine", "quiet_logs", "rendering", "write_pdf"]

log = logging.getLogger(__name__)

# loggers that report every refused fetch; silenced while rendering (the refusals are expected)
_NOISY_LOGGERS = ("weasyprint", "fontTools")


class RenderError(Exception):
    """The document could not be rendered; the message is one plain sentence."""


@contextmanager
def rendering(bounds: Bounds, what: str) -> Iterator[None]:
    """Render within *bounds*, with the noisy loggers quiet. ``LimitExceeded`` and
    ``RenderError`` pass; any other failure becomes ``RenderError`` ("WeasyPrint failed on
    *what* (its type)")."""
    try:
        with bounded(bounds), quiet_logs():
            yield
    except (LimitExceeded, RenderError):
        raise
    except Exception as exc:
        raise RenderError(f"WeasyPrint failed on {what} ({type(exc).__name__})") from exc


# document: a weasyprint Document, options: its write_pdf's (weasyprint is untyped)
def write_pdf(document: Any, bounds: Bounds, what: str, **options: Any) -> bytes:
    """The PDF of a laid-out WeasyPrint *document*, after its pages and time are checked against
    *bounds* (also when the progress log was off)."""
    bounds.check_pages(len(document.pages))
    bounds.check_time()
    pdf = document.write_pdf(**options)
    if not isinstance(pdf, bytes):  # pragma: no cover - write_pdf() without a target
        raise RenderError(f"WeasyPrint returned no PDF for {what}")
    return pdf


@dataclass(frozen=True)
class Engine:
    """WeasyPrint and its parsers, loaded once (``engine()``)."""

    HTML: Any  # weasyprint.HTML
    CSS: Any  # weasyprint.CSS
    parse: Callable[[str], tuple[ET.Element, bool]]  # HTML -> (tree, parsed in quirks mode?)
    css: Any  # the tinycss2 module
    fetcher: Callable[[Mapping[str, tuple[str, bytes]]], Any]  # -> a weasyprint URLFetcher


@functools.cache
def engine() -> Engine:
    """The engine; the first call imports WeasyPrint (about 0.6 s). Raises ``RenderError``
    when it cannot be loaded (not installed, or Pango missing)."""
    try:
        with quiet_logs():
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

        def fetch(self, url: str, headers: Any = None) -> Any:  # weasyprint's (untyped)
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

    watch_progress()
    return Engine(
        HTML=weasyprint.HTML,
        CSS=weasyprint.CSS,
        parse=parse,
        css=tinycss2,
        fetcher=OfflineFetcher,
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


# tinycss2 here and below: the module, imported with weasyprint only when a page is rendered;
# its nodes are of many classes, told apart by their .type
def clean_css(tinycss2: Any, css: str) -> str:
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
    return clean_css(tinycss2, css).encode("utf-8", "replace")


class QuietLogs:
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


quiet_logs = QuietLogs()
