"""Read Outlook TNEF streams (winmail.dat): their attachments and HTML body.

Input is treated as hostile. Before tnefparse reads a stream, a walk over its structure refuses
stream shapes that would make the parser spin or exhaust memory. tnefparse's log output is
silenced when this module is imported. The results are the types of ``pipeline.containers``.
"""

from __future__ import annotations

import logging

from tnefparse import TNEF
from tnefparse.codepage import Codepage
from tnefparse.mapi import IMESSAGE_SIG
from tnefparse.tnef import TNEFAttachment

from invoice_inbox.pipeline.containers import ContainerRefused, Entry, Unpacked, plain_error

# tnefparse logs a warning for every attribute it does not know; nothing of it is useful to us.
logging.getLogger("tnefparse").setLevel(logging.CRITICAL + 1)

_TNEF_SIGNATURE = b"\x78\x9f\x3e\x22"


def is_tnef(data: bytes) -> bool:
    """True when the bytes start with the TNEF signature 0x223E9F78 (little-endian)."""
    return data[:4] == _TNEF_SIGNATURE


def untnef(data: bytes) -> Unpacked:
    """The attachments of a TNEF stream (winmail.dat), plus its HTML body when it has one.

    Attachments are named by their long file name, else their short name, else
    ``attachment-N``; an embedded message comes back as an entry holding its own TNEF stream.
    An unreadable or hostile stream raises :class:`ContainerRefused`.
    """
    if not is_tnef(data):
        raise ContainerRefused("winmail.dat could not be read: it lacks the TNEF signature")
    _TnefGuard().stream(data, depth=0)
    try:
        tnef = TNEF(data)
        attachments = list(tnef.attachments)
    except MemoryError:
        raise
    except Exception as exc:  # "any tnefparse exception": hostile input breaks it in many ways
        raise ContainerRefused(f"winmail.dat could not be read: {plain_error(exc)}") from exc
    entries: list[Entry] = []
    skipped: list[tuple[str, str]] = []
    for number, attachment in enumerate(attachments, start=1):
        name = _attachment_name(attachment, number)
        content = attachment.data
        if isinstance(content, bytes):
            entries.append(Entry(name, content))  # empty files too, as unzip does: caller decides
        else:
            skipped.append((name, "the attachment data is not binary"))
    return Unpacked(tuple(entries), tuple(skipped), _html_body(tnef))


def _attachment_name(attachment: TNEFAttachment, number: int) -> str:
    codepage = attachment.codepage
    try:
        long_name = _text(attachment.long_filename(), codepage)
    except Exception:  # it falls back to .name, which fails on non-UTF-8 bytes
        long_name = None
    # .name decodes strictly as UTF-8, but short names are in the OEM code page: use the raw one.
    short_name = _text(getattr(attachment, "_name", None), codepage)
    return long_name or short_name or f"attachment-{number}"


def _html_body(tnef: TNEF) -> str | None:
    return _text(tnef.htmlbody, tnef.codepage) or None


def _text(value: object, codepage: str | None) -> str | None:
    """A str as it is, bytes decoded as UTF-8 or else the declared code page; NULs stripped."""
    if isinstance(value, str):
        return value.strip("\x00")
    if not isinstance(value, bytes):
        return None
    try:
        return value.decode("utf-8").strip("\x00")
    except UnicodeDecodeError:
        pass
    try:
        return value.decode(codepage or "utf-8", errors="replace").strip("\x00")
    except LookupError:
        return value.decode("utf-8", errors="replace").strip("\x00")


# tnefparse walks a stream without bounds: a 30-byte winmail.dat declaring 2**32 properties
# keeps it busy for many minutes, a multi-valued property with a huge count makes it build one
# Python object per value until memory runs out, and each record re-copies the rest of the
# stream. _TnefGuard reads the structure the way tnefparse will and refuses such shapes first.
# Record and property layout: [MS-OXTNEF] section 2.1.3.

