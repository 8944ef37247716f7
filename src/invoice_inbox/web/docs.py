"""``/docs``: the REST API's documentation (Swagger UI) served by the app itself.

Swagger UI's files are vendored under ``static/swagger-ui`` (see its README.txt), so the page
works offline and under the app's Content-Security-Policy, which runs scripts from this site
only: FastAPI's own docs page loads them from a CDN and starts them with an inline script.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from invoice_inbox.web.templating import TEMPLATES

_templates = Jinja2Templates(directory=str(TEMPLATES))
router = APIRouter(include_in_schema=False)


@router.get("/docs")
def api_docs(request: Request) -> Response:
    """The Swagger UI page for ``/openapi.json``."""
    return _templates.TemplateResponse(
        request,
        "api_docs.html",
        {"title": request.app.title, "openapi_url": request.app.openapi_url},
    )
