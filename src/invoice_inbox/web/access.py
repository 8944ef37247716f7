"""Who may see and do what: the signed-in user's role and companies, applied to every query.

Admins see every company; clerks and viewers only their own. A source restricted to a user or a
role is seen and fetched only by them (and admins); its documents are in the company's queue
like any other. Whatever a user may not see does not exist
for them: the answer is 404, never 403, so ids of other companies leak nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVarTuple

from fastapi import HTTPException
from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from invoice_inbox.i18n import gettext as _
from invoice_inbox.store.models import Company, Document, Role, Source, User
from invoice_inbox.store.models_events import Notification

_Cols = TypeVarTuple("_Cols")  # the columns a limited query selects


class NotFound(HTTPException):
    def __init__(self, what: str | None = None) -> None:
        super().__init__(status_code=404, detail=what or _("not found"))


class Forbidden(HTTPException):
    def __init__(self, what: str) -> None:
        super().__init__(status_code=403, detail=what)


@dataclass(frozen=True)
class Access:
    """A signed-in user, detached from any database session."""

    user_id: int
    email: str
    role: str
    company_ids: frozenset[int]  # ignored for admins, who see every company

    @classmethod
    def of(cls, user: User) -> Access:
        return cls(user.id, user.email, user.role, frozenset(c.id for c in user.companies))

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def can_fetch(self) -> bool:
        """Fetch now and acknowledge documents (admins and clerks)."""
        return self.role in (Role.ADMIN, Role.CLERK)

    def sees_company(self, company_id: int) -> bool:
        return self.is_admin or company_id in self.company_ids

    def uses_source(self, src: Source) -> bool:
        if self.is_admin:
            return True
        if not self.sees_company(src.company_id):
            return False
        if src.restricted_to_user_id is not None and src.restricted_to_user_id != self.user_id:
            return False
        return src.restricted_to_role is None or src.restricted_to_role == self.role

    # -- queries limited to what the user sees ------------------------------------------------

    def companies(self, s: Session) -> list[Company]:
        q = select(Company).order_by(Company.name)
        if not self.is_admin:
            q = q.where(Company.id.in_(self.company_ids))
        return list(s.scalars(q))

    def limit_sources(self, q: Select[*_Cols]) -> Select[*_Cols]:
        """*q* (which selects or joins Source) limited to the sources this user may use."""
        if self.is_admin:
            return q
        return q.where(
            Source.company_id.in_(self.company_ids),
            or_(
                Source.restricted_to_user_id.is_(None), Source.restricted_to_user_id == self.user_id
            ),
            or_(Source.restricted_to_role.is_(None), Source.restricted_to_role == self.role),
        )

    def limit_notifications(self, q: Select[*_Cols]) -> Select[*_Cols]:
        """*q* (which selects Notification) limited to the notifications about sources this
        user may use, and the company-wide ones of their companies (the screen and the API)."""
        if self.is_admin:
            return q
        # its own FROM: not correlated with an outer join on Source
        usable = self.limit_sources(select(Source.id)).correlate(None)
        return q.where(
            or_(
                Notification.source_id.in_(usable),
                and_(
                    Notification.source_id.is_(None),
                    Notification.company_id.in_(self.company_ids),
                ),
            )
        )

    def limit_documents(self, q: Select[*_Cols]) -> Select[*_Cols]:
        if self.is_admin:
            return q
        return q.where(Document.company_id.in_(self.company_ids))

    # -- single objects, or 404 ---------------------------------------------------------------

    def company(self, s: Session, company_id: int) -> Company:
        c = s.get(Company, company_id)
        if c is None or not self.sees_company(c.id):
            raise NotFound(_("no such company"))
        return c

    def source(self, s: Session, source_id: int) -> Source:
        src = s.get(Source, source_id)
        if src is None or not self.uses_source(src):
            raise NotFound(_("no such source"))
        return src

    def document(self, s: Session, document_id: int) -> Document:
        doc = s.get(Document, document_id)
        if doc is None or not self.sees_company(doc.company_id):
            raise NotFound(_("no such document"))
        return doc

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden(_("only an administrator may do this"))

    def require_fetch(self) -> None:
        if not self.can_fetch:
            raise Forbidden(_("viewers may look but not change anything"))
