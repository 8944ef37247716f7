"""Unpack one level of the ZIP archives suppliers put invoices in; the types all containers share.

Pure functions on bytes: nothing is written anywhere, and entry names are returned exactly as
stored (they may hold ``../`` or control characters; the caller sanitises them and recurses into
nested containers). Input is treated as hostile. A ZIP is read in chunks against limits on entry
count, sizes and compression ratio, and a zip bomb refuses the whole archive. Outlook TNEF
(winmail.dat) is read by ``pipeline.tnef`` into the same types.
"""

from __future__ import annotations

import io
import stat
import zipfile
from dataclasses import dataclass, field
from typing import IO


@dataclass(frozen=True)
class Entry:
    """One file taken out of a container; ``name`` is as stored and not safe as a path."""

    name: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Unpacked:
    """The files of a container, the ones left out with a reason, and a TNEF HTML body."""

    entries: tuple[Entry, ...]
    skipped: tuple[tuple[str, str], ...] = ()
    html_body: str | None = None


class ContainerRefused(ValueError):
    """The whole container is refused; ``str(exc)`` is one plain sentence saying why."""


@dataclass(frozen=True, kw_only=True)
class ZipLimits:
    """Limits on what one ZIP may unpack to."""

    max_entries: int = 200
    max_total_size: int = 100 * 1024 * 1024  # uncompressed bytes over all entries
    max_entry_size: int = 50 * 1024 * 1024
    max_ratio: int = 100  # uncompressed / compressed, per entry


def is_zip(data: bytes) -> bool:
    """True when the bytes start like a ZIP archive (a local file header, or an empty archive)."""
    return data[:4] in (b"PK\x03\x04", b"PK\x05\x06")


# --- ZIP -------------------------------------------------------------------------------------

_CHUNK = 64 * 1024
# The ratio limit applies only once an entry is past this size, so small text files pass.
_RATIO_FLOOR = 1024 * 1024
# zipfile's bzip2 and LZMA readers decompress a whole input block per call, so their output
# cannot be bounded by the chunk size; only these methods are read.
_READABLE_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}
_METHOD_NAMES = {9: "Deflate64", 12: "bzip2", 14: "LZMA", 93: "Zstandard", 95: "XZ", 98: "PPMd"}


class _Unsupported(Exception):
    """An entry zipfile cannot read; it is skipped, the rest of the archive is kept."""


def unzip(data: bytes, limits: ZipLimits = ZipLimits()) -> Unpacked:
    """The files of a ZIP archive, in archive order; directories are ignored.

    Encrypted entries, symbolic links and unsupported compression methods are skipped with a
    reason. A damaged archive or entry, too many entries, or an entry or total over the limits
    raises :class:`ContainerRefused`.
    """
    with _open_zip(data) as archive:
        members = archive.infolist()
        if len(members) > limits.max_entries:
            raise ContainerRefused(
                f"ZIP has {len(members)} entries; the limit is {limits.max_entries}"
            )
        entries: list[Entry] = []
        skipped: list[tuple[str, str]] = []
        total = 0
        for info in members:
            if info.filename.endswith("/"):  # a directory (is_dir() fails on an empty name)
                continue
            outcome = _unpack_member(archive, info, len(data), total, limits)
            if isinstance(outcome, str):
                skipped.append((info.orig_filename, outcome))
            else:
                total += len(outcome.data)
                entries.append(outcome)
    return Unpacked(tuple(entries), tuple(skipped))


def _open_zip(data: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except MemoryError:  # the decide worker's memory limit, not damage (runtime.workers)
        raise
    except Exception as exc:  # any failure to parse hostile bytes means the archive is unreadable
        raise ContainerRefused(f"ZIP could not be read: {plain_error(exc)}") from exc


def _unpack_member(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    archive_size: int,
    total: int,
    limits: ZipLimits,
) -> Entry | str:
    """The member as an entry, or the reason it is skipped."""
    reason = _skip_reason(info)
    if reason is not None:
        return reason
    try:
        return Entry(info.orig_filename, _read_entry(archive, info, archive_size, total, limits))
    except _Unsupported as exc:
        return str(exc)


def _skip_reason(info: zipfile.ZipInfo) -> str | None:
    if info.flag_bits & 0x1:
        return "encrypted"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "a symbolic link"
    if info.compress_type not in _READABLE_METHODS:
        method = _METHOD_NAMES.get(info.compress_type, str(info.compress_type))
        return f"compression method {method} is not supported"
    return None


def _read_entry(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    archive_size: int,
    total: int,
    limits: ZipLimits,
) -> bytes:
    """The entry's bytes, read in chunks and checked against the limits after every chunk."""
    try:
        stream = archive.open(info)
    except NotImplementedError as exc:
        raise _Unsupported(f"not supported: {plain_error(exc)}") from exc
    except MemoryError:
        raise
    except Exception as exc:
        raise _damaged(info, exc) from exc
    # A declared compressed size beyond the archive is a lie; never let it soften the ratio.
    compressed = max(min(info.compress_size, archive_size), 1)
    buffer = io.BytesIO()
    size = 0
    with stream:
        while chunk := _read_chunk(stream, info):
            size += len(chunk)
            _check_limits(info, size, compressed, total + size, limits)
            buffer.write(chunk)
    return buffer.getvalue()


def _read_chunk(stream: IO[bytes], info: zipfile.ZipInfo) -> bytes:
    try:
        return stream.read(_CHUNK)
    except MemoryError:
        raise
    except Exception as exc:  # CRC mismatch, bad deflate data, truncation, ...
        raise _damaged(info, exc) from exc


def _check_limits(
    info: zipfile.ZipInfo, size: int, compressed: int, total: int, limits: ZipLimits
) -> None:
    name = _quote(info.orig_filename)
    if size > limits.max_entry_size:
        raise ContainerRefused(
            f"ZIP entry {name} unpacks to more than {limits.max_entry_size} bytes, "
            "the size limit per entry"
        )
    if size > _RATIO_FLOOR and size > limits.max_ratio * compressed:
        raise ContainerRefused(
            f"ZIP entry {name} unpacks to more than {limits.max_ratio} times its compressed "
            f"size of {compressed} bytes, the compression ratio limit (a zip bomb)"
        )
    if total > limits.max_total_size:
        raise ContainerRefused(
            f"ZIP unpacks to more than {limits.max_total_size} bytes in total, the size limit "
            f"(reached at entry {name})"
        )


def _damaged(info: zipfile.ZipInfo, exc: Exception) -> ContainerRefused:
    return ContainerRefused(
        f"ZIP entry {_quote(info.orig_filename)} is damaged: {plain_error(exc)}"
    )


# --- shared ----------------------------------------------------------------------------------


def plain_error(exc: BaseException) -> str:
    """An exception as one line of text, for the sentence of a ContainerRefused."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _quote(name: str) -> str:
    return repr(name if len(name) <= 80 else name[:77] + "...")