_MAX_RECORDS = 1_000  # per stream; legitimate files have about 20 plus 6 per attachment
_MAX_VALUES = 100_000  # property values over the stream and all embedded messages
_MAX_DEPTH = 4  # messages embedded in embedded messages

_LEVEL_ATTACHMENT = 0x02
_ATT_ATTACH_REND_DATA = 0x9002
_ATT_MSG_PROPS = 0x9003
_ATT_RECIP_TABLE = 0x9004
_ATT_ATTACHMENT = 0x9005
_ATT_OEM_CODEPAGE = 0x9007

_MULTI_VALUED = 0x1000
_FIRST_NAMED_ID = 0x8000
_PT_SHORT, _PT_BOOLEAN = 0x0002, 0x000B
_PT_STRING8, _PT_UNICODE = 0x001E, 0x001F
_FIXED_SIZES = {
    _PT_SHORT: 2,
    _PT_BOOLEAN: 2,
    0x0003: 4,  # PtypInteger32
    0x0004: 4,  # PtypFloating32
    0x000A: 4,  # PtypErrorCode
    0x0005: 8,  # PtypFloating64
    0x0006: 8,  # PtypCurrency
    0x0007: 8,  # PtypFloatingTime
    0x0014: 8,  # PtypInteger64
    0x0040: 8,  # PtypTime
    0x0048: 16,  # PtypGuid
}
_VARIABLE_TYPES = {0x0000, 0x000D, _PT_STRING8, _PT_UNICODE, 0x0102}
_PROP_ATTACH_DATA_OBJ = 0x3701
_MIN_PROPERTY_SIZE = 8  # tag (4 bytes) plus the smallest value with its padding


class _Stop(Exception):
    """tnefparse stops reading a property list here; ``offset`` is where it stands then."""

    def __init__(self, offset: int) -> None:
        super().__init__(offset)
        self.offset = offset


def _u16(buf: bytes, pos: int, stop_at: int) -> int:
    if pos + 2 > len(buf):
        raise _Stop(stop_at)
    return int.from_bytes(buf[pos : pos + 2], "little")


def _u32(buf: bytes, pos: int, stop_at: int) -> int:
    if pos + 4 > len(buf):
        raise _Stop(stop_at)
    return int.from_bytes(buf[pos : pos + 4], "little")


def _decode_or_stop(part: bytes, encoding: str | None, stop_at: int) -> None:
    """Decode as tnefparse does; where it fails (no code page yet counts), it stops."""
    if encoding is None:
        raise _Stop(stop_at)
    try:
        part.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise _Stop(stop_at) from exc


def _refuse(reason: str) -> ContainerRefused:
    return ContainerRefused(f"winmail.dat could not be read: {reason}")


