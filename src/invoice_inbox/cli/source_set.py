"""``invoice-inbox source set``: change any setting ``source add`` takes, keeping the ledger.

The changes go through ``runtime.configure.update``, the one validation the web form and the
API use, so a source reads the same whichever way it was changed; its problems come back as
one sentence naming the option. The ledger, the runs and each folder's cursor stay: a folder
that is added starts its own cursor, one that is left out keeps its cursor for when it comes
back, and mail already imported is never imported again.

A change of the server (provider, protocol, host, port, security), the user name or the OAuth2
sign-in clears the stored secret unless the same command gives a new one
(``runtime.secret_scope``), and the command says so in one line. The port follows a new
security or protocol when it was that choice's standard port and none is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

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
from invoice_inbox.cli.sources import Auth, Protocol, Provider, read_env, read_password
from invoice_inbox.connectors import pop3, presets
from invoice_inbox.connectors.imap import DEFAULT_PORTS
from invoice_inbox.json_types import SourceSettings
from invoice_inbox.pipeline.senders import normalize_pattern
from invoice_inbox.runtime import configure, health, secret_scope
from invoice_inbox.runtime.context import App
from invoice_inbox.store import sources as sources_store
from invoice_inbox.store.models import Source

# configure's field → the option that sets it, to name it in a sentence
_OPTION = {
    "folders": "--folder",
    "allowed_senders": "--allow-sender",
    "password": "--password-env or --password-stdin",
    "client_secret": "--client-secret-env",
    "active": "--active",
    "trusted_authserv_ids": "--trusted-authserv-id",
}
# the settings of a source that receives mail at its company's import address
_IMPORT_ADDRESS_SETTINGS = {
    "description",
    "allowed_senders",
    "sender_auth",
    "require_pdf",
    "allow_images",
    "import_body",
    "max_failures",
}


def _option(field: str) -> str:
    return _OPTION.get(field, "--" + field.replace("_", "-"))


def _standard_port(protocol: str, security: str) -> int | None:
    if protocol == presets.POP3:
        return pop3.DEFAULT_PORTS.get(security)
    if protocol == presets.IMAP:
        return DEFAULT_PORTS.get(security)
    return None


def _follow_preset(src: Source, changes: SourceSettings) -> None:
    """Let what a new provider, protocol or security implies replace the stored server, port
    and sign-in, unless the same command names them."""
    if changes.get("provider") not in (None, src.provider):
        for field in ("host", "port", "security", "protocol", "auth"):
            changes.setdefault(field, "")  # "" takes the new provider's default
    moved = any(changes.get(f) not in (None, getattr(src, f)) for f in ("protocol", "security"))
    standard = src.port == _standard_port(src.protocol, src.security)
    if moved and changes.get("port") is None and standard:
        changes["port"] = ""  # the new choice's standard port


def _secret_line(name: str, auth: str, what: str) -> str:
    if auth == presets.PASSWORD:
        return (
            f"the stored password was cleared because {what} changed;"
            " give it with --password-env VAR or --password-stdin"
        )
    if auth == presets.APP:
        return (
            f"the stored client secret was cleared because {what} changed;"
            " give it with --client-secret-env VAR"
        )
    return (
        f"the sign-in was cleared because {what} changed; sign in again with:"
        f" invoice-inbox source authenticate {name}"
    )


@source_app.command("set")
def source_set(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The source to change.")],
    company: Annotated[
        str | None, typer.Option(metavar="NAME", help="Move it to this company (it must exist).")
    ] = None,
    description: Annotated[str | None, typer.Option(metavar="TEXT", help="A note.")] = None,
    active: Annotated[bool | None, typer.Option(help="Switch the source on or off.")] = None,
    provider: Annotated[
        Provider | None,
        typer.Option(
            metavar="NAME",
            help="microsoft365, gmail, icloud, imap or pop3; fills in what is not given.",
            rich_help_panel=CONNECTION,
        ),
    ] = None,
    protocol: Annotated[
        Protocol | None,
        typer.Option(
            metavar="NAME", help="imap, pop3, graph or gmail-api.", rich_help_panel=CONNECTION
        ),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(metavar="HOST", help="Server host name.", rich_help_panel=CONNECTION),
    ] = None,
    port: Annotated[
        str | None,
        typer.Option(
            metavar="PORT",
            help="Port; follows --security when it was the standard one.",
            rich_help_panel=CONNECTION,
        ),
    ] = None,
    security: Annotated[
        Security | None,
        typer.Option(metavar="KIND", help="ssl, starttls or none.", rich_help_panel=CONNECTION),
    ] = None,
    ca_file: Annotated[
        Path | None,
        typer.Option(
            metavar="PEM",
            help="Trust this CA certificate ('' = the system's).",
            rich_help_panel=CONNECTION,
        ),
    ] = None,
    username: Annotated[
        str | None,
        typer.Option(metavar="LOGIN", help="The mailbox login name.", rich_help_panel=CREDENTIALS),
    ] = None,
    auth: Annotated[
        Auth | None,
        typer.Option(metavar="KIND", help="password, oauth or app.", rich_help_panel=CREDENTIALS),
    ] = None,
    password_env: Annotated[
        str | None,
        typer.Option(
            metavar="VAR",
            help="A new password, from this environment variable.",
            rich_help_panel=CREDENTIALS,
        ),
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="A new password, from standard input.",
            rich_help_panel=CREDENTIALS,
        ),
    ] = False,
    tenant_id: Annotated[
        str | None,
        typer.Option(
            metavar="ID", help="Microsoft Entra tenant ID or domain.", rich_help_panel=CREDENTIALS
        ),
    ] = None,
    client_id: Annotated[
        str | None,
        typer.Option(metavar="ID", help="OAuth2 client ID.", rich_help_panel=CREDENTIALS),
    ] = None,
    client_secret_env: Annotated[
        str | None,
        typer.Option(
            metavar="VAR",
            help="A new OAuth2 client secret, from this variable.",
            rich_help_panel=CREDENTIALS,
        ),
    ] = None,
    secret_expires: Annotated[
        str | None,
        typer.Option(
            metavar="DATE",
            help="When the client secret expires (YYYY-MM-DD).",
            rich_help_panel=CREDENTIALS,
        ),
    ] = None,
    shared_mailbox: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS",
            help="Microsoft 365: read this shared mailbox.",
            rich_help_panel=CREDENTIALS,
        ),
    ] = None,
    folder: Annotated[
        list[str] | None,
        typer.Option(
            metavar="FOLDER",
            help="Read these folders, replacing the list (repeatable).",
            rich_help_panel=FOLDERS,
        ),
    ] = None,
    move_imported_to: Annotated[
        str | None,
        typer.Option(
            metavar="FOLDER",
            help="Move imported mail here ('' = leave it).",
            rich_help_panel=FOLDERS,
        ),
    ] = None,
    move_not_imported_to: Annotated[
        str | None,
        typer.Option(
            metavar="FOLDER", help="Move other mail here ('' = leave it).", rich_help_panel=FOLDERS
        ),
    ] = None,
    delete_after_import: Annotated[
        bool | None,
        typer.Option(
            help="POP3: delete mail once its documents are stored.", rich_help_panel=FOLDERS
        ),
    ] = None,
    unread_only: Annotated[
        bool | None,
        typer.Option(help="Only unread mail; mark handled mail read.", rich_help_panel=FILTERS),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            metavar="DATE", help="Only mail from this date on ('' = all).", rich_help_panel=FILTERS
        ),
    ] = None,
    allow_sender: Annotated[
        list[str] | None,
        typer.Option(
            metavar="PATTERN",
            help="Allowed senders, replacing the list (repeatable; '' = everyone).",
            rich_help_panel=FILTERS,
        ),
    ] = None,
    sender_auth: opts.SenderAuthOpt = None,
    trusted_authserv_id: opts.AuthservIdOpt = None,
    require_pdf: Annotated[
        bool | None,
        typer.Option(help="Only PDF attachments make an invoice mail.", rich_help_panel=FILTERS),
    ] = None,
    allow_images: Annotated[
        bool | None,
        typer.Option(help="Import scanned images as documents.", rich_help_panel=FILTERS),
    ] = None,
    import_body: Annotated[
        bool | None,
        typer.Option(
            help="Import the body as a PDF when there is no document.", rich_help_panel=FILTERS
        ),
    ] = None,
    schedule: Annotated[
        str | None,
        typer.Option(
            metavar="WHEN",
            help='"every 30m", "at 05:00 Europe/Warsaw" or "manual".',
            rich_help_panel=SCHEDULE,
        ),
    ] = None,
    instant: Annotated[
        bool | None,
        typer.Option(help="IMAP: fetch new mail within seconds.", rich_help_panel=SCHEDULE),
    ] = None,
    max_failures: Annotated[
        str | None,
        typer.Option(
            metavar="N",
            help="Switch off after this many failed runs in a row.",
            rich_help_panel=SCHEDULE,
        ),
    ] = None,
) -> None:
    """Change a source; what is not given stays as it is, and so do its ledger and cursors."""
    changes: SourceSettings = {
        "company": company,
        "description": description,
        "provider": provider.value if provider else None,
        "protocol": protocol.value if protocol else None,
        "auth": auth.value if auth else None,
        "host": host,
        "port": port,
        "security": security.value if security else None,
        "username": username,
        "tenant_id": tenant_id,
        "client_id": client_id,
        "secret_expires": secret_expires,
        "shared_mailbox": shared_mailbox,
        "folders": [f for f in folder if f.strip()] if folder is not None else None,
        "move_imported_to": move_imported_to,
        "move_not_imported_to": move_not_imported_to,
        "unread_only": unread_only,
        "since": since,
        "allowed_senders": [p for p in allow_sender if p.strip()] if allow_sender else None,
        "sender_auth": opts.parse_sender_auth(sender_auth),
        "trusted_authserv_ids": opts.parse_authserv_ids(trusted_authserv_id),
        "require_pdf": require_pdf,
        "allow_images": allow_images,
        "import_body": import_body,
        "delete_after_import": delete_after_import,
        "schedule": schedule,
        "instant": instant,
        "max_failures": max_failures,
    }
    changes = {k: v for k, v in changes.items() if v is not None}
    if ca_file is not None and str(ca_file) not in ("", ".") and not ca_file.is_file():
        raise UserError(f"the CA file {ca_file} does not exist")
    new_ca = (
        None
        if ca_file is None
        else (str(ca_file.resolve()) if str(ca_file) not in ("", ".") else "")
    )
    new_secret = read_env(client_secret_env) if client_secret_env else None
    new_password = (
        read_password(password_env, password_stdin) if password_env or password_stdin else None
    )
    if (
        not changes
        and new_ca is None
        and new_secret is None
        and new_password is None
        and active is None
    ):
        raise UserError("nothing to change; see invoice-inbox source set --help")
    a = state.open()
    with a.db.session() as s:
        src = sources_store.get(s, name)
        if company is not None:
            sources_store.company(s, company)  # an unknown company is a mistake, not a new one
        cleared = _apply(a, s, src, changes, new_password, new_secret, active)
        if new_ca is not None:
            src.ca_file = new_ca or None
        warnings = [w for w in configure.warnings(src) if w != secret_scope.cleared(src)]
    out.print(f'Source "{name}" updated.')
    if cleared:
        warn(cleared)
    for w in warnings:
        warn(w)


def _invalid(exc: configure.Invalid) -> UserError:
    return UserError("; ".join(f"{_option(f)}: {why}" for f, why in exc.errors.items()))


def _apply(
    a: App,
    s: Session,
    src: Source,
    changes: SourceSettings,
    new_password: str | None,
    new_secret: str | None,
    active: bool | None,
) -> str | None:
    """Change *src* through configure; the line saying which stored secret was cleared."""
    if new_password is not None:
        if (changes.get("auth") or src.auth) != presets.PASSWORD:
            raise UserError(f'source "{src.name}" signs in with OAuth2, not a password')
        changes["password"] = new_password
    if new_secret is not None:
        if (changes.get("auth") or src.auth) == presets.PASSWORD:
            raise UserError(f'source "{src.name}" signs in with a password, not a client secret')
        changes["client_secret"] = new_secret
    cleared = None
    if src.protocol == "smtp":
        _set_import_address(src, changes)
    else:
        _follow_preset(src, changes)
        before = configure.current(src)
        try:
            configure.update(a, s, src, changes)
        except configure.Invalid as exc:
            raise _invalid(exc) from None
        what = secret_scope.changed(before, configure.current(src))
        if what is not None and secret_scope.cleared(src):
            cleared = _secret_line(src.name, src.auth, what)
    if active:
        health.reactivate(src)  # also a clean slate for a source that was already on
    elif active is False:
        src.active = False
    return cleared


def _set_import_address(src: Source, changes: SourceSettings) -> None:
    """The few settings of a company's import-address source (it has no server)."""
    other = sorted(set(changes) - _IMPORT_ADDRESS_SETTINGS)
    if other:
        raise UserError(
            f'source "{src.name}" receives mail at its company\'s import address;'
            f" {_option(other[0])} is not a setting of it"
        )
    if "allowed_senders" in changes:
        changes["allowed_senders"] = [normalize_pattern(p) for p in changes["allowed_senders"]]
    if "max_failures" in changes:
        text = str(changes["max_failures"])
        if not text.isdigit() or not 1 <= int(text) <= 1000:
            raise UserError(f"--max-failures must be a whole number from 1 to 1000, not {text!r}")
        changes["max_failures"] = int(text)
    for key, value in changes.items():
        setattr(src, "body_fallback" if key == "import_body" else key, value)
