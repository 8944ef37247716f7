"""Rendering a mail body to PDF with the real WeasyPrint: header block, text, inline images, and
the canary: a local HTTP server that must never hear from the renderer."""

from __future__ import annotations

import dataclasses
import io
import logging
import struct
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from invoice_inbox.pipeline import render, render_engine, render_html
from invoice_inbox.pipeline.render import Body, RenderError, body_to_pdf

SENDER = "Papierfabrik Müller KG <buchhaltung@papier-mueller.example>"
TO = "Accounts Payable <ap@buyer.example>"
DATE = "Mon, 04 May 2026 10:00 +0200"
SUBJECT = "Rechnung 4711 – Zażółć gęślą jaźń"


def body(**kw: object) -> Body:
    fields: dict[str, object] = {
        "sender": SENDER,
        "to": TO,
        "date": DATE,
        "subject": SUBJECT,
        "html": None,
        "text": None,
    }
    fields.update(kw)
    return Body(**fields)  # type: ignore[arg-type]


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def image_count(pdf: bytes) -> int:
    """Image XObjects used by the pages (also inside form XObjects)."""

    def walk(resources: object, seen: set[int]) -> int:
        found = 0
        xobjects = resources.get("/XObject") if hasattr(resources, "get") else None
        for ref in (xobjects or {}).values():
            obj = ref.get_object()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if obj.get("/Subtype") == "/Image":
                found += 1
            elif obj.get("/Subtype") == "/Form" and "/Resources" in obj:
                found += walk(obj["/Resources"].get_object(), seen)
        return found

    seen: set[int] = set()
    return sum(
        walk(page.get("/Resources", {}).get_object(), seen)
        for page in PdfReader(io.BytesIO(pdf)).pages
    )


def tiny_png(width: int = 4, height: int = 3) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + b"\xc8\x1e\x1e" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


# -- header block and text ----------------------------------------------------------------


def test_html_body_below_the_header_block() -> None:
    html = "<html><body><h1>Rechnung</h1><p>Müllerstraße 5, Summe 1.234,50 €</p></body></html>"
    pdf = body_to_pdf(body(html=html, text="the plain-text alternative"))
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    for expected in (
        "From",
        "Papierfabrik Müller KG <buchhaltung@papier-mueller.example>",
        "To",
        "Accounts Payable <ap@buyer.example>",
        "Date",
        DATE,
        "Subject",
        SUBJECT,
        "Müllerstraße 5, Summe 1.234,50 €",
    ):
        assert expected in text
    assert text.index(SUBJECT) < text.index("Müllerstraße")  # the header comes first
    assert "plain-text alternative" not in text  # the HTML body is preferred


def test_plain_text_body_is_escaped_and_long_lines_wrap() -> None:
    long_line = " ".join(f"w{i:03d}" for i in range(150))
    text_body = (
        f"Sehr geehrte Damen und Herren,\n\n<b>Zażółć</b> & Müllerstraße: 99,00 €\n{long_line}"
    )
    pdf = body_to_pdf(body(text=text_body))
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    assert SUBJECT in text
    assert "Sehr geehrte Damen und Herren," in text
    assert "<b>Zażółć</b> & Müllerstraße: 99,00 €" in text
    assert all(f"w{i:03d}" in text for i in range(150))
    assert "\n" in text[text.index("w000") : text.index("w149")]  # wrapped, not cut off
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1


def test_empty_or_missing_bodies() -> None:
    assert "(the message has no text)" in pdf_text(body_to_pdf(body()))
    assert "(the message has no text)" in pdf_text(body_to_pdf(body(html=" \n", text="")))
    text = pdf_text(body_to_pdf(body(html="  ", text="only the text part")))
    assert "only the text part" in text


def test_header_fields_are_html_escaped_and_empty_date_left_out() -> None:
    pdf = body_to_pdf(
        body(
            sender='"<script>" <evil@x.example>',
            subject="<img src=x> & <b>not bold</b>",
            date="",
            text="hello",
        )
    )
    text = pdf_text(pdf)
    assert '"<script>" <evil@x.example>' in text
    assert "<img src=x> & <b>not bold</b>" in text
    assert "Date" not in text
    assert PdfReader(io.BytesIO(pdf)).metadata.title == "<img src=x> & <b>not bold</b>"


