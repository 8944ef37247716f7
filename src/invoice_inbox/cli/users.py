"""``invoice-inbox user ...`` and ``token ...``: who may sign in to the web admin and the API.

Passwords are read from an environment variable or standard input, never from the command
line (it ends up in shell histories and ``ps``). ``token create`` prints only the token on
stdout, so a script can capture it; it is shown this once. Deactivating a user or giving them a
new password signs them out of every browser, and the last active administrator stays one.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from typing import Annotated, TypedDict

import typer
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from invoice_inbox.cli.base import (
    JsonOpt,
    UserError,
    app,
    err,
    iso,
    out,
    print_json,
    shown_time,
    state,
)
from invoice_inbox.i18n import LOCALES
from invoice_inbox.json_types import JsonObject
from invoice_inbox.store import users
from invoice_inbox.store.models import ApiToken, Role, User

user_app = typer.Typer(
    help="Users of the web admin and the API: administrators, clerks and viewers.",
    no_args_is_help=True,
)
token_app = typer.Typer(help="API tokens (Authorization: Bearer TOKEN).", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")


class CompanyRole(StrEnum):
    """The roles bound to companies (administrators see them all: ``--admin``)."""

    clerk = "clerk"
    viewer = "viewer"


class AnyRole(StrEnum):
    admin = "admin"
    clerk = "clerk"
    viewer = "viewer"


CompanyOpt = Annotated[
    list[str] | None,
    typer.Option("--company", help="A company the user works for (repeatable)."),
]
PasswordEnvOpt = Annotated[
    str | None, typer.Option(help="Read the password from this environment variable.")
]
PasswordStdinOpt = Annotated[bool, typer.Option(help="Read the password from standard input.")]


@contextmanager
def _session(*, create: bool = False) -> Iterator[Session]:
    """A session in which ``store.users`` mistakes are user errors (one sentence, exit 1);
    *create* lets ``user add`` start a new data directory."""
    a = state.open(create=create)
    try:
        with a.db.session() as s:
            yield s
    except users.UserProblem as exc:
        raise UserError(str(exc)) from None


def _password(password_env: str | None, password_stdin: bool) -> str:
    if password_env and password_stdin:
        raise UserError("give the password with one of --password-env VAR or --password-stdin")
    if password_env:
        value = os.environ.get(password_env)
        if value is None:
            raise UserError(f"the environment variable {password_env} is not set")
        return value
    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise UserError("no password was given on standard input")
    return value


def _user(s: Session, email: str) -> User:
    user = users.by_email(s, email)
    if user is None:
        raise UserError(f"there is no user {email.strip().lower()}")
    return user


def _keep_an_admin(s: Session, user: User, doing: str) -> None:
    if users.is_last_admin(s, user):
        raise UserError(f"{user.email} is the last active administrator; {doing} would lock out")


def user_json(s: Session, user: User) -> JsonObject:
    tokens = s.scalar(select(func.count(ApiToken.id)).where(ApiToken.user_id == user.id)) or 0
    return {
        "email": user.email,
        "role": user.role,
        "active": user.active,
        "companies": [] if user.role == Role.ADMIN else [c.name for c in user.companies],
        "tokens": tokens,
        "created_at": iso(user.created_at),
        "last_login_at": iso(user.last_login_at),
        "locale": user.locale,
    }


def _who(user: User) -> str:
    if user.role == Role.ADMIN:
        return "administrator of every company"
    return f"{user.role} of {', '.join(c.name for c in user.companies)}"


@user_app.command("add")
def user_add(
    email: str,
    admin: Annotated[
        bool, typer.Option("--admin", help="An administrator (every company).")
    ] = False,
    role: Annotated[
        CompanyRole | None, typer.Option(help="clerk (fetch, acknowledge) or viewer (look only).")
    ] = None,
    company: CompanyOpt = None,
    password_env: PasswordEnvOpt = None,
    password_stdin: PasswordStdinOpt = False,
) -> None:
    """Add a user who signs in with their e-mail address and a password."""
    if admin == (role is not None):
        raise UserError("give exactly one of --admin or --role clerk|viewer")
    if admin and company:
        raise UserError("an administrator sees every company; leave out --company")
    if role is not None and not company:
        raise UserError(f"a {role.value} needs at least one --company")
    if not password_env and not password_stdin:
        raise UserError("give the password with --password-env VAR or --password-stdin")
    password = _password(password_env, password_stdin)
    with _session(create=True) as s:
        chosen = users.companies_named(s, company or [])
        chosen_role = role.value if role is not None else Role.ADMIN.value
        user = users.create(s, email, password, chosen_role, chosen)
        text = f"User {user.email} added ({_who(user)})."
    out.print(text, highlight=False)


@user_app.command("list")
def user_list(as_json: JsonOpt = False) -> None:
    """List the users, their roles and companies."""
    with _session() as s:
        rows = [user_json(s, u) for u in s.scalars(select(User).order_by(User.email))]
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("No users yet: invoice-inbox user add EMAIL --admin --password-stdin")
        return
    t = Table("e-mail", "role", "active", "companies", "tokens", "last sign-in")
    for r in rows:
        t.add_row(
            r["email"],
            r["role"],
            "yes" if r["active"] else "no",
            "(all)" if r["role"] == Role.ADMIN else ", ".join(r["companies"]),
            str(r["tokens"]),
            shown_time(datetime.fromisoformat(r["last_login_at"])) if r["last_login_at"] else "-",
        )
    out.print(t)


@user_app.command("remove")
def user_remove(email: str) -> None:
    """Remove a user, with their API tokens and browser sessions."""
    with _session() as s:
        user = _user(s, email)
        _keep_an_admin(s, user, "removing them")
        address = user.email
        users.remove(s, user)
    out.print(f"User {address} removed.", highlight=False)


@user_app.command("set")
def user_set(
    email: str,
    password_env: PasswordEnvOpt = None,
    password_stdin: PasswordStdinOpt = False,
    active: Annotated[
        bool | None, typer.Option("--active/--no-active", help="May sign in (or not).")
    ] = None,
    role: Annotated[AnyRole | None, typer.Option(help="admin, clerk or viewer.")] = None,
    company: Annotated[
        list[str] | None,
        typer.Option("--company", help="The user's companies, replacing the list (repeatable)."),
    ] = None,
    locale: Annotated[
        str | None,
        typer.Option(
            "--locale",
            metavar="LANGUAGE",
            help="Language of the user's pages and notifications: en, de, nl, pl, fr, or "
            "browser (the language their browser asks for).",
        ),
    ] = None,
) -> None:
    """Change a user: password, active, role, companies, language. A new password or switching
    the user off signs them out of every browser."""
    new_password = (
        _password(password_env, password_stdin) if password_env or password_stdin else None
    )
    changes = (new_password, active, role, company, locale)
    if all(v is None for v in changes):
        raise UserError("nothing to change; see invoice-inbox user set --help")
    if locale is not None and locale != "browser" and locale not in LOCALES:
        raise UserError(f"{locale[:20]!r} is not a language; use one of {', '.join(LOCALES)}")
    with _session() as s:
        user = _user(s, email)
        if role is not None and role.value != Role.ADMIN:
            _keep_an_admin(s, user, f"making them a {role.value}")
        if active is False:
            _keep_an_admin(s, user, "switching them off")
        if role is not None:
            user.role = role.value
        if company is not None:
            user.companies = users.companies_named(s, company)
        if user.role != Role.ADMIN and not user.companies:
            raise UserError(f"a {user.role} needs at least one --company")
        if new_password is not None:
            users.set_password(user, new_password)
        if active is not None:
            user.active = active
        if locale is not None:
            user.locale = None if locale == "browser" else locale
        if new_password is not None or active is False:
            users.close_sessions_of(s, user)
        text = f"User {user.email} updated ({_who(user)}{'' if user.active else ', inactive'})."
    out.print(text, highlight=False)


# -- tokens ------------------------------------------------------------------------------------


@token_app.command("create")
def token_create(
    email: str,
    name: Annotated[str, typer.Option(help="What the token is for, e.g. the AP system.")] = "",
) -> None:
    """Create an API token for a user; only the token is printed (shown this once)."""
    with _session() as s:
        user = _user(s, email)
        if not user.active:
            raise UserError(f"{user.email} is switched off; switch them on first")
        row, token = users.create_token(s, user, name.strip())
        token_id = row.id
    out.file.write(token + "\n")
    err.print(
        f"Token {token_id} for {user.email}: keep it now, it is not shown again.",
        highlight=False,
        markup=False,
    )


class _TokenRow(TypedDict):
    id: int
    name: str
    prefix: str
    created_at: str
    last_used_at: str | None


@token_app.command("list")
def token_list(email: str, as_json: JsonOpt = False) -> None:
    """List a user's API tokens (their first characters, never the tokens)."""
    with _session() as s:
        user = _user(s, email)
        rows: list[_TokenRow] = [
            {
                "id": t.id,
                "name": t.name,
                "prefix": t.prefix,
                "created_at": iso(t.created_at),
                "last_used_at": iso(t.last_used_at),
            }
            for t in sorted(users.tokens_of(s, user), key=lambda t: t.id)
        ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print(f"No API tokens; create one with: invoice-inbox token create {email}")
        return
    t = Table("id", "name", "starts with", "created", "last used")
    for r in rows:
        t.add_row(
            str(r["id"]),
            r["name"] or "-",
            f"{r['prefix']}…",
            r["created_at"][:16],
            (r["last_used_at"] or "-")[:16],
        )
    out.print(t)


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Revoke an API token: requests with it are refused from now on."""
    with _session() as s:
        row = users.token(s, token_id)
        if row is None:
            raise UserError(f"there is no API token {token_id}")
        owner = row.user.email
        s.delete(row)
    out.print(f"Token {token_id} of {owner} revoked.", highlight=False)
