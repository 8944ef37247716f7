"""Make file names taken from mails safe to show and to use as the last part of a path."""

from __future__ import annotations

import re
import unicodedata

_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
_MAX_LEN = 150


def sanitize(name: str | None, *, default: str = "document") -> str:
    """Return a single path component: no directories, no control characters, no leading dots.

    ``../../etc/passwd`` becomes ``passwd``; ``C:\\x\\y.pdf`` becomes ``y.pdf``; an empty or
    missing name becomes *default*. Long names are shortened, keeping the extension.
    """
    if not name:
        return default
    name = unicodedata.normalize("NFC", name)
    name = re.split(r"[/\\]", name)[-1]
    name = _UNSAFE.sub("_", name).strip().lstrip(".").strip()
    if not name:
        return default
    if len(name) > _MAX_LEN:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            name = stem[: _MAX_LEN - len(ext) - 1] + "." + ext
        else:
            name = name[:_MAX_LEN]
    return name
