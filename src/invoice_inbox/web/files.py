"""Sending a stored file from mail (a document, an original mail) to a browser or a program:
the name in ``Content-Disposition``, and headers that keep a hostile file from acting as this
site (``nosniff``, ``Content-Security-Policy: sandbox``). A blob on this machine (the folder
store) is sent as a file; one in an S3 bucket is streamed through, chunk by chunk, with its
``Content-Length``."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from urllib.parse import quote

from fastapi import HTTPException
from fastapi.responses import FileResponse, Response, StreamingResponse

from invoice_inbox.i18n import gettext as _
from invoice_inbox.pipeline.filenames import sanitize
from invoice_inbox.store.blobs import BlobNotFound, BlobStore, BlobStoreError
from invoice_inbox.web.access import NotFound

log = logging.getLogger(__name__)

FILE_CSP = "sandbox"


def content_disposition(kind: str, filename: str) -> str:
    """``attachment`` or ``inline`` with the name twice (RFC 6266): an ASCII ``filename`` for old
    clients and the exact UTF-8 name as ``filename*`` (RFC 5987)."""
    name = sanitize(filename)
    fallback = re.sub(r"[^\x20-\x7e]|[\"\\%;]", "_", name)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _headers(disposition: str) -> dict[str, str]:
    return {
        "Content-Disposition": disposition,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": FILE_CSP,
    }


def stored_file(path: Path | str, media_type: str, disposition: str) -> FileResponse:
    return FileResponse(path, media_type=media_type, headers=_headers(disposition))


def stored_blob(
    blobs: BlobStore, sha256: str, media_type: str, disposition: str, *, missing: str
) -> Response:
    """The blob *sha256* as the response body; 404 with *missing* when it is not stored, 503
    when the blob store cannot be reached (the reason goes to the log, not to the client)."""
    try:
        path = blobs.local_path(sha256)
        if path is not None:
            return stored_file(path, media_type, disposition)
        size = blobs.size(sha256)
        body = blobs.stream(sha256)
    except BlobNotFound:
        raise NotFound(missing) from None
    except BlobStoreError as exc:
        log.warning("download of blob %s failed: %s", sha256, exc)
        raise HTTPException(503, _("the file store cannot be reached; try again later")) from None
    headers = {**_headers(disposition), "Content-Length": str(size)}
    return StreamingResponse(body, media_type=media_type, headers=headers)
