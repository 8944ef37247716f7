"""The ``invoice-inbox`` command line: thin commands over store, runtime and pipeline.

A user's mistake (an unknown source, a wrong password, an unreachable server) prints one plain
sentence to stderr and exits non-zero; tracebacks are for bugs only.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy import select
from typer.core import TyperGroup

from invoice_inbox.auth.secrets import SecretError
from invoice_inbox.connectors.errors import ConnectorError
from invoice_inbox.connectors.imap import DEFAULT_PORTS
from invoice_inbox.delivery.export import export
from invoice_inbox.pipeline.decide import Document, Policy, decide
from invoice_inbox.pipeline.rules import InvalidRule, Rule
from invoice_inbox.pipeline.senders import InvalidPattern, normalize_pattern
from invoice_inbox.pipeline.wrap import is_document_file, wrap_in_mail
from invoice_inbox.runtime import lease, runner, scheduler
from invoice_inbox.runtime.context import App, resolve_data_dir
from invoice_inbox.runtime.sync import RunSummary, SourcePlan
from invoice_inbox.store import documents as documents_store
from invoice_inbox.store import rules as rules_store
from invoice_inbox.store import sources as sources_store
from invoice_inbox.store.errors import StoreError
from invoice_inbox.store.models import ImportRule, Message, Run, Source


class UserError(Exception):
    """A mistake the user can fix; printed as one sentence."""


# The errors a user can cause or fix: printed as one sentence, exit status 1.
USER_ERRORS = (
    UserError,
    StoreError,
    ConnectorError,
    lease.SourceBusy,
    InvalidPattern,
    InvalidRule,
    SecretError,
)


class _Group(TyperGroup):
    """Turns user errors from any command into one line on stderr and exit status 1."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except USER_ERRORS as exc:
            msg = f"source {exc}" if isinstance(exc, lease.SourceBusy) else str(exc)
            err.print(f"error: {msg}", highlight=False, markup=False, soft_wrap=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_Group,
    name="invoice-inbox",
    help="Get supplier invoices out of e-mail and into accounts payable, exactly once.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
source_app = typer.Typer(help="Connect and manage mailboxes (sources).", no_args_is_help=True)
documents_app = typer.Typer(help="The documents queue.", no_args_is_help=True)
app.add_typer(source_app, name="source")
rule_app = typer.Typer(
    help="Import rules: per source, in order, the first match says what to do with a mail.",
    no_args_is_help=True,
)
app.add_typer(documents_app, name="documents")
app.add_typer(rule_app, name="rule")

# Piped output is for programs and logs: no wrapping at 80 columns.
out = Console(width=None if sys.stdout.isatty() else 250, soft_wrap=not sys.stdout.isatty())
err = Console(stderr=True, width=None if sys.stderr.isatty() else 250)


class Security(StrEnum):
    ssl = "ssl"
    starttls = "starttls"
    none = "none"


class _State:
    data_dir: Path | None = None
    _app: App | None = None

    def open(self) -> App:
        if self._app is None:
            self._app = App.open(resolve_data_dir(self.data_dir))
        return self._app


state = _State()

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@app.callback()
def _global(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Where the database and files live (env INVOICE_INBOX_HOME; "
            "default ./invoice-inbox-data).",
        ),
    ] = None,
) -> None:
    if state._app is not None:  # a new invocation in the same process (tests)
        state._app.close()
        state._app = None
    state.data_dir = data_dir


def _print_json(value: Any) -> None:
    out.file.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def _iso(d: datetime | None) -> str | None:
    return d.isoformat() if d else None


# -- sources ------------------------------------------------------------------------------


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
        "rules": [_rule_json(r) for r in src.rules],
    }


def _rule_json(r: ImportRule) -> dict[str, Any]:
    return {"name": r.name, "sender": r.sender, "keyword": r.keyword, "action": r.action}


@source_app.command("list")
def source_list(as_json: JsonOpt = False) -> None:
    """List the sources."""
    a = state.open()
    with a.db.session() as s:
        rows = [_source_json(src) for src in sources_store.all_sources(s)]
    if as_json:
        _print_json(rows)
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
        _print_json(info)
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
        _print_json({"ok": not missing, "folders": folders, "missing": missing})
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


