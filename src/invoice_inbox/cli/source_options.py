"""What ``source add`` and ``source set`` both read: provider, protocol and sign-in choices,
passwords and secrets from the environment or standard input, dates and schedules."""

from __future__ import annotations

import os
import sys
from datetime import date
from enum import StrEnum
from typing import Annotated, NoReturn

import typer

from invoice_inbox.cli.base import UserError, err
from invoice_inbox.connectors import presets
from invoice_inbox.json_types import JsonObject
from invoice_inbox.runtime import schedules, source_trust


def refuse_value(sentence: str) -> NoReturn:
    """A wrong value of an option: one sentence on stderr and exit status 2 (a usage error)."""
    err.print(f"error: {sentence}", highlight=False, markup=False, soft_wrap=True)
    raise typer.Exit(2)


def parse_sender_auth(value: str | None) -> str | None:
    """--sender-auth: off, flag or require (None: not given)."""
    if value is None:
        return None
    try:
        return source_trust.mode(value)
    except source_trust.BadSetting as exc:
        refuse_value(f"--sender-auth: {exc}")


# --trusted-authserv-id takes this word to go back to the provider preset's list
PRESET_IDS = "preset"


def parse_authserv_ids(values: list[str] | None) -> list[str] | str | None:
    """--trusted-authserv-id (repeatable): the list, as ``configure`` takes it: "" for the
    preset's list again ('preset'), [] to trust none (''), None when not given."""
    if values is None:
        return None
    if [v.strip().lower() for v in values] == [PRESET_IDS]:
        return ""
    try:
        return source_trust.authserv_ids([v for v in values if v.strip()]) or []
    except source_trust.BadSetting as exc:
        refuse_value(f"--trusted-authserv-id: {exc}")


def parse_schedule(text: str) -> str:
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


def parse_date(option: str, value: str | None) -> date | None:
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


def sign_in_fields(
    preset: presets.Preset,
    protocol: str,
    auth: str,
    *,
    tenant_id: str | None,
    client_id: str | None,
    client_secret_env: str | None,
    shared_mailbox: str | None,
) -> JsonObject:
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


SenderAuthOpt = Annotated[
    str | None,
    typer.Option(
        metavar="MODE",
        rich_help_panel="Filters",
        help="Sender authentication (DKIM, SPF, DMARC): off (record it only), flag (default:"
        " import, flag unauthenticated senders) or require (import only authenticated ones).",
    ),
]
AuthservIdOpt = Annotated[
    list[str] | None,
    typer.Option(
        metavar="ID",
        rich_help_panel="Filters",
        help="Believe Authentication-Results from this server (repeatable; 'preset' = the"
        " provider's own list, the default; '' = none).",
    ),
]
