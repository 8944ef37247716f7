"""``/docs``: the REST API's documentation (Swagger UI) served by the app itself, and the
published JSON Schemas (``/api/v1/schemas/einvoice-v1.json``: the documents' ``einvoice``
object).

Swagger UI's files are vendored under ``static/swagger-ui`` (see its README.txt), so the page
works offline and under the app's Content-Security-Policy, which runs scripts from this site
only: FastAPI's own docs page loads them from a CDN and starts them with an inline script.
The schemas are files under ``static/schemas``, one per version (``einvoice-v1.schema.json``);
a version, once published, only grows by additions.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import FileResponse, Response

from invoice_inbox.web.templating import templates as _templates  # the reader's language

router = APIRouter(include_in_schema=False)
SCHEMAS = Path(__file__).with_name("static") / "schemas"
EINVOICE_SCHEMA_URL = "/api/v1/schemas/einvoice-v1.json"  # the current version's stable address


@router.get("/docs")
def api_docs(request: Request) -> Response:
    """The Swagger UI page for ``/openapi.json``, with links to the JSON Schemas."""
    return _templates.TemplateResponse(
        request,
        "api_docs.html",
        {
            "title": request.app.title,
            "openapi_url": request.app.openapi_url,
            "einvoice_schema_url": EINVOICE_SCHEMA_URL,
        },
    )


@router.get("/api/v1/schemas/{name}.json")
def schema(name: str) -> Response:
    """A published JSON Schema by name and version, e.g. ``einvoice-v1`` (no sign-in needed)."""
    path = SCHEMAS / f"{name}.schema.json"
    if "/" in name or "\\" in name or name.startswith(".") or not path.is_file():
        raise HTTPException(404, f"no schema {name!r}")
    return FileResponse(path, media_type="application/schema+json")