# -- rules --------------------------------------------------------------------------------


class RuleAction(StrEnum):
    attachments = "attachments"
    body = "body"
    skip = "skip"


@rule_app.command("add")
def rule_add(
    source: str,
    name: str,
    sender: Annotated[str, typer.Option(help="The sender it matches: address or *@domain.")],
    keyword: Annotated[
        str | None, typer.Option(help="Text that must also appear in the subject or body.")
    ] = None,
    action: Annotated[
        RuleAction,
        typer.Option(
            help="attachments: import the attachments; body: import the mail body as the "
            "invoice (PDF); skip: do not import."
        ),
    ] = RuleAction.attachments,
) -> None:
    """Add an import rule after the source's other rules."""
    rule = Rule.make(name, sender, keyword, action.value)
    a = state.open()
    with a.db.session() as s:
        rules_store.add(s, sources_store.get(s, source), rule)
    out.print(f'Rule "{rule.name}" added to source "{source}".')


@rule_app.command("list")
def rule_list(source: str, as_json: JsonOpt = False) -> None:
    """A source's rules, in the order they are tried."""
    a = state.open()
    with a.db.session() as s:
        rows = [_rule_json(r) for r in sources_store.get(s, source).rules]
    if as_json:
        _print_json(rows)
        return
    if not rows:
        out.print(f'Source "{source}" has no rules: every mail is judged by its attachments.')
        return
    t = Table("#", "name", "sender", "keyword", "action")
    for i, r in enumerate(rows, start=1):
        t.add_row(str(i), r["name"], r["sender"], r["keyword"] or "", r["action"])
    out.print(t)


@rule_app.command("remove")
def rule_remove(source: str, name: str) -> None:
    """Remove one rule of a source."""
    a = state.open()
    with a.db.session() as s:
        rules_store.remove(s, sources_store.get(s, source), name)
    out.print(f'Rule "{name}" removed from source "{source}".')


# -- fetching -----------------------------------------------------------------------------


def _summary_line(s: RunSummary) -> str:
    return (
        f"{s.source}: {s.messages_seen} new messages, {s.imported} imported, "
        f"{s.not_imported} not imported, {s.quarantined} quarantined, "
        f"{s.duplicates} duplicates, {s.documents_created} documents"
    )


