"""``invoice-inbox source ...``: connect, list, check, change and remove mailboxes."""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from invoice_inbox.cli.base import JsonOpt, Security, UserError, out, print_json, source_app, state
from invoice_inbox.cli.rules import rule_json
from invoice_inbox.connectors.imap import DEFAULT_PORTS
from invoice_inbox.pipeline.senders import normalize_pattern
from invoice_inbox.runtime import runner
from invoice_inbox.store import sources as sources_store
from invoice_inbox.store.models import Source


def _read_password(password_env: str | None, password_stdin: bool) -> str:
    if bool(password_env) == password_stdin:
        raise UserError(
            "give the password with exactly one of --password-env VAR or --password-stdin"
        )
    if password_env:
        value = os.environ.get(password_env)
        if not value:
            raise UserError(f"the environment variable {password_env} is not set or empty")
        return value
    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise UserError("no password was given on standard input")
    return value


def _parse_since(since: str | None) -> date | None:
    if since is None:
        return None
    try:
        return date.fromisoformat(since)
    except ValueError:
        raise UserError(f"--since must be a date like 2026-01-31, not {since!r}") from None


@source_app.command("add")
def source_add(
    name: Annotated[str, typer.Argument(help="A name for this mailbox connection.")],
    company: Annotated[str, typer.Option(help="The company whose invoices these are.")],
    host: Annotated[str, typer.Option(help="IMAP server host name.")],
    username: Annotated[
        str, typer.Option(help="Login name (user@domain\\shared for Exchange shared mailboxes).")
    ],
    port: Annotated[int | None, typer.Option(help="Port (993 for ssl, 143 otherwise).")] = None,
    security: Annotated[Security, typer.Option(help="ssl, starttls or none.")] = Security.ssl,
    ca_file: Annotated[Path | None, typer.Option(help="Trust this CA certificate (PEM).")] = None,
    password_env: Annotated[
        str | None, typer.Option(help="Read the password from this environment variable.")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option(help="Read the password from standard input.")
    ] = False,
    folder: Annotated[
        list[str] | None, typer.Option(help="Folder to read from (repeatable; default INBOX).")
    ] = None,
    move_imported_to: Annotated[
        str | None, typer.Option(help="Move imported mail here ({year} allowed).")
    ] = None,
    move_not_imported_to: Annotated[
        str | None, typer.Option(help="Move other mail here ({year} allowed).")
    ] = None,
    unread_only: Annotated[
        bool, typer.Option(help="Only unread mail; mark handled mail read.")
    ] = False,
    since: Annotated[
        str | None, typer.Option(help="Only mail from this date on (YYYY-MM-DD).")
    ] = None,
    allow_sender: Annotated[
        list[str] | None, typer.Option(help="Allowed sender: address or *@domain (repeatable).")
    ] = None,
    require_pdf: Annotated[
        bool, typer.Option(help="Only PDF attachments make an invoice mail.")
    ] = True,
    allow_images: Annotated[
        bool, typer.Option(help="Import scanned images (JPEG, PNG, TIFF) as documents.")
    ] = False,
    import_body: Annotated[
        bool,
        typer.Option(help="Import the mail body as a PDF when there is no document attachment."),
    ] = False,
    description: Annotated[str, typer.Option(help="A note for people.")] = "",
    inactive: Annotated[bool, typer.Option(help="Add it switched off.")] = False,
) -> None:
    """Connect an IMAP mailbox as a source (the company is created when new)."""
    password = _read_password(password_env, password_stdin)
    since_date = _parse_since(since)
    patterns = [normalize_pattern(p) for p in allow_sender or []]
    if ca_file is not None and not ca_file.is_file():
        raise UserError(f"the CA file {ca_file} does not exist")
    a = state.open()
    with a.db.session() as s:
        sources_store.add(
            s,
            name=name,
            company_name=company,
            description=description,
            active=not inactive,
            provider="imap",
            host=host,
            port=port or DEFAULT_PORTS[security.value],
            security=security.value,
            ca_file=str(ca_file.resolve()) if ca_file else None,
            username=username,
            secret=a.secrets.encrypt(password),
            folders=list(folder or ["INBOX"]),
            move_imported_to=move_imported_to,
            move_not_imported_to=move_not_imported_to,
            unread_only=unread_only,
            since=since_date,
            allowed_senders=patterns,
            require_pdf=require_pdf,
            allow_images=allow_images,
            body_fallback=import_body,
        )
    out.print(f'Source "{name}" added. Check it with: invoice-inbox source check {name}')