class _TnefGuard:
    """Walks a TNEF stream as tnefparse 1.4 will and refuses shapes it cannot survive.

    Where tnefparse gives up on a record this walk either stops at the same byte (inside
    recipient rows, where the next row starts there) or reads on, which checks more, never less.
    """

    def __init__(self) -> None:
        self.values = 0

    def stream(self, buf: bytes, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise _refuse(f"it nests embedded messages more than {_MAX_DEPTH} deep")
        if not is_tnef(buf):
            return  # tnefparse refuses it on its own
        codepage: str | None = None
        attachment_codepage: str | None = None
        offset, records = 6, 0
        while offset + 12 < len(buf):  # tnefparse's loop condition and record framing
            level = buf[offset]
            name = int.from_bytes(buf[offset + 1 : offset + 3], "little")
            declared = int.from_bytes(buf[offset + 5 : offset + 9], "little")
            length = min(len(buf) - offset, declared + 11)
            body = buf[offset + 9 : offset + length - 2]
            offset += length
            records += 1
            if records > _MAX_RECORDS:
                raise _refuse(f"it has more than {_MAX_RECORDS} records")
            if name == _ATT_ATTACH_REND_DATA:
                attachment_codepage = codepage
            if level == _LEVEL_ATTACHMENT:
                if name == _ATT_ATTACHMENT:
                    self.properties(body, 0, attachment_codepage, depth)
            elif name == _ATT_MSG_PROPS:
                self.properties(body, 0, codepage, depth)
            elif name == _ATT_OEM_CODEPAGE and len(body) >= 4:
                codepage = Codepage(int.from_bytes(body[:4], "little")).codepage()
            elif name == _ATT_RECIP_TABLE:
                self.recipients(body, codepage, depth)

    def recipients(self, body: bytes, codepage: str | None, depth: int) -> None:
        if len(body) < 4:
            return
        offset = 4
        for _ in range(int.from_bytes(body[:4], "little")):
            self.spend(1)
            after = self.properties(body, offset, codepage, depth)
            if after is None:
                return
            offset = after

    def properties(self, buf: bytes, offset: int, codepage: str | None, depth: int) -> int | None:
        """Where tnefparse ends this property list, or None where it raises instead."""
        if offset + 4 > len(buf):
            return None
        count = int.from_bytes(buf[offset : offset + 4], "little")
        offset += 4
        if count > (len(buf) - offset) // _MIN_PROPERTY_SIZE:
            raise _refuse(f"it declares {count} properties in {len(buf) - offset} bytes")
        for _ in range(count):
            if offset >= len(buf):
                break
            try:
                offset = self.property(buf, offset, codepage, depth)
            except _Stop as stop:
                return stop.offset
        return offset

    def property(self, buf: bytes, pos: int, codepage: str | None, depth: int) -> int:
        prop_type = _u16(buf, pos, pos)
        pos += 2
        prop_id = _u16(buf, pos, pos)
        pos += 2
        if prop_id >= _FIRST_NAMED_ID:
            pos = self.property_name(buf, pos)
        count = None
        if prop_type & _MULTI_VALUED:
            prop_type ^= _MULTI_VALUED
            count = _u32(buf, pos, pos)
            pos += 4
        repeat = count or 1
        if prop_type in _FIXED_SIZES:
            self.spend(repeat)
            pos += repeat * _FIXED_SIZES[prop_type]
        elif prop_type in _VARIABLE_TYPES:
            for _ in range(repeat):
                self.spend(1)
                pos = self.variable(buf, pos, prop_type, prop_id, codepage, bool(count), depth)
        else:
            raise _Stop(pos)  # tnefparse: "Unknown MAPI type"
        if repeat % 2 and prop_type in (_PT_SHORT, _PT_BOOLEAN):
            pos += 2
        return pos

    @staticmethod
    def property_name(buf: bytes, pos: int) -> int:
        if pos + 16 > len(buf):
            raise _Stop(pos)
        pos += 16
        kind = _u32(buf, pos, pos)
        pos += 4
        size = _u32(buf, pos, pos)
        pos += 4
        if kind == 0:
            return pos
        size += -size % 4
        _decode_or_stop(buf[pos : pos + size], "utf-16", pos)
        return pos + size

    def variable(
        self,
        buf: bytes,
        pos: int,
        prop_type: int,
        prop_id: int,
        codepage: str | None,
        multi: bool,
        depth: int,
    ) -> int:
        start = pos
        items = 1
        if not multi:
            items = _u32(buf, pos, start)
            pos += 4
        parts = []
        for _ in range(items):
            self.spend(1)
            size = _u32(buf, pos, start)
            pos += 4
            size += -size % 4
            part = buf[pos : pos + size]
            pos += size
            if prop_type in (_PT_STRING8, _PT_UNICODE):
                _decode_or_stop(part, "utf-16" if prop_type == _PT_UNICODE else codepage, start)
            parts.append(part)
        if prop_id == _PROP_ATTACH_DATA_OBJ and prop_type not in (_PT_STRING8, _PT_UNICODE):
            blob = b"".join(part.rstrip(b"\x00") for part in parts)
            if blob.startswith(IMESSAGE_SIG):
                self.stream(blob[len(IMESSAGE_SIG) :], depth + 1)
        return pos

    def spend(self, values: int) -> None:
        self.values += values
        if self.values > _MAX_VALUES:
            raise _refuse(f"it holds more than {_MAX_VALUES} property values")
