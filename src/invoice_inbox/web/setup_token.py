"""The one-time secret that the first-run setup (``/setup``) needs, shared by all web processes
of a deployment through the database.

A fresh instance has no administrator, and whoever opens ``/setup`` first creates one; a page
on another site that reaches this service (DNS rebinding, a proxy set up too early) must not be
that someone. ``serve`` makes a random token at start and prints the setup address with it;
while there is no user, its SHA-256 is kept in the ``setting`` table, so the address works on
any web process of the deployment (each process that starts adds its own). The first
administrator is made in the same transaction as a conditional DELETE of the ``setup-open``
marker, which only one request of one process can win; that transaction also deletes every
token, so none works again. While there is still no user, the next start opens setup again
with a new token.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from invoice_inbox.store import users
from invoice_inbox.store.db import Database
from invoice_inbox.store.models import utcnow
from invoice_inbox.store.models_state import Setting
from invoice_inbox.store.rowcount import rowcount

PREFIX = "setup-token:"  # + the token's SHA-256
OPEN = "setup-open"  # present while the first administrator may be made


def _key(token: str) -> str:
    return PREFIX + hashlib.sha256(token.encode()).hexdigest()


class SetupToken:
    """The deployment's setup tokens, and the one this process issued (*value*)."""

    def __init__(self, db: Database, value: str | None = None) -> None:
        self.db = db
        self._value: str | None = None
        with db.session() as s:
            if users.count(s) > 0:
                return
            token = value or secrets.token_urlsafe(32)
            s.add(Setting(key=_key(token), value=utcnow().isoformat()))
        self._value = token
        try:
            with db.session() as s:
                if s.get(Setting, OPEN) is None:
                    s.add(Setting(key=OPEN, value=utcnow().isoformat()))
        except IntegrityError:  # another process opened setup at the same moment
            pass

    @property
    def value(self) -> str | None:
        """The token this process issued, while it is not spent."""
        return self._value if self._value and self.matches(self._value) else None

    def matches(self, sent: str | None) -> bool:
        if not sent:
            return False
        with self.db.session() as s:
            return s.scalar(select(Setting.key).where(Setting.key == _key(sent))) is not None

    @staticmethod
    def spend(s: Session, sent: str) -> bool:
        """In the transaction that makes the first administrator: close setup and forget every
        token. False when *sent* is not a token or setup was closed meanwhile: the caller then
        rolls the transaction back. Closing comes first, so concurrent setups queue on it."""
        if rowcount(s.execute(delete(Setting).where(Setting.key == OPEN))) != 1:
            return False
        if rowcount(s.execute(delete(Setting).where(Setting.key == _key(sent)))) != 1:
            return False
        s.execute(delete(Setting).where(Setting.key.startswith(PREFIX)))
        return users.count(s) == 0
