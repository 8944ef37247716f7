"""Users, their companies, API tokens and browser sessions.

Passwords are hashed with argon2id (argon2-cffi's defaults). API tokens and session ids are
random values of which only the SHA-256 is stored: a copy of the database signs nobody in.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from invoice_inbox.i18n import _
from invoice_inbox.store.models import ApiToken, Company, Role, User, WebSession, utcnow

SESSION_LIFETIME = timedelta(days=7)
TOKEN_PREFIX = "iit_"  # invoice-inbox token: recognisable in logs and secret scanners
MIN_PASSWORD = 10

_hasher = PasswordHasher()


class UserProblem(ValueError):
    """A user mistake (unknown company, short password, taken address), in one sentence of the
    reader's language; ``field`` names the form field it is about, so a form never reads the
    sentence to place it."""

    def __init__(self, message: str, field: str = "email") -> None:
        super().__init__(message)
        self.field = field


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or email.startswith("@") or email.endswith("@") or " " in email:
        raise UserProblem(_("%(email)r is not an e-mail address") % {"email": email})
    return email


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserProblem(
            _("the password must have at least %(n)s characters") % {"n": MIN_PASSWORD},
            field="password",
        )


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def count(s: Session) -> int:
    return s.scalar(select(func.count(User.id))) or 0


def by_email(s: Session, email: str) -> User | None:
    return s.scalar(select(User).where(User.email == email.strip().lower()))


def companies_named(s: Session, names: list[str]) -> list[Company]:
    found = []
    for name in names:
        c = s.scalar(select(Company).where(Company.name == name))
        if c is None:
            raise UserProblem(
                _('there is no company "%(name)s"') % {"name": name}, field="companies"
            )
        found.append(c)
    return found


def create(
    s: Session, email: str, password: str, role: str, companies: list[Company] | None = None
) -> User:
    """A new user. Admins see every company; others only *companies* (at least one)."""
    email = normalize_email(email)
    if role not in {r.value for r in Role}:
        raise UserProblem(
            _("the role must be admin, clerk or viewer, not %(role)r") % {"role": role},
            field="role",
        )
    if role != Role.ADMIN and not companies:
        raise UserProblem(_("a clerk or viewer needs at least one company"), field="companies")
    check_password(password)
    if by_email(s, email) is not None:
        raise UserProblem(_("there is already a user %(email)s") % {"email": email})
    user = User(
        email=email,
        password_hash=hash_password(password),
        role=role,
        active=True,
        companies=list(companies or []),
    )
    s.add(user)
    s.flush()
    return user


def set_password(user: User, password: str) -> None:
    check_password(password)
    user.password_hash = hash_password(password)


def verify_password(user: User, password: str) -> bool:
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def authenticate(s: Session, email: str, password: str) -> User | None:
    """The active user with this e-mail and password, or None. Rehashes an outdated hash."""
    user = by_email(s, email)
    if user is None or not user.active:
        _hasher.hash(password)  # as slow as a real check: no user enumeration by timing
        return None
    if not verify_password(user, password):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    return user


# -- API tokens -----------------------------------------------------------------------------


def create_token(s: Session, user: User, name: str = "") -> tuple[ApiToken, str]:
    """A new token for *user*: (its row, the token itself, which is shown this once)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=name, token_sha256=_sha(token), prefix=token[:10])
    s.add(row)
    s.flush()
    return row, token


def user_for_token(s: Session, token: str) -> User | None:
    row = s.scalar(select(ApiToken).where(ApiToken.token_sha256 == _sha(token)))
    if row is None or not row.user.active:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
        row.last_used_at = now
    return row.user


def tokens_of(s: Session, user: User) -> list[ApiToken]:
    """The user's tokens, newest first."""
    return list(
        s.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user.id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )


def token(s: Session, token_id: int, *, user_id: int | None = None) -> ApiToken | None:
    """Token *token_id* (of *user_id* only, when given), or None."""
    q = select(ApiToken).where(ApiToken.id == token_id)
    if user_id is not None:
        q = q.where(ApiToken.user_id == user_id)
    return s.scalar(q)


def revoke_tokens_of(s: Session, user: User) -> int:
    """Delete every API token of *user*; how many there were."""
    result = s.execute(delete(ApiToken).where(ApiToken.user_id == user.id))
    return int(getattr(result, "rowcount", 0) or 0)


def is_last_admin(s: Session, user: User) -> bool:
    """True when *user* is the only active administrator: demoting, switching off or removing
    them would lock everyone out."""
    if user.role != Role.ADMIN or not user.active:
        return False
    others = s.scalar(
        select(func.count(User.id)).where(
            User.role == Role.ADMIN, User.active.is_(True), User.id != user.id
        )
    )
    return not others


def remove(s: Session, user: User) -> None:
    """Delete *user* with their API tokens and browser sessions."""
    close_sessions_of(s, user)
    s.execute(delete(ApiToken).where(ApiToken.user_id == user.id))
    s.delete(user)


# -- browser sessions -----------------------------------------------------------------------


def open_session(s: Session, user: User, *, now: datetime | None = None) -> tuple[str, str]:
    """A new browser session: (the cookie value, its CSRF token)."""
    now = now or utcnow()
    s.execute(delete(WebSession).where(WebSession.expires_at < now))
    cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    s.add(
        WebSession(
            id_sha256=_sha(cookie),
            user_id=user.id,
            csrf_token=csrf,
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    return cookie, csrf


def session_for(s: Session, cookie: str, *, now: datetime | None = None) -> WebSession | None:
    row = s.get(WebSession, _sha(cookie))
    if row is None or row.expires_at < (now or utcnow()) or not row.user.active:
        return None
    return row


def close_session(s: Session, cookie: str) -> None:
    s.execute(delete(WebSession).where(WebSession.id_sha256 == _sha(cookie)))


def close_sessions_of(s: Session, user: User) -> None:
    s.execute(delete(WebSession).where(WebSession.user_id == user.id))
