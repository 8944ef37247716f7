"""``invoice-inbox source ...``: connect, list, check, change and remove mailboxes."""

from __future__ import annotations

import os
import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from invoice_inbox.auth.expiry import secret_expiry_warning
from invoice_inbox.cli.base import (
    CONNECTION,
    CREDENTIALS,
    FILTERS,
    FOLDERS,
    SCHEDULE,
    JsonOpt,
    Security,
    UserError,
    out,
    print_json,
    source_app,
    state,
    warn,
)
from invoice_inbox.cli.rules import rule_json
from invoice_inbox.connectors import pop3, presets
from invoice_inbox.connectors.imap import DEFAULT_PORTS
from invoice_inbox.pipeline.senders import normalize_pattern
from invoice_inbox.runtime import configure, connection_check, health, schedules
from invoice_inbox.store import companies as company_store
from invoice_inbox.store import sources as sources_store
from invoice_inbox.store.models import AuthState, Company, Source

source_warnings = configure.warnings  # what a person should know before a source stops working


def _schedule(text: str) -> str:
    try:
        return schedules.format(schedules.parse(text))
    except schedules.ScheduleError as exc:
        raise UserError(str(exc)) from None


def read_password(password_env: str | None, password_stdin: bool) -> str:
    if bool(password_env) == password_stdin:
        raise UserError(
            "give the password with exactly one of --password-env VAR or --password-stdin"
        )
    if password_env:
        return read_env(password_env)
    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise UserError("no password was given on standard input")
    return value


