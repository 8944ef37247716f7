"""``invoice-inbox company ...`` and ``notifications``: import addresses, who is told what."""

from __future__ import annotations

from typing import Annotated, TypedDict

import typer
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from invoice_inbox.cli.base import JsonOpt, UserError, app, company_app, iso, out, print_json, state
from invoice_inbox.i18n import LOCALES
from invoice_inbox.json_types import JsonObject
from invoice_inbox.pipeline.senders import normalize_pattern
from invoice_inbox.store import companies, notifications
from invoice_inbox.store import sources as sources_store
from invoice_inbox.store.models import Company


def company_json(s: Session, c: Company) -> JsonObject:
    src = companies.import_source(s, c)
    return {
        "name": c.name,
        "import_address": companies.address(s, c),
        "import_local_part": c.import_token,
        "import_source": src.name,
        "notify": list(c.notify_emails or []),
        "locale": c.locale,
        "sources": sorted(x.name for x in c.sources if x.protocol != companies.IMPORT_PROTOCOL),
    }


def _show(info: JsonObject, as_json: bool) -> None:
    if as_json:
        print_json(info)
        return
    for key, value in info.items():
        shown = ", ".join(value) if isinstance(value, list) else value
        out.print(f"{key:18} {shown if shown not in (None, '') else '-'}")
    if info["import_address"] is None:
        out.print(
            "The import address needs the service's mail domain: invoice-inbox serve "
            "--smtp-port 25 --smtp-domain invoices.example.com"
        )


def _emails(values: list[str] | None) -> list[str]:
    found = []
    for v in values or []:
        addr = normalize_pattern(v)
        if addr.startswith("*@"):
            raise UserError(f"--notify takes e-mail addresses, not a pattern: {v}")
        found.append(addr)
    return found


NotifyOpt = Annotated[
    list[str] | None,
    typer.Option("--notify", help="E-mail address told about failing sources (repeatable)."),
]


@company_app.command("add")
def company_add(name: str, notify: NotifyOpt = None, as_json: JsonOpt = False) -> None:
    """Add a company; it gets its central import address at once."""
    emails = _emails(notify)
    a = state.open(create=True)
    with a.db.session() as s:
        if s.scalar(select(Company.id).where(Company.name == name)) is not None:
            raise UserError(f'a company named "{name}" exists already')
        c = sources_store.company(s, name, create=True)
        c.notify_emails = emails
        info = company_json(s, c)
    _show(info, as_json)


@company_app.command("show")
def company_show(name: str, as_json: JsonOpt = False) -> None:
    """Show a company, with its central import address."""
    a = state.open()
    with a.db.session() as s:
        info = company_json(s, sources_store.company(s, name))
    _show(info, as_json)


@company_app.command("list")
def company_list(as_json: JsonOpt = False) -> None:
    """List the companies and their import addresses."""
    a = state.open()
    with a.db.session() as s:
        rows = [company_json(s, c) for c in s.scalars(select(Company).order_by(Company.name))]
    if as_json:
        print_json(rows)
        return
    t = Table("name", "import address", "sources", "notify")
    for r in rows:
        t.add_row(
            r["name"],
            r["import_address"] or f"{r['import_local_part']}@(no domain set)",
            ", ".join(r["sources"]),
            ", ".join(r["notify"]),
        )
    out.print(t)


LocaleOpt = Annotated[
    str | None,
    typer.Option(
        "--locale",
        metavar="LANGUAGE",
        help=f"Language of notifications to addresses that are no user's and of webhook "
        f"messages: {', '.join(LOCALES)}; none: English, webhooks without a message.",
    ),
]


@company_app.command("set")
def company_set(name: str, notify: NotifyOpt = None, locale: LocaleOpt = None) -> None:
    """Change who is notified about the company's sources (the list is replaced) and in which
    language addresses that are no user's are told."""
    if notify is None and locale is None:
        raise UserError("nothing to change; see invoice-inbox company set --help")
    if locale is not None and locale != "none" and locale not in LOCALES:
        raise UserError(f"{locale[:20]!r} is not a language; use one of {', '.join(LOCALES)}")
    emails = _emails(notify) if notify is not None else None
    a = state.open()
    with a.db.session() as s:
        company = sources_store.company(s, name)
        if emails is not None:
            company.notify_emails = emails
        if locale is not None:
            company.locale = None if locale == "none" else locale
    out.print(f'Company "{name}" updated.')


@company_app.command("regenerate-address")
def company_regenerate(name: str, as_json: JsonOpt = False) -> None:
    """Give the company a new import address; mail to the old one is refused from now on."""
    a = state.open()
    with a.db.session() as s:
        c = sources_store.company(s, name)
        companies.regenerate(s, c)
        info = company_json(s, c)
    _show(info, as_json)


class _NotificationRow(TypedDict):
    id: int
    created_at: str
    company: str
    source: str | None
    kind: str
    subject: str
    body: str
    email: str
    webhook: str
    last_error: str | None


@app.command("notifications")
def notifications_cmd(
    company: Annotated[str | None, typer.Option(help="Only this company's.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List notifications (failing and switched-off sources, refused sign-ins)."""
    a = state.open()
    with a.db.session() as s:
        rows: list[_NotificationRow] = [
            {
                "id": n.id,
                "created_at": iso(n.created_at),
                "company": c,
                "source": src,
                "kind": n.kind,
                "subject": n.written()[0],  # in the CLI's language
                "body": n.written()[1],
                "email": n.email_state,
                "webhook": n.webhook_state,
                "last_error": n.last_error,
            }
            for n, c, src in notifications.listing(s, company=company, limit=limit)
        ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("No notifications.")
        return
    t = Table("id", "when", "company", "source", "what", "e-mail", "webhook")
    for r in rows:
        t.add_row(
            str(r["id"]),
            r["created_at"][:16],
            r["company"],
            r["source"] or "-",
            r["subject"],
            r["email"],
            r["webhook"],
        )
    out.print(t)
