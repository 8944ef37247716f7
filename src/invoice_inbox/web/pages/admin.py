"""Pages: users (administrators only).

Users: list, create, edit (role, companies, active, a new password); deactivating a user or
setting their password signs them out everywhere (a new password also revokes their API
tokens), and the last active administrator cannot demote or deactivate themself. The
companies' pages are in ``companies``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from invoice_inbox.i18n import gettext as _
from invoice_inbox.i18n import ngettext
from invoice_inbox.store import users
from invoice_inbox.store.models import Company, Role, User
from invoice_inbox.web.access import NotFound
from invoice_inbox.web.pages.account import new_password_errors, revoke_token
from invoice_inbox.web.security import Page, PageUser, context, start_session
from invoice_inbox.web.templating import redirect, render

router = APIRouter()

ROLES = [r.value for r in Role]
COMPANY_NAME_MAX = 200
IntList = Annotated[list[int] | None, Form()]
Text = Annotated[str, Form()]


def _sentence(problem: Exception | str) -> str:
    text = str(problem).strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "."


# -- users -------------------------------------------------------------------------------------


@dataclass
class UserForm:
    """What the user form was sent with (never the passwords), and what is wrong with it."""

    email: str = ""
    role: str = Role.CLERK.value
    company_ids: set[int] = field(default_factory=set)
    active: bool = True
    errors: dict[str, str] = field(default_factory=dict)


def _all_companies(s: Session) -> list[Company]:
    return list(s.scalars(select(Company).order_by(Company.name)))


def _check_role_and_companies(s: Session, form: UserForm) -> list[Company]:
    """The chosen companies; errors for an unknown role or a clerk/viewer without a company."""
    if form.role not in ROLES:
        form.errors["role"] = _("Choose a role: administrator, clerk or viewer.")
    chosen = [c for c in _all_companies(s) if c.id in form.company_ids]
    if len(chosen) != len(form.company_ids):
        form.errors["companies"] = _("A chosen company no longer exists; choose again.")
    elif form.role != Role.ADMIN and not chosen:
        form.errors["companies"] = _("A clerk or viewer needs at least one company.")
    return chosen


def _user_form_page(
    request: Request,
    page: Page,
    s: Session,
    name: str,
    form: UserForm,
    status_code: int = 200,
    **values: Any,  # the template's variables (Jinja takes any)
) -> Response:
    return render(
        request,
        name,
        page,
        status_code=status_code,
        nav="users",
        form=form,
        errors=form.errors,
        roles=ROLES,
        all_companies=_all_companies(s),
        min_password=users.MIN_PASSWORD,
        **values,
    )


@router.get("/users")
def users_page(request: Request, page: PageUser) -> Response:
    page.access.require_admin()
    with context(request).app.db.session() as s:
        rows = list(s.scalars(select(User).order_by(User.email)))
        return render(request, "users.html", page, nav="users", users=rows)


@router.get("/users/new")
def new_user_form(request: Request, page: PageUser) -> Response:
    page.access.require_admin()
    with context(request).app.db.session() as s:
        return _user_form_page(request, page, s, "user_new.html", UserForm())


@router.post("/users/new")
def create_user(
    request: Request,
    page: PageUser,
    email: Text = "",
    role: Text = "",
    companies: IntList = None,
    password: Text = "",
    repeat: Text = "",
) -> Response:
    page.access.require_admin()
    form = UserForm(email=email.strip(), role=role, company_ids=set(companies or []))
    with context(request).app.db.session() as s:
        try:
            form.email = users.normalize_email(email)
        except users.UserProblem:
            form.errors["email"] = _("This is not an e-mail address (like name@example.com).")
        else:
            if users.by_email(s, form.email) is not None:
                form.errors["email"] = _("There is already a user with the address %(email)s.") % {
                    "email": form.email
                }
        chosen = _check_role_and_companies(s, form)
        form.errors.update(new_password_errors(password, repeat))
        if not form.errors:
            try:
                user = users.create(s, form.email, password, form.role, chosen)
            except users.UserProblem as exc:  # the checks above should have caught it
                form.errors["email"] = _sentence(exc)
        if form.errors:
            return _user_form_page(request, page, s, "user_new.html", form, status_code=422)
        user_id = user.id
    flash = _("The user %(email)s is created.") % {"email": form.email}
    return redirect(f"/users/{user_id}", flash=flash)


def _user(s: Session, user_id: int) -> User:
    user = s.get(User, user_id)
    if user is None:
        raise NotFound(_("no such user"))
    return user


def _edit_page(
    request: Request, page: Page, s: Session, user: User, form: UserForm, status_code: int = 200
) -> Response:
    return _user_form_page(
        request,
        page,
        s,
        "user_edit.html",
        form,
        status_code=status_code,
        user=user,
        tokens=users.tokens_of(s, user),
        is_me=user.id == page.access.user_id,
    )


@router.get("/users/{user_id}")
def edit_user_form(request: Request, page: PageUser, user_id: int) -> Response:
    page.access.require_admin()
    with context(request).app.db.session() as s:
        user = _user(s, user_id)
        form = UserForm(
            email=user.email,
            role=user.role,
            company_ids={c.id for c in user.companies},
            active=user.active,
        )
        return _edit_page(request, page, s, user, form)


@router.post("/users/{user_id}")
def edit_user(
    request: Request,
    page: PageUser,
    user_id: int,
    role: Text = "",
    companies: IntList = None,
    active: Annotated[str | None, Form()] = None,
    password: Text = "",
    repeat: Text = "",
) -> Response:
    page.access.require_admin()
    is_me = user_id == page.access.user_id
    with context(request).app.db.session() as s:
        user = _user(s, user_id)
        form = UserForm(
            email=user.email, role=role, company_ids=set(companies or []), active=active is not None
        )
        chosen = _check_role_and_companies(s, form)
        if password or repeat:
            form.errors.update(new_password_errors(password, repeat))
        stays_admin = form.role == Role.ADMIN and form.active
        if not stays_admin and users.is_last_admin(s, user):
            if form.role != Role.ADMIN:
                form.errors["role"] = (
                    _(
                        "You are the last active administrator, so this role must stay"
                        " administrator. Make another user an administrator first."
                    )
                    if is_me
                    else _(
                        "%(email)s is the last active administrator, so this role must stay"
                        " administrator. Make another user an administrator first."
                    )
                    % {"email": user.email}
                )
            else:
                form.errors["active"] = (
                    _(
                        "You are the last active administrator and cannot be deactivated."
                        " Make another user an administrator first."
                    )
                    if is_me
                    else _(
                        "%(email)s is the last active administrator and cannot be deactivated."
                        " Make another user an administrator first."
                    )
                    % {"email": user.email}
                )
        if form.errors:
            return _edit_page(request, page, s, user, form, status_code=422)

        deactivated = user.active and not form.active
        user.role, user.companies, user.active = form.role, chosen, form.active
        if password:
            users.set_password(user, password)
        signed_out = deactivated or bool(password)
        # a password reset by an admin usually means it leaked: tokens made with it end too
        revoked = users.revoke_tokens_of(s, user) if password and not is_me else 0
        cookie = None
        if signed_out:
            users.close_sessions_of(s, user)
            if is_me and form.active:  # keep this browser signed in with a new session
                cookie, _csrf = users.open_session(s, user)
        email = user.email

    if is_me and deactivated:
        return redirect("/login", flash=_("Your account is deactivated; you are signed out."))
    said = [_("The user %(email)s is saved.") % {"email": email}]
    if signed_out and not is_me:
        said.append(_("They are signed out of every browser."))
    if revoked:
        said.append(
            ngettext(
                "Their %(n)s API token is revoked.", "Their %(n)s API tokens are revoked.", revoked
            )
            % {"n": revoked}
        )
    message = " ".join(said)
    response = redirect(f"/users/{user_id}", flash=message)
    if cookie is not None:
        start_session(request, response, cookie)
    return response


@router.post("/users/{user_id}/tokens/{token_id}/revoke")
def revoke_user_token(request: Request, page: PageUser, user_id: int, token_id: int) -> Response:
    page.access.require_admin()
    with context(request).app.db.session() as s:
        user = _user(s, user_id)
        label = revoke_token(s, user.id, token_id)
    return redirect(
        f"/users/{user_id}",
        flash=_('The API token "%(name)s" is revoked; it no longer works.') % {"name": label},
        request=request,
    )