def _parse_date(option: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{option} must be a date like 2026-01-31, not {value!r}") from None


def read_env(var: str) -> str:
    value = os.environ.get(var)
    if not value:
        raise UserError(f"the environment variable {var} is not set or empty")
    return value


class Provider(StrEnum):
    microsoft365 = "microsoft365"
    gmail = "gmail"
    icloud = "icloud"
    imap = "imap"
    pop3 = "pop3"


class Protocol(StrEnum):
    imap = "imap"
    graph = "graph"
    gmail_api = "gmail-api"
    pop3 = "pop3"


class Auth(StrEnum):
    password = "password"
    oauth = "oauth"
    app = "app"


def _sign_in_fields(
    preset: presets.Preset,
    protocol: str,
    auth: str,
    *,
    tenant_id: str | None,
    client_id: str | None,
    client_secret_env: str | None,
    shared_mailbox: str | None,
) -> dict[str, Any]:
    """Check that the provider offers this protocol and sign-in, and what it needs."""
    if protocol not in preset.protocols:
        offered = " or ".join(preset.protocols)
        raise UserError(f"{preset.label} is reached with --protocol {offered}, not {protocol}")
    if auth not in preset.auths:
        offered = " or ".join(preset.auths)
        raise UserError(f"{preset.label} signs in with --auth {offered}, not {auth}")
    if auth == presets.PASSWORD and protocol not in (presets.IMAP, presets.POP3):
        raise UserError(f"the {protocol} protocol needs OAuth2: use --auth oauth or --auth app")
    if shared_mailbox and preset.oauth != "microsoft":
        raise UserError("--shared-mailbox is for Microsoft 365 sources")
    if auth == presets.PASSWORD:
        for given, flag in ((tenant_id, "--tenant-id"), (client_id, "--client-id")):
            if given:
                raise UserError(f"{flag} is for OAuth2 sign-in (--auth oauth or --auth app)")
        return {}
    if not client_id:
        raise UserError(f"--auth {auth} needs --client-id (the app registration's client ID)")
    needs_secret = auth == presets.APP or preset.oauth == "google"
    if needs_secret and not client_secret_env:
        raise UserError(f"--auth {auth} with {preset.label} needs --client-secret-env VAR")
    if auth == presets.APP and not tenant_id:
        raise UserError("--auth app needs --tenant-id (the directory (tenant) ID)")
    return {
        "tenant_id": tenant_id if preset.oauth == "microsoft" else None,
        "client_id": client_id,
        "client_secret": (read_env(client_secret_env) if client_secret_env else None),
    }


@source_app.command("add")
def source_add(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="A name for this mailbox connection.")
    ],
    company: Annotated[
        str, typer.Option(metavar="NAME", help="The company whose invoices these are.")
    ],
    username: Annotated[
        str,
        typer.Option(
            metavar="LOGIN",
            rich_help_panel=CREDENTIALS,
            help="The mailbox address / login name (user@domain\\shared for Exchange shared"
            " mailboxes over IMAP with a password).",
        ),
    ],
    provider: Annotated[
        Provider,
        typer.Option(
            metavar="PROVIDER",
            rich_help_panel=CONNECTION,
            help="Fills in the server: microsoft365, gmail, icloud, imap.",
        ),
    ] = Provider.imap,
    protocol: Annotated[
        Protocol | None,
        typer.Option(
            metavar="PROTOCOL",
            rich_help_panel=CONNECTION,
            help="imap, graph (Microsoft 365) or gmail-api; default by provider.",
        ),
    ] = None,
    auth: Annotated[
        Auth | None,
        typer.Option(
            metavar="KIND",
            rich_help_panel=CREDENTIALS,
            help="password (also app passwords), oauth (a user signs in) or app (Microsoft"
            " app-only: tenant, client ID and secret); default by provider.",
        ),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(
            metavar="HOST",
            rich_help_panel=CONNECTION,
            help="IMAP server host name (given by the provider preset).",
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            metavar="PORT", rich_help_panel=CONNECTION, help="Port (993 for ssl, 143 otherwise)."
        ),
    ] = None,
    security: Annotated[
        Security | None,
        typer.Option(metavar="SECURITY", rich_help_panel=CONNECTION, help="ssl, starttls or none."),
    ] = None,
    ca_file: Annotated[
        Path | None,
        typer.Option(
            metavar="PEM", rich_help_panel=CONNECTION, help="Trust this CA certificate (PEM)."
        ),
    ] = None,
    password_env: Annotated[
        str | None,
        typer.Option(
            metavar="VAR",
            rich_help_panel=CREDENTIALS,
            help="Read the password from this environment variable.",
        ),
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            rich_help_panel=CREDENTIALS,
            help="Read the password from standard input.",
        ),
    ] = False,
    tenant_id: Annotated[
        str | None,
        typer.Option(
            metavar="ID",
            rich_help_panel=CREDENTIALS,
            help="Microsoft Entra directory (tenant) ID or domain.",
        ),
    ] = None,
    client_id: Annotated[
        str | None,
        typer.Option(
            metavar="ID",
            rich_help_panel=CREDENTIALS,
            help="OAuth2 client (application) ID of your app registration.",
        ),
    ] = None,
    client_secret_env: Annotated[
        str | None,
        typer.Option(
            metavar="VAR",
            rich_help_panel=CREDENTIALS,
            help="Read the OAuth2 client secret from this variable.",
        ),
    ] = None,
    secret_expires: Annotated[
        str | None,
        typer.Option(
            metavar="DATE",
            rich_help_panel=CREDENTIALS,
            help="When the client secret expires (YYYY-MM-DD); warns 30 days before.",
        ),
    ] = None,
    shared_mailbox: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS",
            rich_help_panel=CREDENTIALS,
            help="Microsoft 365: read this shared mailbox (its address).",
        ),
    ] = None,
    folder: Annotated[
        list[str] | None,
        typer.Option(
            metavar="FOLDER",
            rich_help_panel=FOLDERS,
            help="Folder to read from (repeatable; default INBOX).",
        ),
    ] = None,
    move_imported_to: Annotated[
        str | None,
        typer.Option(
            metavar="FOLDER",
            rich_help_panel=FOLDERS,
            help="Move imported mail here ({year} allowed).",
        ),
    ] = None,
    move_not_imported_to: Annotated[
        str | None,
        typer.Option(
            metavar="FOLDER", rich_help_panel=FOLDERS, help="Move other mail here ({year} allowed)."
        ),
    ] = None,
    unread_only: Annotated[
        bool,
        typer.Option(
            "--unread-only",
            rich_help_panel=FILTERS,
            help="Only unread mail; mark handled mail read.",
        ),
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(
            metavar="DATE",
            rich_help_panel=FILTERS,
            help="Only mail from this date on (YYYY-MM-DD).",
        ),
    ] = None,
    allow_sender: Annotated[
        list[str] | None,
        typer.Option(
            metavar="PATTERN",
            rich_help_panel=FILTERS,
            help="Allowed sender: address or *@domain (repeatable).",
        ),
    ] = None,
    require_pdf: Annotated[
        bool,
        typer.Option(rich_help_panel=FILTERS, help="Only PDF attachments make an invoice mail."),
    ] = True,
    allow_images: Annotated[
        bool,
        typer.Option(
            "--allow-images",
            rich_help_panel=FILTERS,
            help="Import scanned images (JPEG, PNG, TIFF) as documents.",
        ),
    ] = False,
    import_body: Annotated[
        bool,
        typer.Option(
            "--import-body",
            rich_help_panel=FILTERS,
            help="Import the mail body as a PDF when there is no document attachment.",
        ),
    ] = False,
    delete_after_import: Annotated[
        bool,
        typer.Option(
            "--delete-after-import",
            rich_help_panel=FOLDERS,
            help="POP3: delete mail from the server once its documents are stored.",
        ),
    ] = False,
    schedule: Annotated[
        str,
        typer.Option(
            metavar="WHEN",
            rich_help_panel=SCHEDULE,
            help='When to fetch: "every 30m", "at 05:00,12:00 Europe/Warsaw" or "manual".',
        ),
    ] = "every 60m",
    instant: Annotated[
        bool,
        typer.Option(
            "--instant",
            rich_help_panel=SCHEDULE,
            help="IMAP: fetch new mail within seconds (IDLE), not only on schedule.",
        ),
    ] = False,
    max_failures: Annotated[
        int,
        typer.Option(
            metavar="N",
            rich_help_panel=SCHEDULE,
            help="Switch the source off after this many failed runs in a row.",
        ),
    ] = 5,
    description: Annotated[str, typer.Option(metavar="TEXT", help="A note for people.")] = "",
    inactive: Annotated[
        bool, typer.Option("--inactive", rich_help_panel=SCHEDULE, help="Add it switched off.")
    ] = False,
    draft: Annotated[
        bool,
        typer.Option(
            "--draft",
            rich_help_panel=SCHEDULE,
            help="Add it not started: not fetched on its schedule until `source activate"
            " NAME` (fetch NAME works at once).",
        ),
    ] = False,
    create_company: Annotated[
        bool,
        typer.Option(
            "--create-company",
            help="Create --company when it does not exist (the first one always is).",
        ),
    ] = False,
) -> None:
    """Connect a mailbox as a source (a new company only with --create-company)."""
    preset = presets.PRESETS[provider.value]
    chosen_auth = auth.value if auth else preset.auths[0]
    chosen_protocol = protocol.value if protocol else preset.default_protocol(chosen_auth)
    oauth_fields = _sign_in_fields(
        preset,
        chosen_protocol,
        chosen_auth,
        tenant_id=tenant_id,
        client_id=client_id,
        client_secret_env=client_secret_env,
        shared_mailbox=shared_mailbox,
    )
    is_pop3 = chosen_protocol == presets.POP3
    if is_pop3:
        _check_pop3(folder, move_imported_to, move_not_imported_to, unread_only)
    elif delete_after_import:
        raise UserError("--delete-after-import is for POP3 sources; IMAP sources move mail")
    if instant and chosen_protocol != presets.IMAP:
        raise UserError("--instant needs IMAP (IDLE); this source is read over " + chosen_protocol)
    if max_failures < 1:
        raise UserError("--max-failures must be at least 1")
    chosen_schedule = _schedule(schedule)
    if chosen_auth == presets.PASSWORD:
        password: str | None = read_password(password_env, password_stdin)
    elif password_env or password_stdin:
        raise UserError(f"--auth {chosen_auth} signs in without a password; leave out --password-*")
    else:
        password = None
    server = host or (preset.pop3_host if is_pop3 and preset.pop3_host else preset.host)
    if server is None:
        raise UserError(f"--host is needed for a generic {'POP3' if is_pop3 else 'IMAP'} server")
    sec = security.value if security else preset.security
    ports = pop3.DEFAULT_PORTS if is_pop3 else DEFAULT_PORTS
    default_port = 995 if is_pop3 and sec == "ssl" else preset.port
    since_date = _parse_date("--since", since)
    expires = _parse_date("--secret-expires", secret_expires)
    patterns = [normalize_pattern(p) for p in allow_sender or []]
    if ca_file is not None and not ca_file.is_file():
        raise UserError(f"the CA file {ca_file} does not exist")
    a = state.open(create=True)  # the first source may start a new data directory
    secret = oauth_fields.pop("client_secret", None)
    with a.db.session() as s:
        if s.scalar(select(Source.id).where(Source.name == name)) is None:  # else: add says so
            _company_known(s, company, create_company)
        sources_store.add(
            s,
            name=name,
            company_name=company,
            description=description,
            active=not (inactive or draft),
            draft=draft,
            provider=preset.name,
            protocol=chosen_protocol,
            auth=chosen_auth,
            host=server,
            port=port or (default_port if sec == preset.security else ports[sec]),
            security=sec,
            ca_file=str(ca_file.resolve()) if ca_file else None,
            username=username,
            secret=a.secrets.encrypt(password) if password is not None else None,
            client_secret=a.secrets.encrypt(secret) if secret else None,
            secret_expires=expires,
            shared_mailbox=shared_mailbox,
            auth_state=(
                AuthState.NEEDS_AUTHENTICATION if chosen_auth == presets.OAUTH else AuthState.OK
            ),
            folders=list(folder or ["INBOX"]),
            move_imported_to=move_imported_to,
            move_not_imported_to=move_not_imported_to,
            unread_only=unread_only,
            since=since_date,
            allowed_senders=patterns,
            require_pdf=require_pdf,
            allow_images=allow_images,
            body_fallback=import_body,
            delete_after_import=delete_after_import,
            schedule=chosen_schedule,
            instant=instant,
            max_failures=max_failures,
            **oauth_fields,
        )
    if preset.oauth == "microsoft" and chosen_auth == presets.PASSWORD:
        warn(presets.MICROSOFT_PASSWORD_WARNING)
    if (w := secret_expiry_warning(expires, date.today())) is not None:
        warn(w.replace("NAME", name))
    out.print(f'Source "{name}" added.')
    if chosen_auth == presets.OAUTH:
        out.print(f"Sign in to the mailbox with: invoice-inbox source authenticate {name}")
    elif chosen_auth == presets.APP:
        out.print(
            "An administrator of the tenant must consent once; the link is printed by:"
            f" invoice-inbox source consent-url {name}"
        )
    out.print(f"Check it with: invoice-inbox source check {name}")


