"""Crafted hostile files for the limit tests and benchmarks/hostile.py: PDFs whose embedded files
are compressed streams written as they are (a PDF bomb is kilobytes on disk), an HTML body that
asks for one page per ``<br>`` (a page bomb), a ZIP bomb and deeply nested MIME."""

from __future__ import annotations

import base64
import functools
import io
import zipfile
import zlib
from collections.abc import Sequence

MIB = 1024 * 1024


@functools.cache
def deflated_zeros(size: int) -> bytes:
    """*size* zero bytes, deflated (zlib), made in 1 MiB steps: ~1 KB per MiB."""
    packer = zlib.compressobj(9)
    block = bytes(min(size, MIB))
    parts = []
    left = size
    while left:
        step = min(left, MIB)
        parts.append(packer.compress(block[:step]))
        left -= step
    parts.append(packer.flush())
    return b"".join(parts)


def _literal(text: str) -> bytes:
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return b"(" + escaped.encode("latin-1") + b")"


def pdf_with_packed_files(
    files: Sequence[tuple[str, bytes]], *, filter: str | None = "/FlateDecode"
) -> bytes:
    """A one-page PDF embedding *files* (name, stream bytes stored as given, with *filter*), in
    the EmbeddedFiles name tree and the catalogue's /AF array, as Factur-X writes them."""
    objects: list[bytes] = []  # object n is objects[n - 1]
    first_file = 4
    names, specs = [], []
    for index, (name, _stored) in enumerate(files):
        spec_number = first_file + 2 * index
        names.append(_literal(name) + f" {spec_number} 0 R".encode())
        specs.append(f"{spec_number} 0 R".encode())
    objects.append(
        b"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names ["
        + b" ".join(names)
        + b"] >> >> /AF ["
        + b" ".join(specs)
        + b"] >>"
    )
    objects.append(b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
    objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>")
    for index, (name, stored) in enumerate(files):
        stream_number = first_file + 2 * index + 1
        objects.append(
            b"<< /Type /Filespec /F " + _literal(name) + b" /UF " + _literal(name)
            + f" /EF << /F {stream_number} 0 R >> /AFRelationship /Data >>".encode()
        )  # fmt: skip
        filter_entry = f" /Filter {filter}" if filter else ""
        objects.append(
            f"<< /Type /EmbeddedFile /Subtype /text#2Fxml{filter_entry} /Length {len(stored)} >>\n"
            .encode() + b"stream\n" + stored + b"\nendstream"
        )  # fmt: skip
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    trailer = f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    out += trailer.encode()
    return bytes(out)


def pdf_bomb(files: int = 24, size: int = 70 * MIB) -> bytes:
    """*files* embedded "invoice-N.xml" files, each *size* zero bytes deflated (the issue's bomb:
    24 x 70 MB in 1.6 MB)."""
    packed = deflated_zeros(size)
    return pdf_with_packed_files([(f"invoice-{n}.xml", packed) for n in range(files)])


def page_bomb_html(breaks: int = 3000) -> str:
    """About 4 bytes per forced page break: 3,000 pages from 12 KB of HTML."""
    return "<style>br { display: block; break-after: page }</style>" + "<br>" * breaks


def zip_bomb(size: int = 1024 * MIB, name: str = "invoice.pdf") -> bytes:
    """A ZIP with one deflated entry of *size* zero bytes (1 GiB in about 1 MB)."""
    buffer = io.BytesIO()
    zeros = bytes(MIB)
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open(name, "w", force_zip64=True) as member,
    ):
        for _ in range(size // MIB):
            member.write(zeros)
    return buffer.getvalue()


def deep_mime(levels: int, pdf: bytes, sender: str = "billing@supplier.example") -> bytes:
    """A mail whose multipart/mixed parts are nested *levels* deep around one PDF."""
    out = [
        f"From: Billing <{sender}>\r\nTo: ap@buyer.example\r\nSubject: deep\r\n"
        "MIME-Version: 1.0\r\n".encode()
    ]
    for i in range(levels):
        out.append(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i))
    out.append(
        b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="deep.pdf"'
        b"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(pdf).replace(b"\n", b"\r\n")
    )
    out += [b"\r\n--b%d--\r\n" % i for i in reversed(range(levels))]
    return b"".join(out)


def pdf_with_padded_object_streams(padding: int, streams: int = 3) -> bytes:
    """A PDF whose catalogue, names dictionary and embedded-files tree each sit in their own
    compressed object stream (PDF 1.5, with an xref stream), each stream padded with *padding*
    bytes: a few KB on disk that pypdf must unpack to *streams* x *padding*."""
    first = 10  # compressed objects are numbered from here; stream objects from 1
    chain = [
        f"<< /Type /Catalog /Pages {first + streams} 0 R /Names {first + 1} 0 R >>",
        f"<< /EmbeddedFiles {first + 2} 0 R >>",
        *(f"<< /Kids [{first + n + 1} 0 R] >>" for n in range(2, streams - 1)),
        "<< /Names [] >>",
    ][:streams]
    chain.append("<< /Type /Pages /Kids [] /Count 0 >>")  # the (empty) page tree, uncompressed
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    for n, body in enumerate(chain[:-1]):
        # the padding sits between the stream's header and its object, where it is skipped
        inner = f"{first + n} 0 ".encode() + b"%" * padding
        data = inner + body.encode()
        packed = zlib.compress(data, 9)
        offsets[n + 1] = len(out)
        out += (
            f"{n + 1} 0 obj\n<< /Type /ObjStm /N 1 /First {len(inner)} /Filter /FlateDecode "
            f"/Length {len(packed)} >>\nstream\n".encode()
            + packed
            + b"\nendstream\nendobj\n"
        )
    pages = first + streams
    offsets[pages] = len(out)
    out += f"{pages} 0 obj\n{chain[-1]}\nendobj\n".encode()
    xref_number = pages + 1
    offsets[xref_number] = len(out)
    rows = []
    for number in range(xref_number + 1):
        if number in offsets:
            rows.append(b"\x01" + offsets[number].to_bytes(4, "big") + b"\x00\x00")
        elif first <= number < first + streams:
            rows.append(b"\x02" + (number - first + 1).to_bytes(4, "big") + b"\x00\x00")
        else:
            rows.append(b"\x00" + bytes(4) + b"\xff\xff")
    table = b"".join(rows)
    out += (
        f"{xref_number} 0 obj\n<< /Type /XRef /Size {xref_number + 1} /W [1 4 2] "
        f"/Root {first} 0 R /Length {len(table)} >>\nstream\n".encode()
        + table
        + f"\nendstream\nendobj\nstartxref\n{offsets[xref_number]}\n%%EOF\n".encode()
    )
    return bytes(out)
