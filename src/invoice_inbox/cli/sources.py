"""``invoice-inbox source ...``: list, show, check, schedule, switch and remove mailboxes.

``source add`` is in ``cli.source_add`` (imported first here so it heads the command list),
``source set`` in ``cli.source_set``; the choices both read are in ``cli.source_options``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

# registers `source add` before the commands below, keeping the order of `source --help`
from invoice_inbox.cli import source_add  # noqa: F401
from invoice_inbox.cli.base import JsonOpt, UserError, out, print_json, source_app, state, warn
from invoice_inbox.cli.rules import rule_json
from invoice_inbox.cli.source_options import (  # re-exported for cli.source_set
    Auth,
    Protocol,
    Provider,
    parse_schedule,
    read_env,
    read_password,
)
from invoice_inbox.connectors import presets
from invoice_inbox.json_types import JsonObject
from invoice_inbox.runtime import configure, connection_check, health, source_trust
from invoice_inbox.store import sources as sources_store
from invoice_inbox.store.models import Source

__all__ = ["Auth", "Protocol", "Provider", "read_env", "read_password"]

source_warnings = configure.warnings  # what a person should know before a source stops working


def _source_json(src: Source) -> JsonObject:
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
        "sender_auth": src.sender_auth,
        "trusted_authserv_ids": (  # null: the preset's
            None if src.trusted_authserv_ids is None else list(src.trusted_authserv_ids)
        ),
        "preset_authserv_ids": source_trust.preset_authserv_ids(src.provider),
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


def _connection(r: JsonObject) -> str:
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
    """Connect, log in and list the folders; check the source's folders and that mail can be
    filed to its move targets."""
    a = state.open()
    with a.db.session() as s:
        warnings = source_warnings(sources_store.get(s, name))
    checked = connection_check.source(a, name)
    folders, missing = checked.folders, checked.missing
    for w in warnings:
        warn(w)
    if as_json:
        print_json(
            {"ok": checked.ok, "folders": folders, "missing": missing, "problems": checked.problems}
        )
    else:
        out.print(f"Connected and logged in. Folders: {', '.join(folders)}")
    if missing:
        raise UserError(f'folder "{missing[0]}" does not exist; folders are: {", ".join(folders)}')
    for problem in checked.problems[:-1]:
        warn(problem)
    if checked.problems:
        raise UserError(checked.problems[-1])


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
    text = parse_schedule(schedule)
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