def _fetch_one(a: App, name: str) -> RunSummary:
    if not sys.stderr.isatty():
        return runner.fetch(a, name)
    with Progress(
        TextColumn(f"[bold]{name}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("fetch", total=None)
        return runner.fetch(
            a, name, progress=lambda done, total: bar.update(task, completed=done, total=total)
        )


@app.command("fetch")
def fetch_cmd(
    name: Annotated[str | None, typer.Argument(help="The source to fetch now.")] = None,
    all_sources: Annotated[bool, typer.Option("--all", help="Fetch every active source.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Fetch a source now and print the run summary."""
    if bool(name) == all_sources:
        raise UserError("name one source, or use --all")
    a = state.open()
    if name:
        names = [name]
    else:
        with a.db.session() as s:
            names = [src.name for src in sources_store.all_sources(s, active_only=True)]
    results: list[dict[str, Any]] = []
    failures: list[str] = []
    for n in names:
        try:
            summary = _fetch_one(a, n)
        except (ConnectorError, lease.SourceBusy, StoreError, SecretError) as exc:
            if name:
                raise
            failures.append(f"{n}: {exc}")
            results.append({"source": n, "status": "failed", "error": str(exc)})
            continue
        results.append(vars(summary) | {"status": str(summary.status)})
        if not as_json:
            out.print(_summary_line(summary))
    if as_json:
        _print_json(results if all_sources else results[0])
    for f in failures:
        err.print(f"error: {f}", highlight=False)
    if failures:
        raise typer.Exit(1)


@app.command("runs")
def runs_cmd(
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """The log: one line per fetch with its counts."""
    a = state.open()
    with a.db.session() as s:
        q = select(Run, Source.name).join(Source).order_by(Run.id.desc()).limit(limit)
        if source:
            q = q.where(Source.name == source)
        rows = [
            {
                "id": r.id,
                "source": name,
                "trigger": r.trigger,
                "status": r.status,
                "started_at": _iso(r.started_at),
                "finished_at": _iso(r.finished_at),
                "messages_seen": r.messages_seen,
                "imported": r.imported,
                "not_imported": r.not_imported,
                "quarantined": r.quarantined,
                "duplicates": r.duplicates,
                "documents_created": r.documents_created,
                "errors": r.errors,
                "error": r.error,
            }
            for r, name in s.execute(q)
        ]
    if as_json:
        _print_json(rows)
        return
    t = Table("id", "source", "started", "status", "seen", "imported", "not imp.", "docs", "error")
    for r in rows:
        t.add_row(
            str(r["id"]),
            r["source"],
            (r["started_at"] or "")[:19],
            r["status"],
            str(r["messages_seen"]),
            str(r["imported"]),
            str(r["not_imported"]),
            str(r["documents_created"]),
            r["error"] or "",
        )
    out.print(t)


@app.command("messages")
def messages_cmd(
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 200,
    as_json: JsonOpt = False,
) -> None:
    """The ledger: every mail seen, with its decision and the reason."""
    a = state.open()
    with a.db.session() as s:
        q = select(Message, Source.name).join(Source).order_by(Message.id.desc()).limit(limit)
        if source:
            q = q.where(Source.name == source)
        rows = [
            {
                "id": m.id,
                "source": name,
                "folder": m.folder,
                "uidvalidity": m.uidvalidity,
                "uid": m.uid,
                "message_id": m.message_id,
                "sender": m.sender,
                "subject": m.subject,
                "sent_at": _iso(m.sent_at),
                "received_at": _iso(m.received_at),
                "decision": m.decision,
                "reason": m.reason,
                "state": m.state,
                "filed_to": m.filed_to,
                "raw_sha256": m.raw_sha256,
                "duplicate_of": m.duplicate_of_id,
                "documents": len(m.documents),
            }
            for m, name in s.execute(q)
        ]
    if as_json:
        _print_json(rows)
        return
    t = Table("id", "source", "folder", "uid", "sender", "subject", "decision", "reason")
    for r in rows:
        t.add_row(
            str(r["id"]),
            r["source"],
            r["folder"],
            str(r["uid"]),
            r["sender"] or "",
            r["subject"][:40],
            r["decision"],
            r["reason"],
        )
    out.print(t)


# -- documents ----------------------------------------------------------------------------


@documents_app.command("list")
def documents_list(
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    company: Annotated[str | None, typer.Option(help="Only this company.")] = None,
    kind: Annotated[
        str | None,
        typer.Option(help="Only this kind: pdf, einvoice_pdf, einvoice_xml, body_pdf, image."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The documents, oldest first; duplicates show what they repeat."""
    a = state.open()
    with a.db.session() as s:
        docs = documents_store.listing(s, source=source, company=company, kind=kind)
    if as_json:
        _print_json([d.as_json() for d in docs])
        return
    t = Table("id", "company", "source", "file", "kind", "invoice", "sender", "duplicate of")
    for d in docs:
        t.add_row(
            str(d.id),
            d.company,
            d.source,
            d.filename,
            d.kind,
            _invoice_summary(d.einvoice),
            d.origin_sender or d.sender or "",
            f"{d.duplicate_of} ({d.duplicate_kind})" if d.duplicate_of else "",
        )
    out.print(t)


def _invoice_summary(fields: dict[str, str | None] | None) -> str:
    if not fields:
        return ""
    parts = [fields.get("number"), fields.get("seller_name"), fields.get("total")]
    text = " · ".join(p for p in parts if p)
    return f"{text} {fields.get('currency') or ''}".strip()


@documents_app.command("export")
def documents_export(
    to: Annotated[Path, typer.Option("--to", help="The folder to write the files into.")],
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
) -> None:
    """Write the documents' files into a folder, named by date, sender and original name."""
    a = state.open()
    with a.db.session() as s:
        docs = documents_store.listing(s, source=source, queue_only=True)
    written, skipped = export(docs, a.blobs, to)
    out.print(f"{written} files written to {to}, {skipped} already there.")


# -- inspect ------------------------------------------------------------------------------


@app.command("inspect")
def inspect_cmd(
    file: Annotated[Path, typer.Argument(help="A message file (.eml), or a PDF or XML file.")],
    source: Annotated[
        str | None,
        typer.Option(help="Judge it as this source would (its senders, rules and options)."),
    ] = None,
    allow_sender: Annotated[
        list[str] | None, typer.Option(help="Allowed sender pattern (repeatable).")
    ] = None,
    allow_images: Annotated[bool, typer.Option(help="Images count as documents.")] = False,
    import_body: Annotated[
        bool, typer.Option(help="No document attachment: render the mail body to PDF.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show the decision, the documents and the skipped parts for one file; no mailbox needed.

    A PDF or XML file is inspected as if it came attached to a mail."""
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {file}: {exc.strerror}") from None
    if is_document_file(raw):
        raw = wrap_in_mail(file.name, raw)
    policy = Policy(
        allowed_senders=tuple(normalize_pattern(p) for p in allow_sender or []),
        allow_images=allow_images,
        body_fallback=import_body,
    )
    company_id = None
    if source is not None:
        a = state.open()
        with a.db.session() as s:
            plan = SourcePlan.of(sources_store.get(s, source))
        policy, company_id = plan.policy, plan.company_id
    d = decide(raw, policy)
    duplicates: dict[str, tuple[int, str]] = {}
    if company_id is not None and d.documents:
        with state.open().db.session() as s:
            duplicates = documents_store.find_duplicates(s, company_id, d.documents)
    result = {
        "decision": str(d.verdict),
        "reason": d.reason,
        "rule": d.rule,
        "documents": [_document_json(doc, duplicates.get(doc.sha256)) for doc in d.documents],
        "skipped": [{"name": p.name, "reason": p.reason} for p in d.skipped],
    }
    if as_json:
        _print_json(result)
        return
    out.print(f"{d.verdict}: {d.reason}", highlight=False)
    for doc in result["documents"]:
        line = f"  {doc['filename']}  {doc['kind']}  {doc['size']} bytes"
        if doc["einvoice"]:
            ei = doc["einvoice"]
            line += f"  {ei['format']} {ei['document_type']} {_invoice_summary(ei)}"
        if doc["duplicate_of"]:
            line += f"  (duplicate of document {doc['duplicate_of']})"
        out.print(line, highlight=False, markup=False)
    for p in result["skipped"]:
        out.print(f"  skipped {p['name']}: {p['reason']}", highlight=False, markup=False)


def _document_json(doc: Document, duplicate: tuple[int, str] | None) -> dict[str, Any]:
    return {
        "filename": doc.filename,
        "media_type": doc.media_type,
        "sha256": doc.sha256,
        "size": doc.size,
        "kind": doc.kind,
        "einvoice": doc.einvoice.as_dict() if doc.einvoice else None,
        "rule": doc.rule,
        "origin": {
            "sender": doc.origin_sender,
            "date": doc.origin_date.isoformat() if doc.origin_date else None,
        }
        if doc.origin_sender or doc.origin_date
        else None,
        "duplicate_of": duplicate[0] if duplicate else None,
        "duplicate_kind": duplicate[1] if duplicate else None,
    }


# -- serve --------------------------------------------------------------------------------


@app.command("serve")
def serve(
    interval: Annotated[float, typer.Option(help="Minutes between fetches of every source.")] = 60,
    once: Annotated[bool, typer.Option(help="Fetch every active source once, then exit.")] = False,
) -> None:
    """Run the service: fetch every active source on schedule until stopped (Ctrl-C)."""
    if interval <= 0:
        raise UserError("--interval must be a positive number of minutes")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    a = state.open()
    with a.db.session() as s:
        count = len(sources_store.all_sources(s, active_only=True))
    out.print(f"invoice-inbox: data in {a.data_dir}")
    out.print(f"{count} active sources; fetching every {interval:g} minutes.")
    if count == 0:
        out.print(
            "Add a source with: invoice-inbox source add NAME --company C --host H "
            "--username U --password-env VAR"
        )
    if once:
        scheduler.run_due(a)
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    scheduler.run_forever(a, interval, stop)
    out.print("stopped.")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