def test_the_mail_css_cannot_hide_or_move_the_header_block() -> None:
    html = """<style>
      #invoice-inbox-header, body > div:first-child, table, th, td {
        display: none !important; visibility: hidden !important; }
      body { display: flex !important; flex-direction: column-reverse !important;
             padding-top: 300mm !important; }
      @page { size: A6 landscape !important; margin: 0 !important; }
    </style><p>BODY-MARKER</p>"""
    pdf = body_to_pdf(body(html=html))
    text = pdf_text(pdf)
    assert "Papierfabrik Müller KG" in text
    assert text.index(SUBJECT) < text.index("BODY-MARKER")
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (595, 842)


def test_a_short_html_body_naming_a_file_is_text_not_the_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.html"
    secret.write_text("<p>SECRET-FILE-CONTENT</p>")
    text = pdf_text(body_to_pdf(body(html=str(secret))))
    assert "SECRET-FILE-CONTENT" not in text
    assert secret.name in text


def test_output_is_deterministic() -> None:
    b = body(html="<p>Müllerstraße</p>", inline={"logo": ("image/png", tiny_png())})
    assert body_to_pdf(b) == body_to_pdf(b)


# -- inline images ------------------------------------------------------------------------


@pytest.mark.parametrize("content_id", ["logo@acme.example", "<logo@acme.example>", "LOGO@Acme"])
def test_cid_image_is_embedded(content_id: str) -> None:
    html = '<p>Acme</p><img src="cid:logo@acme.example" alt="ALT-LOGO"><p>after</p>'
    if content_id == "LOGO@Acme":
        html = html.replace("logo@acme.example", "<logo@ACME>")  # a cid: URL with <>
    pdf = body_to_pdf(body(html=html, inline={content_id: ("image/png", tiny_png())}))
    assert image_count(pdf) == 1
    assert "ALT-LOGO" not in pdf_text(pdf)


def test_missing_cid_renders_without_the_image() -> None:
    html = '<img src="cid:nowhere@acme.example" alt="ALT-LOGO"><p>INVOICE-TEXT</p>'
    pdf = body_to_pdf(body(html=html, inline={"logo@acme.example": ("image/png", tiny_png())}))
    assert pdf.startswith(b"%PDF-")
    assert image_count(pdf) == 0
    text = pdf_text(pdf)
    assert "INVOICE-TEXT" in text
    assert "ALT-LOGO" in text  # the alt text stands in for the image


def test_data_url_image_is_embedded() -> None:
    import base64

    src = "data:image/png;base64," + base64.b64encode(tiny_png()).decode()
    assert image_count(body_to_pdf(body(html=f'<img src="{src}">'))) == 1


def test_cid_stylesheet_is_applied() -> None:
    css = b'p.total::after { content: " CSS-FROM-CID"; }'
    html = '<link rel="stylesheet" href="cid:style"><p class="total">Total</p>'
    pdf = body_to_pdf(body(html=html, inline={"style": ("text/css", css)}))
    assert "Total CSS-FROM-CID" in pdf_text(pdf)


# -- bounds and errors --------------------------------------------------------------------


def test_oversize_bodies_are_refused() -> None:
    big = "<p>" + "x" * (5 * 1024 * 1024) + "</p>"
    with pytest.raises(RenderError, match=r"^the mail body is too large to render \(5\.0 MB\)$"):
        body_to_pdf(body(html=big))
    with pytest.raises(RenderError, match="too large"):
        body_to_pdf(body(text="€" * (2 * 1024 * 1024)))  # 6 MB as UTF-8


def test_a_weasyprint_failure_becomes_a_render_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise ValueError("boom\nwith a second line")

    engine = dataclasses.replace(render.engine(), HTML=broken)
    monkeypatch.setattr(render, "engine", lambda: engine)
    with pytest.raises(RenderError) as info:
        body_to_pdf(body(html="<p>x</p>"))
    assert str(info.value) == "WeasyPrint failed on the mail body (ValueError)"
    assert isinstance(info.value.__cause__, ValueError)


