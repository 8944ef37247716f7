"""Unpacking ZIP and TNEF containers: real winmail.dat files, hostile archives, fuzzed bytes."""

from __future__ import annotations

import email
import io
import os
import stat
import struct
import tracemalloc
import zipfile
from email.message import Message
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpus import CORPUS
from invoice_inbox.pipeline.containers import (
    ContainerRefused,
    Entry,
    Unpacked,
    ZipLimits,
    is_zip,
    unzip,
)
from invoice_inbox.pipeline.tnef import is_tnef, untnef

PDF_A = b"%PDF-1.4 invoice A\n%%EOF\n"
PDF_B = b"%PDF-1.4 invoice B\n%%EOF\n"
MIB = 1024 * 1024


def make_zip(
    members: list[tuple[str | zipfile.ZipInfo, bytes]],
    compression: int = zipfile.ZIP_DEFLATED,
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def make_zeros_zip(name: str, size: int) -> bytes:
    """One deflated entry of *size* zero bytes, written in 1 MiB chunks to stay small in memory."""
    buffer = io.BytesIO()
    zeros = bytes(MIB)
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open(name, "w") as member,
    ):
        for _ in range(size // MIB):
            member.write(zeros)
    return buffer.getvalue()


def patch_member(data: bytes, name: str, *, local_at: int, central_at: int, value: int) -> bytes:
    """Write a 16-bit field of *name*'s local and central headers (offsets from each header)."""
    patched = bytearray(data)
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(name)
    struct.pack_into("<H", patched, info.header_offset + local_at, value)
    central = data.find(b"PK\x01\x02")
    while central != -1:
        name_length = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46 : central + 46 + name_length] == name.encode():
            struct.pack_into("<H", patched, central + central_at, value)
            return bytes(patched)
        central = data.find(b"PK\x01\x02", central + 4)
    raise AssertionError(f"no central directory header for {name}")


def tnef_part(file: str) -> bytes:
    message = email.message_from_bytes((CORPUS / file).read_bytes())
    for part in message.walk():
        if part.get_content_type() == "application/ms-tnef":
            assert isinstance(part, Message)
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload
    raise AssertionError(f"{file} has no application/ms-tnef part")


# --- TNEF: tnefparse record framing, for hand-made hostile streams ---------------------------

TNEF_HEADER = struct.pack("<IH", 0x223E9F78, 0)
IMESSAGE_IID = bytes.fromhex("0703020000000000c000000000000046")  # starts an embedded message


def tnef_record(level: int, name: int, kind: int, data: bytes) -> bytes:
    checksum = sum(data) & 0xFFFF
    return struct.pack("<BHHI", level, name, kind, len(data)) + data + struct.pack("<H", checksum)


def message_props(payload: bytes) -> bytes:
    return TNEF_HEADER + tnef_record(1, 0x9003, 6, payload)


def embedding(inner: bytes, depth: int) -> bytes:
    """A TNEF stream whose one attachment is *inner* embedded *depth* times as a message."""
    stream = inner
    for _ in range(depth):
        blob = IMESSAGE_IID + stream
        blob += bytes(-len(blob) % 4)
        # one property: PtypObject PidTagAttachDataObject, one value of len(blob) bytes
        props = struct.pack("<IHHII", 1, 0x000D, 0x3701, 1, len(blob)) + blob
        stream = (
            TNEF_HEADER + tnef_record(2, 0x9002, 6, bytes(14)) + tnef_record(2, 0x9005, 6, props)
        )
    return stream


# --- TNEF -------------------------------------------------------------------------------------


def test_tnef_magic() -> None:
    assert is_tnef((CORPUS / "ytnef__winmail.dat").read_bytes())
    assert not is_tnef(b"PK\x03\x04")
    assert not is_tnef(b"")


def test_winmail_dat_with_a_jpeg_and_an_html_file() -> None:
    unpacked = untnef((CORPUS / "ytnef__winmail.dat").read_bytes())
    assert [e.name for e in unpacked.entries] == ["zappa_av1.jpg", "bookmark.htm"]
    jpeg, html = unpacked.entries
    assert jpeg.data.startswith(b"\xff\xd8\xff")
    assert len(jpeg.data) == 2937
    assert html.data.startswith(b"<!DOCTYPE NETSCAPE-Bookmark-file-1>")
    assert unpacked.skipped == ()


def test_tnef_with_two_small_files() -> None:
    unpacked = untnef((CORPUS / "mimekit__two-files.tnef").read_bytes())
    assert [e.name for e in unpacked.entries] == ["AUTHORS", "README"]
    assert b"Authors of tnef" in unpacked.entries[0].data
    assert b"TNEF" in unpacked.entries[1].data
    assert [len(e.data) for e in unpacked.entries] == [244, 893]


