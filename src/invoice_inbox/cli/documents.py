"""``invoice-inbox documents ...``: the queue, listed and exported; a bank-detail alert
confirmed or marked as fraud.

Neither lists an exact duplicate (the same bytes as a queued document) unless asked to:
those are on the log of the mail they came in (``messages``) and are never booked. A listing
shows each document's trust flags (``store.trust_flags``) and can keep only those with one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from invoice_inbox.cli.base import JsonOpt, documents_app, out, print_json, state
from invoice_inbox.cli.source_options import refuse_value
from invoice_inbox.delivery.export import export
from invoice_inbox.pipeline.einvoice.stored import complete
from invoice_inbox.store import documents as documents_store
from invoice_inbox.store import suppliers, trust_flags

# the table's short marker of each flag
MARKERS = {
    trust_flags.SENDER_NOT_AUTHENTICATED: "unauthenticated",
    trust_flags.LOOKALIKE_SENDER: "look-alike",
    trust_flags.BANK_DETAILS_CHANGED: "bank details!",
    trust_flags.EINVOICE_INCONSISTENT: "figures!",
}


@documents_app.command("list")
def documents_list(
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    company: Annotated[str | None, typer.Option(help="Only this company.")] = None,
    kind: Annotated[
        str | None,
        typer.Option(help="Only this kind: pdf, einvoice_pdf, einvoice_xml, body_pdf, image."),
    ] = None,
    with_duplicates: Annotated[
        bool,
        typer.Option(
            "--with-duplicates",
            help="Also list exact duplicates (the same bytes again; never queued).",
        ),
    ] = False,
    flag: Annotated[
        str | None,
        typer.Option(
            metavar="CODE",
            help="Only documents with this flag: sender_not_authenticated, lookalike_sender,"
            " bank_details_changed or einvoice_inconsistent.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The documents in the queue, oldest first; probable duplicates show what they repeat,
    and a flag column what is not to be trusted (unauthenticated or look-alike sender,
    changed bank details)."""
    if flag is not None and flag not in trust_flags.FLAGS:
        refuse_value(f"--flag must be one of {', '.join(trust_flags.FLAGS)}, not {flag!r}")
    a = state.open()
    with a.db.session() as s:
        docs = documents_store.listing(
            s,
            source=source,
            company=company,
            kind=kind,
            queue_only=not with_duplicates,
            flag=flag,
        )
    if as_json:
        print_json([_with_full_einvoice(d.as_json()) for d in docs])
        return
    t = Table(
        "id", "company", "source", "file", "kind", "invoice", "sender", "duplicate of", "flags"
    )
    for d in docs:
        t.add_row(
            str(d.id),
            d.company,
            d.source,
            d.filename,
            d.kind,
            invoice_summary(d.einvoice),
            d.origin_sender or d.sender or "",
            f"{d.duplicate_of} ({d.duplicate_kind})" if d.duplicate_of else "",
            ", ".join(MARKERS[f] for f in d.trust.get("flags", [])),
        )
    out.print(t)


def _with_full_einvoice(document: dict[str, object]) -> dict[str, object]:
    """*document* with its ``einvoice`` in the published schema's shape (documents stored
    before the booking core lack its fields)."""
    stored = document.get("einvoice")
    if isinstance(stored, dict):
        document["einvoice"] = complete(stored)
    return document


def invoice_summary(fields: dict[str, str | None] | None) -> str:
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


BY = "the command line"  # who decided, as the document's alert and the block record it
DocumentArg = Annotated[int, typer.Argument(metavar="ID", help="The document's id.")]


@documents_app.command("confirm-iban")
def documents_confirm_iban(document_id: DocumentArg) -> None:
    """Confirm a document's new bank details: its IBAN becomes known and confirmed for its
    supplier, and the alerts asking payment to it are cleared."""
    a = state.open()
    with a.db.session() as s:
        info = suppliers.confirm_document_iban(s, document_id, by=BY)
    out.print(f'IBAN of document #{document_id} confirmed for "{info.name}".', highlight=False)


@documents_app.command("mark-fraud")
def documents_mark_fraud(document_id: DocumentArg) -> None:
    """Mark a document as fraud: its IBAN is no longer known for its supplier and its sender
    domain is blocked for the company (undo: invoice-inbox suppliers unblock)."""
    a = state.open()
    with a.db.session() as s:
        blocked = suppliers.mark_fraud(s, document_id, by=BY)
    said = f"Document #{document_id} marked as fraud"
    if blocked:
        out.print(f"{said}; mail from {blocked} is not imported any more.", highlight=False)
    else:
        out.print(f"{said}; its sender domain is not blocked (a free-mail or no domain).")
