"""Pages: sources (being written)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from invoice_inbox.web.security import PageUser
from invoice_inbox.web.templating import render

router = APIRouter()


@router.get("/sources")
def sources_page(request: Request, page: PageUser) -> Response:
    return render(request, "placeholder.html", page, nav="sources", title="Sources")
