"""``invoice-inbox fetch``, ``runs`` and ``messages``: fetch now and read the log.

``fetch`` exits 0 when every run succeeded, 1 when one failed (or on a mistake), and 3 when a
run was partial: it imported mail, then stopped on an error (a missing folder, a lost
connection); its summary is printed, and the error on stderr. A POP3 server that refuses a
login as too soon after the last one (``[LOGIN-DELAY]``, e.g. right after ``source check`` on
Cyrus) is waited for, once, when it asks for at most ``LOGIN_WAIT_MAX`` seconds."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, TypedDict

import typer
from sqlalchemy import select

from invoice_inbox import auth_reasons
from invoice_inbox.auth.secrets import SecretError
from invoice_inbox.cli.base import (
    JsonOpt,
    UserError,
    app,
    err,
    iso,
    out,
    print_json,
    state,
    with_progress,
)
from invoice_inbox.errors import ConnectorError, LoginDelayed
from invoice_inbox.json_types import JsonObject
from invoice_inbox.runtime import lease, runner
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.run_summary import RunPartial, RunSummary
from invoice_inbox.store import sources as sources_store
from invoice_inbox.store.errors import StoreError
from invoice_inbox.store.models import Message, Run, RunStatus, Source

PARTIAL_EXIT = 3  # some mail was imported, then the run stopped on an error


def _summary_line(s: RunSummary) -> str:
    line = (
        f"{s.source}: {s.messages_seen} new messages, {s.imported} imported, "
        f"{s.not_imported} not imported, {s.quarantined} quarantined; "
        f"{s.documents_created} documents queued, {s.duplicates} duplicates not queued again"
    )
    if s.status == RunStatus.PARTIAL:
        line += " (partial: the run stopped early, see the error)"
    for target, error in s.unfiled.items():
        line += f'; mails cannot be moved to "{target}" (left where they are): {error}'
    return line


LOGIN_WAIT_MAX = 300.0  # seconds fetch waits for a server's login delay; longer ones fail


def _fetch_one(a: App, name: str) -> RunSummary:
    try:
        return with_progress(name, lambda progress: runner.fetch(a, name, progress=progress))
    except LoginDelayed as exc:
        if exc.retry_after > LOGIN_WAIT_MAX:
            raise
        again = datetime.now(UTC) + timedelta(seconds=exc.retry_after + 1)
        err.print(
            f"{name}: the server allows one login every {exc.retry_after:g} s and the last one"
            f" was more recent; fetching at {again:%H:%M:%S} UTC",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        time.sleep(exc.retry_after + 1)
    return with_progress(name, lambda progress: runner.fetch(a, name, progress=progress))


BUSY = "another fetch is running"
WAIT_POLL = 0.5  # seconds between looks at a busy source's lease


def _fetch_waiting(a: App, name: str) -> RunSummary:
    """Fetch *name*, first waiting while another fetch holds it (its lease: runtime.lease)."""
    said = False
    while True:
        try:
            return _fetch_one(a, name)
        except lease.SourceBusy:
            if not said:
                err.print(f"waiting for another fetch of {name} to end", highlight=False)
                said = True
            time.sleep(WAIT_POLL)


@app.command("fetch")
def fetch_cmd(
    name: Annotated[str | None, typer.Argument(help="The source to fetch now.")] = None,
    all_sources: Annotated[bool, typer.Option("--all", help="Fetch every active source.")] = False,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="When another fetch is running on a source, wait for it to end, then fetch"
            " (without it, --all skips that source with a note).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Fetch a source now and print the run summary.

    Exit status: 0 every run succeeded, 1 a run failed, 3 a run was partial (it imported
    mail, then stopped on an error). With --all, a source another fetch is running on is
    skipped with a note, or waited for with --wait."""
    if bool(name) == all_sources:
        raise UserError("name one source, or use --all")
    a = state.open()
    if name:
        names = [name]
    else:
        with a.db.session() as s:
            names = [
                src.name
                for src in sources_store.all_sources(s, active_only=True)
                if src.protocol != "smtp"  # the import address has nothing to fetch
            ]
    results: list[JsonObject] = []
    failures: list[str] = []
    partial: list[str] = []
    for n in names:
        try:
            summary = _fetch_waiting(a, n) if wait else _fetch_one(a, n)
        except lease.SourceBusy:
            if name:
                raise
            results.append({"source": n, "status": "skipped", "reason": BUSY})
            if not as_json:
                out.print(f"{n}: skipped, {BUSY}", highlight=False)
            continue
        except RunPartial as exc:
            summary = exc.summary
            partial.append(str(exc) if name else f"{n}: {exc}")
        except (ConnectorError, StoreError, SecretError) as exc:
            if name:
                raise
            failures.append(f"{n}: {exc}")
            results.append({"source": n, "status": "failed", "error": str(exc)})
            continue
        results.append(vars(summary) | {"status": str(summary.status)})
        if not as_json:
            out.print(_summary_line(summary))
    if as_json:
        print_json(results if all_sources else results[0])
    for f in failures + partial:
        err.print(f"error: {f}", highlight=False, markup=False, soft_wrap=True)
    if failures:
        raise typer.Exit(1)
    if partial:
        raise typer.Exit(PARTIAL_EXIT)


