"""What ``source add`` and ``source set`` both read: provider, protocol and sign-in choices,
passwords and secrets from the environment or standard input, dates and schedules."""

from __future__ import annotations

import os
import sys
from datetime import date
from enum import StrEnum
from typing import Any

from invoice_inbox.cli.base import UserError
from invoice_inbox.connectors import presets
from invoice_inbox.runtime import schedules


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
