"""The REST API's shared wire shapes: the token requirement, the bodies of errors, the page
and its opaque cursor, and the company models. The other nouns' models (they are what
``/docs`` shows) are in ``schemas_sources``, ``schemas_runs`` and ``schemas_documents``.

Every listing that can grow is a :class:`Page`: ``items`` (newest first, unless the listing
says otherwise) and ``next_cursor``, which the client passes back as ``cursor`` for the next
page, or null on the last one.
A cursor is an opaque string: it encodes the listing it belongs to and the last id shown, so
pages never skip or repeat a row when new rows arrive in between.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Annotated, Any, Generic, Protocol, TypeVar, TypeVarTuple

from fastapi import Depends, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Row, Select, SQLColumnExpression
from sqlalchemy.orm import Session

from invoice_inbox.errors import ConnectorError
from invoice_inbox.i18n import gettext
from invoice_inbox.runtime import configure
from invoice_inbox.web.security import api_user

# -- authentication -------------------------------------------------------------------------

# ``api_user`` does the checking; the bearer scheme (which never refuses by itself) puts the
# "Authorize" button on /docs and the security requirement on every operation.
_BEARER = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer TOKEN`.")
NEEDS_TOKEN = [Depends(_BEARER), Depends(api_user)]


# -- errors ---------------------------------------------------------------------------------


class Error(BaseModel):
    detail: str


class Problem(BaseModel):
    field: str
    problem: str


class Invalid(BaseModel):
    """What is wrong with a request, field by field."""

    detail: str
    problems: list[Problem]


class ConnectionProblem(BaseModel):
    """The mail server (or its sign-in) refused: the server's words and the setting concerned
    (``host``, ``security``, ``password``, ``client_id``, ``folders`` or ``connection``)."""

    detail: str
    field: str


Responses = dict[int | str, dict[str, Any]]  # FastAPI's type of a route's extra answers

ERRORS: Responses = {
    401: {"model": Error, "description": "No API token, or not a valid one."},
    404: {"model": Error, "description": "No such thing, or not one of your companies'."},
    422: {"model": Invalid, "description": "The request's values are not valid."},
}
FORBIDDEN: Responses = {403: {"model": Error, "description": "Your role may not do this."}}


def invalid_source(exc: configure.Invalid) -> JSONResponse:
    problems = [{"field": k, "problem": v} for k, v in exc.errors.items()]
    detail = gettext("invalid source")
    return JSONResponse({"detail": detail, "problems": problems}, status_code=422)


def connection_problem(exc: ConnectorError, field: str) -> JSONResponse:
    return JSONResponse({"detail": str(exc), "field": field}, status_code=422)


def bad_value(field: str, sentence: str) -> RequestValidationError:
    """A value the app's 422 handler reports like pydantic's own problems (raise it)."""
    return RequestValidationError([{"loc": ("request", field), "msg": sentence, "type": "value"}])


# -- pages ----------------------------------------------------------------------------------

T = TypeVar("T")


class _HasId(Protocol):
    @property
    def id(self) -> int: ...


_Keyed = TypeVar("_Keyed", bound=_HasId)  # the entity a keyset-paged query is ordered by
_Rest = TypeVarTuple("_Rest")  # the other columns it selects
DEFAULT_LIMIT, MAX_LIMIT = 50, 200

Cursor = Annotated[
    str | None, Query(description="`next_cursor` of the previous page; leave out for the first.")
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="How many items at most.")]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


def encode_cursor(listing: str, last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{listing}:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(listing: str, cursor: str | None) -> int | None:
    """The last id of the previous page of *listing*, or None for the first page."""
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        text = ""
    found = re.fullmatch(r"([a-z]+):([0-9]{1,18})", text)
    if found is None or found.group(1) != listing:
        raise bad_value("cursor", "is not a cursor of this listing: pass next_cursor unchanged")
    return int(found.group(2))


def keyset(
    s: Session,
    q: Select[_Keyed, *_Rest],
    key: SQLColumnExpression[int],
    *,
    listing: str,
    cursor: str | None,
    limit: int,
    newest_first: bool = True,
) -> tuple[list[Row[_Keyed, *_Rest]], str | None]:
    """One page of the rows of *q*, ordered by the unique id column *key*, and the next page's
    cursor. The first entity of each row must be the one *key* belongs to."""
    after = decode_cursor(listing, cursor)
    if after is not None:
        q = q.where(key < after if newest_first else key > after)
    q = q.order_by(None).order_by(key.desc() if newest_first else key.asc()).limit(limit + 1)
    rows = list(s.execute(q).all())
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(listing, rows[-1][0].id)


# -- companies ------------------------------------------------------------------------------


class CompanyCounts(BaseModel):
    sources: int = Field(description="Sources you may use, the import address's included.")
    documents: int = Field(description="Documents in the company's queue, processed or not.")
    new_documents: int = Field(description="Documents not marked as processed yet.")


class CompanyOut(BaseModel):
    id: int
    name: str
    import_address: str | None = Field(
        description="The central import address (needs the service's mail domain), else null."
    )
    notify_emails: list[str]
    locale: str | None = Field(
        default=None,
        description="Language (en, de, nl, pl, fr) of notifications to addresses that are no "
        "user's, and of webhook payloads' message; null: English, and webhooks carry none.",
    )
    created_at: datetime
    counts: CompanyCounts


class CompanyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    notify_emails: list[str] = Field(
        default_factory=list, description="Who is told when a source fails or needs sign-in."
    )