def _source_json(src: Source) -> dict[str, Any]:
    return {
        "name": src.name,
        "company": src.company.name,
        "description": src.description,
        "active": src.active,
        "provider": src.provider,
        "host": src.host,
        "port": src.port,
        "security": src.security,
        "ca_file": src.ca_file,
        "username": src.username,
        "folders": list(src.folders),
        "move_imported_to": src.move_imported_to,
        "move_not_imported_to": src.move_not_imported_to,
        "unread_only": src.unread_only,
        "since": src.since.isoformat() if src.since else None,
        "allowed_senders": list(src.allowed_senders),
        "require_attachment": src.require_attachment,
        "require_pdf": src.require_pdf,
        "allow_images": src.allow_images,
        "import_body": src.body_fallback,
        "rules": [rule_json(r) for r in src.rules],
    }


@source_app.command("list")
def source_list(as_json: JsonOpt = False) -> None:
    """List the sources."""
    a = state.open()
    with a.db.session() as s:
        rows = [_source_json(src) for src in sources_store.all_sources(s)]
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("No sources yet. Add one with: invoice-inbox source add --help")
        return
    t = Table("name", "company", "active", "server", "user", "folders")
    for r in rows:
        t.add_row(
            r["name"],
            r["company"],
            "yes" if r["active"] else "no",
            f"{r['host']}:{r['port']} ({r['security']})",
            r["username"],
            ", ".join(r["folders"]),
        )
    out.print(t)


@source_app.command("show")
def source_show(name: str, as_json: JsonOpt = False) -> None:
    """Show one source's settings (the password is never shown)."""
    a = state.open()
    with a.db.session() as s:
        info = _source_json(sources_store.get(s, name))
    if as_json:
        print_json(info)
        return
    for key, value in info.items():
        out.print(f"{key:22} {value if value not in (None, '', []) else '-'}")


@source_app.command("check")
def source_check(name: str, as_json: JsonOpt = False) -> None:
    """Connect, log in and list the folders."""
    a = state.open()
    conn = runner.connector_for(a, name)
    try:
        folders = conn.check()
        with a.db.session() as s:
            wanted = list(sources_store.get(s, name).folders)
        missing = [f for f in wanted if f not in folders]
    finally:
        conn.close()
    if as_json:
        print_json({"ok": not missing, "folders": folders, "missing": missing})
    else:
        out.print(f"Connected and logged in. Folders: {', '.join(folders)}")
    if missing:
        raise UserError(f'folder "{missing[0]}" does not exist; folders are: {", ".join(folders)}')


@source_app.command("set")
def source_set(
    name: str,
    require_pdf: Annotated[
        bool | None, typer.Option(help="Only PDF attachments make an invoice mail.")
    ] = None,
    allow_images: Annotated[
        bool | None, typer.Option(help="Import scanned images (JPEG, PNG, TIFF) as documents.")
    ] = None,
    import_body: Annotated[
        bool | None,
        typer.Option(help="Import the mail body as a PDF when there is no document attachment."),
    ] = None,
    active: Annotated[bool | None, typer.Option(help="Switch the source on or off.")] = None,
) -> None:
    """Change what a source imports; options not given stay as they are."""
    changes = {
        "require_pdf": require_pdf,
        "allow_images": allow_images,
        "body_fallback": import_body,
        "active": active,
    }
    changes = {k: v for k, v in changes.items() if v is not None}
    if not changes:
        raise UserError("nothing to change; see invoice-inbox source set --help")
    a = state.open()
    with a.db.session() as s:
        src = sources_store.get(s, name)
        for key, value in changes.items():
            setattr(src, key, value)
    out.print(f'Source "{name}" updated.')


@source_app.command("remove")
def source_remove(name: str) -> None:
    """Remove a source with its ledger and runs (documents' files stay in the blob store)."""
    a = state.open()
    with a.db.session() as s:
        sources_store.remove(s, name)
    out.print(f'Source "{name}" removed.')