class _RunRow(TypedDict):
    id: int
    source: str
    trigger: str
    status: str
    started_at: str
    finished_at: str | None
    messages_seen: int
    imported: int
    not_imported: int
    quarantined: int
    duplicates: int
    documents_created: int
    errors: int
    error: str | None


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
        rows: list[_RunRow] = [
            {
                "id": r.id,
                "source": name,
                "trigger": r.trigger,
                "status": r.status,
                "started_at": iso(r.started_at),
                "finished_at": iso(r.finished_at),
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
        print_json(rows)
        return
    from rich.table import Table  # runs and messages only, not fetch

    t = Table(
        "id", "source", "started", "status", "seen", "imported", "not imp.", "docs", "dups", "error"
    )
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
            str(r["duplicates"]),
            r["error"] or "",
        )
    out.print(t)


class _SenderAuth(TypedDict):
    status: str
    reason: str


class _MessageRow(TypedDict):
    id: int
    source: str
    folder: str
    uidvalidity: int
    uid: int | None
    remote_id: str | None
    message_id: str | None
    sender: str | None
    subject: str
    sent_at: str | None
    received_at: str
    decision: str
    reason: str  # in the CLI's language (--lang, LANG)
    reason_code: str | None
    reason_parts: list[dict[str, object]] | None
    sender_auth: _SenderAuth | None
    lookalike_of: str | None
    state: str
    filed_to: str | None
    raw_sha256: str
    duplicate_of: int | None
    documents: int


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
        rows: list[_MessageRow] = [
            {
                "id": m.id,
                "source": name,
                "folder": m.folder,
                "uidvalidity": m.uidvalidity,
                "uid": m.uid,
                "remote_id": m.remote_id,
                "message_id": m.message_id,
                "sender": m.sender,
                "subject": m.subject,
                "sent_at": iso(m.sent_at),
                "received_at": iso(m.received_at),
                "decision": m.decision,
                "reason": m.reason_text,
                "reason_code": m.reason_code,
                "reason_parts": m.reason_parts,
                "sender_auth": (
                    None
                    if m.sender_auth is None
                    else {
                        "status": m.sender_auth,
                        "reason": auth_reasons.localized(m.sender_auth_reason),
                    }
                ),
                "lookalike_of": m.lookalike_of,
                "state": m.state,
                "filed_to": m.filed_to,
                "raw_sha256": m.raw_sha256,
                "duplicate_of": m.duplicate_of_id,
                "documents": len(m.documents),
            }
            for m, name in s.execute(q)
        ]
    if as_json:
        print_json(rows)
        return
    from rich.table import Table  # runs and messages only, not fetch

    t = Table("id", "source", "folder", "uid / id", "sender", "subject", "decision", "reason")
    for r in rows:
        t.add_row(
            str(r["id"]),
            r["source"],
            r["folder"],
            str(r["uid"] if r["uid"] is not None else r["remote_id"]),
            r["sender"] or "",
            r["subject"][:40],
            r["decision"],
            r["reason"],
        )
    out.print(t)
