"""Make file names taken from mails safe to show and to use as the last part of a path."""

from __future__ import annotations

import re
import unicodedata

# C0 and C1 controls, DEL, and what Windows or POSIX refuse in a file name
_UNSAFE = re.compile(r'[\x00-\x1f\x7f-\x9f/\\:*?"<>|]+')
_MAX_LEN = 150  # characters
_MAX_BYTES = 240  # UTF-8 bytes; file systems allow 255


def sanitize(name: str | None, *, default: str = "document") -> str:
    """Return a single path component: no directories, no control characters, no leading or
    trailing dots and spaces (Windows drops trailing ones, turning ``invoice.js.`` into a script).

    ``../../etc/passwd`` becomes ``passwd``; ``C:\\x\\y.pdf`` becomes ``y.pdf``; an empty or
    missing name becomes *default*. Long names are shortened, keeping the extension.
    """
    if not name:
        return default
    name = unicodedata.normalize("NFC", name)
    name = re.split(r"[/\\]", name)[-1]
    name = _UNSAFE.sub("_", name)
    previous = None
    while name != previous:
        previous, name = name, name.strip().strip(".")
    if not name:
        return default
    return _shorten(name)


def _shorten(name: str) -> str:
    if len(name) <= _MAX_LEN and len(name.encode("utf-8")) <= _MAX_BYTES:
        return name
    stem, dot, ext = name.rpartition(".")
    if not (dot and 0 < len(ext) <= 10 and stem):
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    stem = stem[: _MAX_LEN - len(suffix)]
    while len((stem + suffix).encode("utf-8")) > _MAX_BYTES:
        stem = stem[:-1]
    return stem.rstrip(" .") + suffix
