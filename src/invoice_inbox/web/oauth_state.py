"""OAuth sign-ins begun in the browser, kept in the database so that any web process of the
deployment can finish what another began (``oauth_state``).

A pending sign-in is keyed by the SHA-256 of its ``state`` parameter (the state itself only
travels in the browser's URL); what it must be checked against (the PKCE verifier, the
endpoints, the client) is encrypted with the app's secret key. It is taken exactly once: the
row is read, then deleted with a DELETE that only one request can win, so a replayed or
doubled callback finds nothing. Rows live ten minutes; expired ones are deleted whenever a
new sign-in starts. A provider's refusal, shown once on the source's page, is kept the same way
(``kind`` "refused", one per user and source).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from invoice_inbox.auth import oauth, oauth_signin
from invoice_inbox.runtime.context import App
from invoice_inbox.store.models import utcnow
from invoice_inbox.store.models_state import OAuthState
from invoice_inbox.store.rowcount import rowcount

PENDING_SECONDS = 600
REFUSED = "refused"


@dataclass(frozen=True)
class Pending:
    kind: str  # "sign-in" | "consent"
    source_id: int
    user_id: int
    endpoints: oauth.Endpoints
    client_id: str
    request: oauth_signin.AuthRequest | None = field(default=None, repr=False)


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _refusal_key(user_id: int, source_id: int) -> str:
    return _key(f"{REFUSED}:{user_id}:{source_id}")


def keep(app: App, state: str, pending: Pending) -> None:
    """Remember a sign-in begun with *state* for ten minutes (and forget expired ones)."""
    payload = {
        "endpoints": dataclasses.asdict(pending.endpoints),
        "client_id": pending.client_id,
        "request": dataclasses.asdict(pending.request) if pending.request else None,
    }
    now = utcnow()
    with app.db.session() as s:
        s.execute(delete(OAuthState).where(OAuthState.expires_at < now))
        s.add(
            OAuthState(
                key=_key(state),
                kind=pending.kind,
                source_id=pending.source_id,
                user_id=pending.user_id,
                payload=app.secrets.encrypt(json.dumps(payload)),
                created_at=now,
                expires_at=now + timedelta(seconds=PENDING_SECONDS),
            )
        )


def _take_row(app: App, key: str, user_id: int) -> OAuthState | None:
    """The row, if it is this user's, not expired, and this request deleted it."""
    with app.db.session() as s:
        row = s.scalar(select(OAuthState).where(OAuthState.key == key))
        if row is None or row.user_id != user_id:
            return None
        won = rowcount(s.execute(delete(OAuthState).where(OAuthState.key == key))) == 1
    if not won or row.expires_at <= utcnow():
        return None
    return row


def take(app: App, state: str, user_id: int) -> Pending | None:
    """The sign-in *user_id* began with *state* in the last ten minutes, once; else None."""
    if not state:
        return None
    row = _take_row(app, _key(state), user_id)
    if row is None or row.kind == REFUSED:
        return None
    data = json.loads(app.secrets.decrypt(row.payload))
    request = data["request"]
    return Pending(
        row.kind,
        row.source_id,
        row.user_id,
        oauth.Endpoints(**data["endpoints"]),
        data["client_id"],
        oauth_signin.AuthRequest(**request) if request else None,
    )


def refused(app: App, user_id: int, source_id: int, problem: str) -> None:
    """Keep the provider's refusal (or why no sign-in could start) for the source's page."""
    key, now = _refusal_key(user_id, source_id), utcnow()
    for tries_left in (2, 1, 0):
        try:
            with app.db.session() as s:
                s.execute(delete(OAuthState).where(OAuthState.key == key))
                s.add(
                    OAuthState(
                        key=key,
                        kind=REFUSED,
                        source_id=source_id,
                        user_id=user_id,
                        payload=app.secrets.encrypt(problem),
                        created_at=now,
                        expires_at=now + timedelta(seconds=PENDING_SECONDS),
                    )
                )
            return
        except IntegrityError:  # the same user's other request at the same moment
            if not tries_left:
                raise


def take_outcome(app: App, user_id: int, source_id: int) -> str | None:
    """The provider's refusal of this user's last sign-in to the source, once."""
    row = _take_row(app, _refusal_key(user_id, source_id), user_id)
    return app.secrets.decrypt(row.payload) if row is not None else None
