"""API: the token's own user, and the two settings that are theirs to choose: the language of
their pages and notifications (``locale``: one of en, de, nl, pl, fr; null: the browser's) and
the time zone their pages show times in (``time_zone``: an IANA name; null: the browser's)."""

from __future__ import annotations

from typing import Literal, cast, get_args

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from invoice_inbox.i18n import _
from invoice_inbox.store.models import User
from invoice_inbox.web import readable
from invoice_inbox.web.access import NotFound
from invoice_inbox.web.api.schemas import ERRORS, NEEDS_TOKEN, bad_value
from invoice_inbox.web.security import ApiUser, context

router = APIRouter(tags=["users"], dependencies=NEEDS_TOKEN, responses=ERRORS)

Locale = Literal["en", "de", "nl", "pl", "fr"]


class MeOut(BaseModel):
    id: int
    email: str
    role: str
    locale: Locale | None = Field(
        description="Language of pages and notifications; null: the browser's."
    )
    time_zone: str | None = Field(
        description="IANA time zone of times on pages; null: the browser's."
    )


class MeChange(BaseModel):
    """Only the fields sent are changed; null clears the setting."""

    locale: Locale | None = None
    time_zone: str | None = Field(default=None, max_length=64)


def _out(user: User) -> MeOut:
    locale = cast(Locale, user.locale) if user.locale in get_args(Locale) else None
    return MeOut(
        id=user.id, email=user.email, role=user.role, locale=locale, time_zone=user.time_zone
    )


@router.get("/users/me", response_model=MeOut)
def get_me(request: Request, access: ApiUser) -> MeOut:
    """The user the token belongs to, with their language and time zone."""
    with context(request).app.db.session() as s:
        user = s.get(User, access.user_id)
        if user is None:
            raise NotFound(_("no such user"))
        return _out(user)


@router.patch("/users/me", response_model=MeOut)
def change_me(request: Request, access: ApiUser, change: MeChange) -> MeOut:
    """Set the language (``locale``) or the time zone (``time_zone``) of the token's user."""
    zone = (change.time_zone or "").strip()
    if "time_zone" in change.model_fields_set and zone and readable.zone(zone) is None:
        raise bad_value("time_zone", "not an IANA time zone, e.g. Europe/Warsaw")
    with context(request).app.db.session() as s:
        user = s.get(User, access.user_id)
        if user is None:
            raise NotFound(_("no such user"))
        if "locale" in change.model_fields_set:
            user.locale = change.locale
        if "time_zone" in change.model_fields_set:
            user.time_zone = zone or None
        return _out(user)
