"""The FastAPI application: pages, the REST API under ``/api/v1`` (OpenAPI at ``/docs``),
``/metrics`` and ``/healthz``, static files, and the answers for errors.

``create_app`` takes the opened :class:`~invoice_inbox.runtime.context.App`; ``serve`` passes the
scheduler's wake-up as *fetch_now* and its health check, tests pass nothing and get a thread per
fetch. ``serve`` also passes the host names it answers for (*hosts*: any other ``Host`` gets
400; without it every name is answered, as for tests) and the first-run *setup_token* it printed.
Every request body is bounded (``bodylimit``) before anything reads it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http import HTTPStatus
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

import invoice_inbox
from invoice_inbox.i18n import N_, gettext
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.status_http import HealthCheck, Status
from invoice_inbox.web import api, docs, pages
from invoice_inbox.web.bodylimit import BodyLimit
from invoice_inbox.web.context import WebContext, fetch_in_background
from invoice_inbox.web.hosts import HostPolicy, TrustedHosts
from invoice_inbox.web.locale import LocaleChoice
from invoice_inbox.web.pages import einvoice_view
from invoice_inbox.web.ratelimit import LoginLimiter
from invoice_inbox.web.security import NeedsSignIn
from invoice_inbox.web.setup_token import SetupToken
from invoice_inbox.web.templating import CSP, render

STATIC = Path(__file__).with_name("static")


# what a page says for Starlette's own errors (its detail is the bare status phrase)
_STATUS_WORDS = {
    404: N_("There is no such page."),
    405: N_("This page cannot be used that way."),
}


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def create_app(
    app: App,
    *,
    fetch_now: Callable[[str], None] | None = None,
    health: HealthCheck | None = None,
    hosts: HostPolicy | None = None,
    setup_token: str | None = None,
) -> FastAPI:
    web = FastAPI(
        title="invoice-inbox",
        version=invoice_inbox.__version__,
        description=api.DESCRIPTION,
        docs_url=None,  # served by web.docs from vendored files (the CSP allows no CDN)
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    web.state.web = WebContext(
        app=app,
        fetch_now=fetch_now or fetch_in_background(app),
        status=Status(app.db, health=health),
        limiter=LoginLimiter(app.db),
        setup=SetupToken(app.db, setup_token),
    )
    # added last, run first: the host is checked, then the body bounded, before any route;
    # inside them the reader's language is chosen (web.locale) for everything that answers
    web.add_middleware(LocaleChoice)
    web.add_middleware(BodyLimit)
    web.state.public_url = hosts.public_url if hosts is not None else None
    if hosts is not None:
        web.add_middleware(TrustedHosts, policy=hosts)
    web.mount("/static", StaticFiles(directory=STATIC), name="static")

    @web.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @web.exception_handler(NeedsSignIn)
    async def to_sign_in(request: Request, exc: NeedsSignIn) -> Response:
        if request.headers.get("hx-request"):
            return Response(status_code=200, headers={"HX-Redirect": exc.location})
        return RedirectResponse(exc.location, status_code=303)

    @web.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_api(request) or request.url.path in ("/openapi.json", "/docs"):
            return JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
        message = str(exc.detail)
        if message == HTTPStatus(exc.status_code).phrase:  # Starlette's own ("Not Found")
            message = gettext(_STATUS_WORDS.get(exc.status_code, message))
        return render(request, "error.html", None, status_code=exc.status_code, message=message)

    @web.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"][1:]), "problem": e["msg"]}
            for e in exc.errors()
        ]
        if _is_api(request):
            return JSONResponse({"detail": gettext("invalid request"), "problems": problems}, 422)
        message = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        return render(request, "error.html", None, status_code=422, message=message)

    @web.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        code, content_type, body = web.state.web.status.metrics()
        return Response(body, status_code=code, media_type=content_type)

    @web.get("/healthz", include_in_schema=False)
    def healthz() -> Response:
        code, document = web.state.web.status.healthz()
        return JSONResponse(document, status_code=code)

    @web.get("/", include_in_schema=False)
    def home() -> Response:
        return RedirectResponse("/sources", status_code=303)

    for router in pages.ROUTERS:
        web.include_router(router, include_in_schema=False)
    web.include_router(einvoice_view.router, include_in_schema=False)
    web.include_router(api.router, prefix="/api/v1")
    web.include_router(docs.router)
    return web
