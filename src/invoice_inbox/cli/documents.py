"""``invoice-inbox documents ...``: the queue, listed and exported.

Neither lists an exact duplicate (the same bytes as a queued document) unless asked to:
those are on the log of the mail they came in (``messages``) and are never booked."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from invoice_inbox.cli.base import JsonOpt, documents_app, out, print_json, state
from invoice_inbox.delivery.export import export
from invoice_inbox.store import documents as documents_store


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
    as_json: JsonOpt = False,
) -> None:
    """The documents in the queue, oldest first; probable duplicates show what they repeat."""
    a = state.open()
    with a.db.session() as s:
        docs = documents_store.listing(
            s, source=source, company=company, kind=kind, queue_only=not with_duplicates
        )
    if as_json:
        print_json([d.as_json() for d in docs])
        return
    t = Table("id", "company", "source", "file", "kind", "invoice", "sender", "duplicate of")
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
        )
    out.print(t)


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
