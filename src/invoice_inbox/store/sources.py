"""Companies and sources: create, find, list, remove."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from invoice_inbox.i18n import _
from invoice_inbox.store.errors import AlreadyExists, NotFound
from invoice_inbox.store.models import AuthState, Company, Source


def company(s: Session, name: str, *, create: bool = False) -> Company:
    """The company called *name*; created when missing and *create* is true."""
    found = s.scalar(select(Company).where(Company.name == name))
    if found is not None:
        return found
    if not create:
        raise NotFound(_('no company "%(name)s"') % {"name": name})
    new = Company(name=name)
    s.add(new)
    s.flush()
    return new


def add(s: Session, *, name: str, company_name: str, **fields: object) -> Source:
    if s.scalar(select(Source.id).where(Source.name == name)) is not None:
        raise AlreadyExists(_('a source named "%(name)s" exists already') % {"name": name})
    src = Source(name=name, company=company(s, company_name, create=True), **fields)
    s.add(src)
    s.flush()
    return src


def get(s: Session, name: str) -> Source:
    src = s.scalar(select(Source).where(Source.name == name))
    if src is None:
        names = s.scalars(select(Source.name).order_by(Source.name)).all()
        if names:
            raise NotFound(
                _('no source named "%(name)s"; sources are: %(names)s')
                % {"name": name, "names": ", ".join(names)}
            )
        raise NotFound(_('no source named "%(name)s"; there are no sources yet') % {"name": name})
    return src


def all_sources(s: Session, *, active_only: bool = False) -> list[Source]:
    q = select(Source).order_by(Source.name)
    if active_only:
        q = q.where(Source.active.is_(True))
    return list(s.scalars(q))


def remove(s: Session, name: str) -> None:
    s.delete(get(s, name))


def signed_in(s: Session, source_id: int, token_ciphertext: str) -> None:
    """Store a source's (new or rotated) encrypted token and mark it signed in; one UPDATE, so
    a token is never half-written."""
    s.execute(
        update(Source)
        .where(Source.id == source_id)
        .values(token=token_ciphertext, auth_state=AuthState.OK, auth_error=None)
    )


def sign_in_refused(s: Session, name: str, reason: str) -> None:
    """The provider refused the source's sign-in: it waits for someone to sign in anew."""
    src = get(s, name)
    src.auth_state = AuthState.NEEDS_REAUTHENTICATION
    src.auth_error = reason