def _company_known(s: Session, name: str, create: bool) -> None:
    """A new company is made only when asked for (or confirmed on a terminal), so a typo does
    not make "ACME GmbH." next to "ACME GmbH"; the very first company is simply made."""
    if s.scalar(select(Company.id).where(Company.name == name)) is not None:
        return
    if create or s.scalar(select(Company.id).limit(1)) is None:
        out.print(f'Company "{name}" created.')
        return
    close = company_store.closest_name(s, name)
    hint = f'; did you mean "{close}"?' if close else ";"
    on_terminal = sys.stdin.isatty() and sys.stdout.isatty()
    if on_terminal and typer.confirm(f'There is no company "{name}"{hint} create it?'):
        out.print(f'Company "{name}" created.')
        return
    raise UserError(f'no company "{name}"{hint} add --create-company to create it')


def _check_pop3(
    folders: list[str] | None, imported: str | None, not_imported: str | None, unread: bool
) -> None:
    if folders and [f.casefold() for f in folders] != ["inbox"]:
        raise UserError("a POP3 mailbox has only the inbox; leave out --folder")
    if imported or not_imported:
        raise UserError(
            "POP3 has no folders to move mail to; keep it on the server (default) or use"
            " --delete-after-import"
        )
    if unread:
        raise UserError("POP3 has no read/unread flags; leave out --unread-only")