def test_tnef_with_two_ole_objects() -> None:
    unpacked = untnef((CORPUS / "mimekit__winmail.tnef").read_bytes())
    # Both are OLE objects (attach method 6): tnefparse gives the IStorage IID (16 bytes) and
    # then the compound file, named as Outlook shows them.
    assert [e.name for e in unpacked.entries] == ["Untitled Attachment", "Untitled Attachment"]
    for entry in unpacked.entries:
        assert entry.data[16:24] == bytes.fromhex("d0cf11e0a1b11ae1")
    assert [len(e.data) for e in unpacked.entries] == [29034, 68261]


def test_tnef_with_only_an_html_body() -> None:
    unpacked = untnef(tnef_part("mimekit__ukr.eml"))
    assert unpacked.entries == ()
    assert unpacked.skipped == ()
    assert unpacked.html_body is not None
    assert unpacked.html_body.lstrip().startswith("<html>")
    assert "</html>" in unpacked.html_body


def test_tnef_attachments_have_no_html_body() -> None:
    assert untnef((CORPUS / "mimekit__two-files.tnef").read_bytes()).html_body is None


def test_legacy_attachment_title_is_read_in_the_oem_code_page() -> None:
    stream = (
        TNEF_HEADER
        + tnef_record(1, 0x9007, 6, struct.pack("<II", 1252, 0))  # attOemCodepage
        + tnef_record(2, 0x9002, 6, bytes(14))  # attAttachRendData starts an attachment
        + tnef_record(2, 0x8010, 1, "Rechnung März.pdf".encode("cp1252") + b"\0")  # title
        + tnef_record(2, 0x800F, 6, PDF_A)  # attAttachData
    )
    assert untnef(stream) == Unpacked((Entry("Rechnung März.pdf", PDF_A),))


def test_embedded_message_comes_back_as_a_tnef_entry_for_the_caller() -> None:
    inner = (CORPUS / "mimekit__two-files.tnef").read_bytes()
    unpacked = untnef(embedding(inner, depth=1))
    assert [e.name for e in unpacked.entries] == ["attachment-1"]
    assert is_tnef(unpacked.entries[0].data)
    assert [e.name for e in untnef(unpacked.entries[0].data).entries] == ["AUTHORS", "README"]


def test_tnef_nested_too_deep_is_refused() -> None:
    inner = (CORPUS / "mimekit__two-files.tnef").read_bytes()
    with pytest.raises(ContainerRefused, match="embedded messages more than 4 deep"):
        untnef(embedding(inner, depth=6))


@pytest.mark.parametrize(
    ("stream", "reason"),
    [
        # 2**32 - 1 properties in 8 bytes: tnefparse would loop for minutes
        (message_props(struct.pack("<I", 0xFFFFFFFF) + bytes(8)), "declares 4294967295 prop"),
        # a multi-valued PtypInteger16 with 2**32 - 1 values: one Python object each
        (message_props(struct.pack("<IHHI", 1, 0x1002, 0x0001, 0xFFFFFFFF)), "property values"),
        # 200 000 tiny records: tnefparse copies the rest of the stream for every one
        (TNEF_HEADER + tnef_record(1, 0x800D, 4, b"\0\0") * 200_000, "more than 1000 records"),
        # a recipient row declaring 2**32 - 1 properties
        (
            TNEF_HEADER + tnef_record(1, 0x9004, 6, struct.pack("<II", 1, 0xFFFFFFFF) + bytes(16)),
            "declares 4294967295 prop",
        ),
    ],
    ids=["property-count", "multi-value-count", "records", "recipient-row"],
)
def test_tnef_shapes_that_would_hang_the_parser_are_refused(stream: bytes, reason: str) -> None:
    with pytest.raises(ContainerRefused, match=reason) as caught:
        untnef(stream)
    assert str(caught.value).startswith("winmail.dat could not be read: ")


@pytest.mark.parametrize(
    "data",
    [b"", b"not tnef at all", TNEF_HEADER[:5], TNEF_HEADER + tnef_record(2, 0x9005, 6, bytes(8))],
    ids=["empty", "text", "truncated-header", "attachment-record-first"],
)
def test_unreadable_tnef_is_refused(data: bytes) -> None:
    with pytest.raises(ContainerRefused, match=r"^winmail\.dat could not be read: "):
        untnef(data)


# --- ZIP: ordinary archives -----------------------------------------------------------------


def test_tnef_without_records_has_nothing() -> None:
    assert untnef(TNEF_HEADER + b"\x01\x02") == Unpacked(())


