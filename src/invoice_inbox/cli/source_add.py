"""``invoice-inbox source add``: connect a mailbox as a source, with its many options grouped
in help panels (connection, credentials, folders, filters, schedule)."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from invoice_inbox.auth.expiry import secret_expiry_warning
from invoice_inbox.cli import source_options as opts
from invoice_inbox.cli.base import (
    CONNECTION,
    CREDENTIALS,
    FILTERS,
    FOLDERS,
    SCHEDULE,
    Security,
    UserError,
    out,
    source_app,
    state,
    warn,
)
from invoice_inbox.cli.source_options import (
    Auth,
    Protocol,
    Provider,
    parse_date,
    parse_schedule,
    read_password,
    sign_in_fields,
)
from invoice_inbox.connectors import pop3, presets
from invoice_inbox.connectors.imap import DEFAULT_PORTS
from invoice_inbox.pipeline.senders import normalize_pattern
from invoice_inbox.store import companies as company_store
from invoice_inbox.store import sources as sources_store
from invoice_inbox.store.models import AuthState, Company, Source


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
    sender_auth: opts.SenderAuthOpt = None,
    trusted_authserv_id: opts.AuthservIdOpt = None,
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
    mode = opts.parse_sender_auth(sender_auth) or "flag"
    ids = opts.parse_authserv_ids(trusted_authserv_id)  # "" as None: the preset's
    authserv_ids = ids if isinstance(ids, list) else None
    chosen_auth = auth.value if auth else preset.auths[0]
    chosen_protocol = protocol.value if protocol else preset.default_protocol(chosen_auth)
    oauth_fields = sign_in_fields(
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
    chosen_schedule = parse_schedule(schedule)
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
    since_date = parse_date("--since", since)
    expires = parse_date("--secret-expires", secret_expires)
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
            sender_auth=mode,
            trusted_authserv_ids=authserv_ids,
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