def _source_json(src: Source) -> dict[str, Any]:
    return {
        "name": src.name,
        "company": src.company.name,
        "description": src.description,
        "active": src.active,
        "provider": src.provider,
        "protocol": src.protocol,
        "auth": src.auth,
        "auth_state": src.auth_state,
        "auth_error": src.auth_error,
        "warnings": source_warnings(src),
        "host": src.host,
        "port": src.port,
        "security": src.security,
        "ca_file": src.ca_file,
        "username": src.username,
        "shared_mailbox": src.shared_mailbox,
        "tenant_id": src.tenant_id,
        "client_id": src.client_id,
        "client_secret_set": src.client_secret is not None,
        "secret_expires": src.secret_expires.isoformat() if src.secret_expires else None,
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
        "delete_after_import": src.delete_after_import,
        "schedule": src.schedule,
        "instant": src.instant,
        "next_run_at": src.next_run_at.isoformat() if src.next_run_at else None,
        "failures": src.failures,
        "max_failures": src.max_failures,
        "failing_since": src.failing_since.isoformat() if src.failing_since else None,
        "last_error": src.last_error,
        "inactive_reason": src.inactive_reason,
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
    t = Table("name", "company", "active", "connection", "mailbox", "folders", "state")
    for r in rows:
        t.add_row(
            r["name"],
            r["company"],
            "yes" if r["active"] else "no",
            _connection(r),
            r["shared_mailbox"] or r["username"],
            ", ".join(r["folders"]),
            r["auth_state"].replace("_", " ") + ("; warning" if r["warnings"] else ""),
        )
    out.print(t)
    for r in rows:
        for w in r["warnings"]:
            warn(f'source "{r["name"]}": {w}')


def _connection(r: dict[str, Any]) -> str:
    if r["protocol"] == presets.GRAPH:
        return f"Microsoft Graph ({r['auth']})"
    if r["protocol"] == presets.GMAIL_API:
        return f"Gmail API ({r['auth']})"
    if r["protocol"] == "smtp":
        return "central import address"
    if r["protocol"] == presets.POP3:
        return f"POP3 {r['host']}:{r['port']} ({r['security']}, {r['auth']})"
    return f"{r['host']}:{r['port']} ({r['security']}, {r['auth']})"


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
    with a.db.session() as s:
        src = sources_store.get(s, name)
        wanted = list(src.folders)
        warnings = source_warnings(src)
    folders = connection_check.saved(a, name)
    known = {f.casefold() for f in folders}
    missing = [f for f in wanted if f not in folders and f.casefold() not in known]
    for w in warnings:
        warn(w)
    if as_json:
        print_json({"ok": not missing, "folders": folders, "missing": missing})
    else:
        out.print(f"Connected and logged in. Folders: {', '.join(folders)}")
    if missing:
        raise UserError(f'folder "{missing[0]}" does not exist; folders are: {", ".join(folders)}')


@source_app.command("activate")
def source_activate(name: str) -> None:
    """Switch a source on again; its count of failed runs starts from zero."""
    a = state.open()
    with a.db.session() as s:
        health.reactivate(sources_store.get(s, name))
    out.print(f'Source "{name}" is active; it runs at its next scheduled time.')


@source_app.command("schedule")
def source_schedule(
    name: str,
    schedule: Annotated[
        str,
        typer.Argument(help='"every 30m", "at 05:00,12:00,14:00 Europe/Warsaw" or "manual".'),
    ],
) -> None:
    """Set when a source is fetched."""
    text = _schedule(schedule)
    a = state.open()
    with a.db.session() as s:
        src = sources_store.get(s, name)
        if src.protocol == "smtp":
            raise UserError(f'source "{name}" receives mail as it arrives; it has no schedule')
        src.schedule, src.next_run_at = text, None
    out.print(
        f'Source "{name}" is fetched {text}.'
        if text != "manual"
        else f'Source "{name}" is fetched only when asked (invoice-inbox fetch {name}).'
    )


class OnOff(StrEnum):
    on = "on"
    off = "off"


@source_app.command("instant")
def source_instant(name: str, switch: Annotated[OnOff, typer.Argument()]) -> None:
    """Fetch new mail within seconds of its arrival (IMAP IDLE), besides the schedule."""
    a = state.open()
    with a.db.session() as s:
        src = sources_store.get(s, name)
        if switch == OnOff.on and src.protocol != presets.IMAP:
            raise UserError(f"instant pickup needs IMAP (IDLE); {name} is read over {src.protocol}")
        src.instant = switch == OnOff.on
    out.print(
        f'Instant pickup for "{name}" is {switch.value}; '
        "a running serve picks this up within a minute."
    )


@source_app.command("remove")
def source_remove(name: str) -> None:
    """Remove a source with its ledger and runs (documents' files stay in the blob store)."""
    a = state.open()
    with a.db.session() as s:
        sources_store.remove(s, name)
    out.print(f'Source "{name}" removed.')
