"""Blobs the first versions stored two levels deep, moved to today's place once.

The very first versions kept a blob at ``blobs/ab/cd/<sha256>``; since then the folder store reads
and writes ``blobs/ab/<sha256>``. Opening a data directory whose blob folder has not been checked
yet moves every blob of the old layout to its place (a rename on the same file system; a blob
already there has the same bytes, so the old copy goes), removes the emptied folders, syncs, and
leaves a marker, so later openings cost one ``stat``. Processes opening the directory at once
may both move: each rename either happens once or finds the blob gone, which is the same.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from invoice_inbox.store.blob_folder import sync_dir

MARKER = ".layout-checked"  # in the blob folder: no blob of the two-level layout is left
_PAIR = re.compile(r"[0-9a-f]{2}")
_SHA = re.compile(r"[0-9a-f]{64}")


def _move_level(top: Path, sub: Path) -> int:
    """Move the blobs of ``top/sub`` (the old ``ab/cd`` folder) up into ``top``."""
    moved = 0
    prefix = top.name + sub.name
    for entry in os.scandir(sub):
        name = entry.name
        if not (_SHA.fullmatch(name) and name.startswith(prefix) and entry.is_file()):
            continue  # not a blob of this folder (a leftover .tmp file stays for blobs gc)
        target = top / name
        with contextlib.suppress(FileNotFoundError):  # another process moved it first
            if target.exists():
                os.unlink(entry.path)  # content-addressed: the same bytes are there already
            else:
                os.replace(entry.path, target)
                moved += 1
    with contextlib.suppress(OSError):  # not empty (a stray file) or removed by another
        sub.rmdir()
    return moved


def settle(root: Path) -> int:
    """Move the blobs of the two-level layout under *root* to today's one-level place, unless
    *root* was checked before; the number moved."""
    marker = root / MARKER
    if marker.exists() or not root.is_dir():
        return 0
    moved = 0
    for top in os.scandir(root):
        if not (_PAIR.fullmatch(top.name) and top.is_dir()):
            continue
        subs = [e for e in os.scandir(top.path) if _PAIR.fullmatch(e.name) and e.is_dir()]
        for sub in subs:
            moved += _move_level(Path(top.path), Path(sub.path))
        if subs:
            sync_dir(Path(top.path))
    tmp = root / f".{MARKER}.{os.getpid()}"
    tmp.write_text("blobs are stored as ab/<sha256>\n")
    os.replace(tmp, marker)
    sync_dir(root)
    return moved
