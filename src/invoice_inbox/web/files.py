"""Sending a stored file from mail (a document, an original mail) to a browser or a program:
the name in ``Content-Disposition``, and headers that keep a hostile file from acting as this
site (``nosniff``, ``Content-Security-Policy: sandbox``)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

from fastapi.responses import FileResponse

from invoice_inbox.pipeline.filenames import sanitize

FILE_CSP = "sandbox"


def content_disposition(kind: str, filename: str) -> str:
    """``attachment`` or ``inline`` with the name twice (RFC 6266): an ASCII ``filename`` for old
    clients and the exact UTF-8 name as ``filename*`` (RFC 5987)."""
    name = sanitize(filename)
    fallback = re.sub(r"[^\x20-\x7e]|[\"\\%;]", "_", name)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def stored_file(path: Path | str, media_type: str, disposition: str) -> FileResponse:
    return FileResponse(
        path,
        media_type=media_type,
        headers={
            "Content-Disposition": disposition,
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": FILE_CSP,
        },
    )