def test_a_weasyprint_failure_on_a_page_becomes_a_render_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The printable e-invoice page (``render_html``) runs under the same guard as a body."""

    def broken(*args: object, **kwargs: object) -> object:
        raise ValueError("boom")

    engine = dataclasses.replace(render.engine(), HTML=broken)
    monkeypatch.setattr(render_html, "engine", lambda: engine)
    with pytest.raises(RenderError) as info:
        render_html.html_to_pdf("<p>x</p>")
    assert str(info.value) == "WeasyPrint failed on the page (ValueError)"
    assert isinstance(info.value.__cause__, ValueError)


def test_weasyprint_is_imported_lazily() -> None:
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('r', {render.__file__!r})\n"
        "module = sys.modules['r'] = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "print(sorted(m for m in ('weasyprint', 'tinyhtml5', 'tinycss2') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- the canary: nothing is fetched from anywhere --------------------------------------------


class _Recorder(ThreadingHTTPServer):
    """Counts every TCP connection and records every HTTP request."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.connections = 0
        self.requests: list[str] = []

    def process_request(self, request: object, client_address: object) -> None:
        self.connections += 1
        super().process_request(request, client_address)  # type: ignore[arg-type]


class _Handler(BaseHTTPRequestHandler):
    server: _Recorder

    def _answer(self) -> None:
        self.server.requests.append(f"{self.command} {self.path}")
        body = tiny_png()
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_HEAD = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def canary(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Recorder]:
    for name in ("http_proxy", "https_proxy", "ftp_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    server = _Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def canary_html(port: int) -> str:
    u = f"http://127.0.0.1:{port}"
    nested_svg = quote(
        "<svg xmlns='http://www.w3.org/2000/svg' width='20' height='20'>"
        f"<image href='{u}/svg-in-data-url.png' width='20' height='20'/></svg>"
    )
    return f"""<!DOCTYPE html>
<html><head>
<base href="{u}/base/">
<meta http-equiv="refresh" content="0; url={u}/refresh">
<link rel="stylesheet" href="{u}/link.css">
<link rel="import" href="{u}/import.html">
<link rel="attachment" href="{u}/link-attachment.pdf">
<link rel="icon" href="{u}/favicon.ico">
<link rel="stylesheet" href="relative.css">
<link rel="stylesheet" href="cid:style">
<script src="{u}/script.js"></script>
<style>
@import url({u}/import.css);
@import "{u}/import-string.css";
@font-face {{ font-family: Canary; src: url({u}/font.woff2) format("woff2"), url({u}/font.ttf); }}
@font-face {{ font-family: Canary2; src: url(//127.0.0.1:{port}/protocol-relative.ttf); }}
@color-profile --canary {{ src: url({u}/profile.icc); }}
@media print {{ @color-profile --nested {{ src: url({u}/nested.icc); }} }}
body {{ font-family: Canary, Canary2, sans-serif; background-image: url({u}/background.png); }}
ul {{ list-style-image: url({u}/bullet.png); }}
p.after::after {{ content: url({u}/content.png); }}
div.border {{ border: 10px solid; border-image: url({u}/border.png) 30 round; }}
@page {{ background: url({u}/page.png); }}
</style>
</head>
<body background="{u}/body-attribute.png">
<p class="after">CANARY-BODY-TEXT</p>
<img src="{u}/a.png" alt="">
<img src="//127.0.0.1:{port}/protocol-relative.png">
<img src="relative.png"><img src="/absolute-path.png">
<img src="file:///etc/hostname"><img src="file:///etc/passwd">
<img src="ftp://127.0.0.1:{port}/ftp.png"><img src="https://127.0.0.1:{port}/https.png">
<img srcset="{u}/srcset.png 2x">
<picture><source srcset="{u}/source.png"><img src="{u}/picture.png"></picture>
<img src="data:image/svg+xml,{nested_svg}">
<img src="{u}/image.svg">
<iframe src="{u}/iframe.html"></iframe>
<object data="{u}/object.png" type="image/png">object fallback</object>
<embed src="{u}/embed.png" type="image/png">
<video poster="{u}/poster.png" src="{u}/video.mp4"></video>
<audio src="{u}/audio.mp3"></audio>
<input type="image" src="{u}/input.png">
<table background="{u}/table-attribute.png"><tr>
  <td background="{u}/td-attribute.png">cell</td></tr></table>
<div style="background-image: url('{u}/style-attribute.png')">styled</div>
<div class="border">border</div>
<ul><li>item</li></ul>
<a rel="attachment" href="{u}/a-attachment.pdf">attachment link</a>
<svg width="10" height="10"><style>@import url({u}/svg-import.css);</style></svg>
<svg width="100" height="100" xmlns:xlink="http://www.w3.org/1999/xlink">
  <style>rect {{ fill: url({u}/fill.svg#g); }}</style>
  <image href="{u}/svg-image.png" width="10" height="10"/>
  <image xlink:href="{u}/svg-xlink-image.png" width="10" height="10"/>
  <use href="{u}/sprite.svg#icon"/>
  <rect width="10" height="10" filter="url({u}/filter.svg#f)"/>
  <foreignObject><img src="{u}/foreign-object.png"></foreignObject>
</svg>
</body></html>"""


def test_canary_nothing_is_fetched(
    canary: _Recorder, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    port = canary.server_address[1]
    u = f"http://127.0.0.1:{port}"
    style = f"@import url({u}/cid-import.css); p {{ background: url({u}/cid-css.png) }}"
    b = body(html=canary_html(port), inline={"style": ("text/css", style.encode())})
    pdf = body_to_pdf(b)

    assert canary.requests == []
    assert canary.connections == 0
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    assert "CANARY-BODY-TEXT" in text
    assert SUBJECT in text
    # the resources were asked for, and refused by the fetcher (not skipped for another reason)
    refused = " ".join(r.getMessage() for r in caplog.records if r.name == render_engine.__name__)
    for path in (
        "/a.png", "/link.css", "/import.css", "/import-string.css", "/font.woff2", "/font.ttf",
        "/background.png", "/style-attribute.png", "/table-attribute.png", "/content.png",
        "/border.png", "/page.png", "/svg-image.png", "/svg-xlink-image.png",
        "/svg-in-data-url.png", "/image.svg", "/cid-import.css", "/cid-css.png", "/https.png",
        "/ftp.png",
    ):  # fmt: skip
        assert f"127.0.0.1:{port}{path}" in refused, path
    assert "file:///etc/hostname" in refused
    # and nothing was printed or logged by WeasyPrint or fontTools
    noisy = [r for r in caplog.records if r.name.startswith(("weasyprint", "fontTools"))]
    assert noisy == []
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_existing_local_image_is_not_read(tmp_path: Path) -> None:
    png = tmp_path / "local.png"
    png.write_bytes(tiny_png())
    html = f'<img src="{png.as_uri()}"><img src="{png}"><p>text</p>'
    assert image_count(body_to_pdf(body(html=html))) == 0


def test_color_profile_with_refused_url_does_not_abort_the_render() -> None:
    html = (
        "<style>@c\\olor-profile --x { src: url(http://127.0.0.1:9/x.icc) }</style>"
        "<p>STILL-RENDERED</p>"
    )
    assert "STILL-RENDERED" in pdf_text(body_to_pdf(body(html=html)))


# -- the cleaned HTML parses back without what was removed ---------------------------------

_FRAGMENTS = (
    "<script>", "</script>", "<iframe src=x>", "</iframe>", "<object data=x>", "</object>",
    "<embed src=x>", "<base href=x>", "<meta http-equiv=refresh content=0>", "<title>",
    "<link rel=import href=x>", "<link rel=stylesheet href=x>", "<link rel='stylesheet icon'>",
    "<a rel=attachment href=x>", "</a>", "<svg>", "</svg>", "<math>", "<mtext>", "<table>",
    "<tr>", "<td>", "<select>", "<template>", "</template>", "<noscript>", "</noscript>",
    "<style>", "</style>", "<xmp>", "</xmp>", "<textarea>", "<plaintext>", "<noembed>",
    "<form>", "</form>", "<p>", "<pre>", "<!--", "-->", "<![CDATA[", "]]>", "<foreignObject>",
    "<desc>", "<frameset>", "<frame src=x>", "<image src=x>", "<applet>", "&lt;", "&amp;",
    "<ScRiPt>", "<svg><script>", "<math><mi><iframe>", "<noframes>", "<svg><style>",
    "<svg><desc><embed>", "<object><param>", "\n", "<", ">", "</", "=", '"', "'",
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_FRAGMENTS) | st.text(max_size=4), max_size=40).map("".join))
def test_sanitised_html_reparses_without_removed_elements(html: str) -> None:
    engine = render.engine()
    root, quirks = render._parse_html(engine, html)
    once = render._serialise(root, quirks=quirks)
    again, quirks_again = engine.parse(once)
    assert quirks_again == quirks
    leftover = [
        el.tag
        for el in again.iter()
        if render._unwanted(el) or (el.tag in ("a", "area") and "rel" in el.attrib)
    ]
    assert leftover == []