def test_zip_magic() -> None:
    assert is_zip(make_zip([("a.pdf", PDF_A)]))
    assert is_zip(make_zip([]))  # only the end-of-central-directory record: PK\x05\x06
    assert not is_zip(PDF_A)
    assert not is_zip(b"")


def test_two_pdfs_in_archive_order() -> None:
    unpacked = unzip(make_zip([("b.pdf", PDF_B), ("a.pdf", PDF_A)]))
    assert unpacked == Unpacked((Entry("b.pdf", PDF_B), Entry("a.pdf", PDF_A)))
    assert "%PDF" not in repr(unpacked.entries[0])  # data is left out of the repr


def test_stored_entries_are_read_too() -> None:
    data = make_zip([("a.pdf", PDF_A)], compression=zipfile.ZIP_STORED)
    assert unzip(data).entries == (Entry("a.pdf", PDF_A),)


def test_directories_are_ignored_silently() -> None:
    unpacked = unzip(make_zip([("invoices/", b""), ("invoices/a.pdf", PDF_A)]))
    assert unpacked.entries == (Entry("invoices/a.pdf", PDF_A),)
    assert unpacked.skipped == ()


def test_empty_archive() -> None:
    assert unzip(make_zip([])) == Unpacked(())


def test_names_are_returned_unchanged_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    names = ["../../etc/passwd", "/abs/x.pdf", "bad\x07name.pdf"]
    unpacked = unzip(make_zip([(name, PDF_A) for name in names]))
    assert [e.name for e in unpacked.entries] == names
    assert list(tmp_path.iterdir()) == []


def test_nested_zip_is_an_entry_for_the_caller() -> None:
    inner = make_zip([("a.pdf", PDF_A)])
    unpacked = unzip(make_zip([("inner.zip", inner)]))
    assert [e.name for e in unpacked.entries] == ["inner.zip"]
    assert is_zip(unpacked.entries[0].data)
    assert unzip(unpacked.entries[0].data).entries == (Entry("a.pdf", PDF_A),)


def test_small_highly_compressible_entry_passes_the_ratio_limit() -> None:
    text = b"a" * 500_000  # deflates about 1000:1, but stays below the 1 MiB floor
    assert unzip(make_zip([("notes.txt", text)])).entries == (Entry("notes.txt", text),)


# --- ZIP: entries left out -------------------------------------------------------------------


def test_encrypted_entry_is_skipped() -> None:
    data = make_zip([("secret.pdf", PDF_A), ("a.pdf", PDF_B)], compression=zipfile.ZIP_STORED)
    flags = zipfile.ZipFile(io.BytesIO(data)).getinfo("secret.pdf").flag_bits
    data = patch_member(data, "secret.pdf", local_at=6, central_at=8, value=flags | 0x1)
    unpacked = unzip(data)
    assert unpacked.entries == (Entry("a.pdf", PDF_B),)
    assert unpacked.skipped == (("secret.pdf", "encrypted"),)


def test_symlink_is_skipped() -> None:
    link = zipfile.ZipInfo("link.pdf")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    unpacked = unzip(make_zip([(link, b"/etc/passwd"), ("a.pdf", PDF_A)]))
    assert unpacked.entries == (Entry("a.pdf", PDF_A),)
    assert unpacked.skipped == (("link.pdf", "a symbolic link"),)


def test_unsupported_compression_method_is_skipped() -> None:
    data = make_zip([("big.pdf", PDF_A), ("a.pdf", PDF_B)])
    data = patch_member(data, "big.pdf", local_at=8, central_at=10, value=9)  # Deflate64
    unpacked = unzip(data)
    assert unpacked.entries == (Entry("a.pdf", PDF_B),)
    assert unpacked.skipped == (("big.pdf", "compression method Deflate64 is not supported"),)


def test_entry_zipfile_cannot_read_is_skipped() -> None:
    data = make_zip([("patch.pdf", PDF_A), ("a.pdf", PDF_B)], compression=zipfile.ZIP_STORED)
    data = patch_member(data, "patch.pdf", local_at=6, central_at=8, value=0x20)
    unpacked = unzip(data)
    assert unpacked.entries == (Entry("a.pdf", PDF_B),)
    reason = "not supported: compressed patched data (flag bit 5)"
    assert unpacked.skipped == (("patch.pdf", reason),)


def test_bzip2_entry_is_skipped_because_its_output_cannot_be_bounded() -> None:
    unpacked = unzip(make_zip([("a.pdf", PDF_A)], compression=zipfile.ZIP_BZIP2))
    assert unpacked.entries == ()
    assert unpacked.skipped == (("a.pdf", "compression method bzip2 is not supported"),)


# --- ZIP: archives refused -------------------------------------------------------------------


def test_zip_bomb_is_refused_without_unpacking_it() -> None:
    bomb = make_zeros_zip("zeros.bin", 200 * MIB)
    assert len(bomb) < 1 * MIB
    tracemalloc.start()
    try:
        with pytest.raises(ContainerRefused, match="ratio") as caught:
            unzip(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "'zeros.bin'" in str(caught.value)
    assert peak < 32 * MIB  # refused after ~20 MiB (100 x 200 KB), far from 200 MiB


def test_ratio_bomb_below_the_size_limits_is_refused() -> None:
    with pytest.raises(ContainerRefused, match="100 times its compressed size"):
        unzip(make_zeros_zip("zeros.bin", 5 * MIB))


def test_entry_over_the_size_limit_is_refused() -> None:
    data = make_zip([("a.bin", os.urandom(1500))])
    with pytest.raises(ContainerRefused, match="more than 1000 bytes, the size limit per entry"):
        unzip(data, ZipLimits(max_entry_size=1000))


def test_total_over_the_size_limit_is_refused() -> None:
    data = make_zip([("a.bin", os.urandom(600)), ("b.bin", os.urandom(600))])
    assert len(unzip(data, ZipLimits(max_total_size=1200)).entries) == 2
    with pytest.raises(ContainerRefused, match=r"1000 bytes in total.*'b\.bin'"):
        unzip(data, ZipLimits(max_total_size=1000))


def test_too_many_entries_is_refused() -> None:
    data = make_zip([(f"{n}.pdf", PDF_A) for n in range(4)])
    assert len(unzip(data, ZipLimits(max_entries=4)).entries) == 4
    with pytest.raises(ContainerRefused) as caught:
        unzip(data, ZipLimits(max_entries=3))
    assert str(caught.value) == "ZIP has 4 entries; the limit is 3"


@pytest.mark.parametrize("keep", [0.05, 0.5, 0.9, 0.99])
def test_truncated_archive_is_refused(keep: float) -> None:
    data = make_zip([("a.pdf", PDF_A * 50), ("b.pdf", PDF_B * 50)])
    cut = data[: int(len(data) * keep)]
    with pytest.raises(ContainerRefused, match=r"^ZIP could not be read: "):
        unzip(cut)


def test_entry_with_bad_crc_is_refused() -> None:
    data = bytearray(make_zip([("a.pdf", PDF_A)], compression=zipfile.ZIP_STORED))
    at = bytes(data).index(PDF_A)
    data[at + 10] ^= 0xFF
    with pytest.raises(ContainerRefused, match=r"^ZIP entry 'a\.pdf' is damaged: Bad CRC-32"):
        unzip(bytes(data))


# --- fuzzing: only ContainerRefused ever escapes -------------------------------------------


SEEDS = [
    make_zip([("a.pdf", PDF_A), ("dir/", b""), ("b.pdf", PDF_B * 20)]),
    make_zip([("a.pdf", PDF_A)], compression=zipfile.ZIP_STORED),
    make_zip([("inner.zip", make_zip([("a.pdf", PDF_A)]))]),
    (CORPUS / "mimekit__two-files.tnef").read_bytes(),
    (CORPUS / "ytnef__winmail.dat").read_bytes()[:4096],
    (CORPUS / "ytnef__winmail.dat").read_bytes(),
    tnef_part("mimekit__ukr.eml"),
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data) - 1))
        if draw(st.booleans()):
            data[at] = draw(st.integers(0, 255))
        else:  # a whole 32-bit field: counts and lengths are where parsers go wrong
            data[at : at + 4] = draw(st.integers(0, 2**32 - 1)).to_bytes(4, "little")
    if draw(st.booleans()):
        del data[draw(st.integers(0, len(data))) :]
    return bytes(data)


def unpack_or_refuse(data: bytes) -> None:
    for unpack in (unzip, untnef):
        try:
            result = unpack(data)
        except ContainerRefused as exc:
            message = str(exc)
            assert message
            assert "\n" not in message
        else:
            assert isinstance(result, Unpacked)
            assert all(
                isinstance(e.name, str) and isinstance(e.data, bytes) for e in result.entries
            )


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes_only_raise_container_refused(data: bytes) -> None:
    unpack_or_refuse(data)


@FUZZ
@given(st.sampled_from([b"PK\x03\x04", b"PK\x05\x06", TNEF_HEADER]), st.binary(max_size=2048))
def test_random_bytes_behind_a_magic_only_raise_container_refused(
    magic: bytes, rest: bytes
) -> None:
    unpack_or_refuse(magic + rest)


@FUZZ
@given(mutated())
def test_mutated_containers_only_raise_container_refused(data: bytes) -> None:
    unpack_or_refuse(data)
