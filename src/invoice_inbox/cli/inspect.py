"""``invoice-inbox inspect FILE``: judge one mail or document file, no mailbox needed: its
decision and documents, and who sent it (DKIM and DMARC through DNS; with ``--source`` the
source's trusted Authentication-Results and sender policy too)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from invoice_inbox import reasons
from invoice_inbox.cli.base import JsonOpt, UserError, app, out, print_json, state
from invoice_inbox.cli.documents import invoice_summary
from invoice_inbox.cli.serve import DnsOpt, use_dns_server
from invoice_inbox.connectors.dns import resolver_for
from invoice_inbox.json_types import JsonObject
from invoice_inbox.pipeline.decide import Document, Policy, decide
from invoice_inbox.pipeline.senders import normalize_pattern
from invoice_inbox.pipeline.trust import policy as sender_policy
from invoice_inbox.pipeline.trust.authenticate import authenticate
from invoice_inbox.pipeline.wrap import is_document_file, wrap_in_mail
from invoice_inbox.runtime.sender_check import Company
from invoice_inbox.runtime.source_plan import SourcePlan
from invoice_inbox.store import documents as documents_store
from invoice_inbox.store import sources as sources_store


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
    check_sender: Annotated[
        bool,
        typer.Option(
            "--check-sender/--no-check-sender",
            help="Authenticate the sender (DKIM, DMARC: asks DNS).",
        ),
    ] = True,
    dns_server: DnsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the decision, the documents and the skipped parts for one file; no mailbox needed.

    A PDF or XML file is inspected as if it came attached to a mail."""
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {file}: {exc.strerror}") from None
    wrapped = is_document_file(raw)
    if wrapped:
        raw = wrap_in_mail(file.name, raw)
    policy = Policy(
        allowed_senders=tuple(normalize_pattern(p) for p in allow_sender or []),
        allow_images=allow_images,
        body_fallback=import_body,
    )
    company_id, plan = None, None
    if source is not None:
        a = state.open()
        with a.db.session() as s:
            plan = SourcePlan.of(sources_store.get(s, source))
        policy, company_id = plan.policy, plan.company_id
    d = decide(raw, policy)
    auth = None
    if check_sender and not wrapped:  # a bare document file has no sender to check
        use_dns_server(dns_server)
        trusted = plan.trusted_authserv_ids if plan else ()
        auth = authenticate(raw, lookup=resolver_for(None).lookup, trusted_authserv_ids=trusted)
    if plan is not None:  # as the source's run would: its policy, look-alikes, blocked domains
        company = Company.load(state.open().db, plan.company_id)
        d = sender_policy.apply(
            d,
            auth,
            mode=plan.sender_auth,
            lookalike_of=company.lookalike(sender_policy.from_domain(d, auth)),
            blocked=company.blocked,
        )
    duplicates: dict[str, tuple[int, str]] = {}
    if company_id is not None and d.documents:
        with state.open().db.session() as s:
            contents = [(x.sha256, x.einvoice.key if x.einvoice else None) for x in d.documents]
            duplicates = documents_store.find_duplicates(s, company_id, contents)
    documents = [_document_json(doc, duplicates.get(doc.sha256)) for doc in d.documents]
    skipped = [{"name": p.name, "reason": p.reason} for p in d.skipped]
    said = reasons.localized(d.reason_parts) if d.reason_parts else d.reason  # --lang, LANG
    result = {
        "decision": str(d.verdict),
        "reason": said,
        "reason_code": reasons.reason_code(d.reason_parts),
        "reason_parts": reasons.to_json(d.reason_parts),
        "rule": d.rule,
        "documents": documents,
        "skipped": skipped,
        "sender_auth": auth.to_json() if auth else None,
        "lookalike_of": d.lookalike_of,
    }
    if as_json:
        print_json(result)
        return
    out.print(f"{d.verdict}: {said}", highlight=False)
    if auth is not None:
        out.print(f"  sender: {auth.status}: {auth.reason}", highlight=False, markup=False)
    for doc in documents:
        line = f"  {doc['filename']}  {doc['kind']}  {doc['size']} bytes"
        if doc["einvoice"]:
            ei = doc["einvoice"]
            line += f"  {ei['format']} {ei['document_type']} {invoice_summary(ei)}"
        if doc["duplicate_of"]:
            line += f"  (duplicate of document {doc['duplicate_of']})"
        out.print(line, highlight=False, markup=False)
        if doc["einvoice"]:
            for text in _booking_lines(doc["einvoice"]):
                out.print(f"    {text}", highlight=False, markup=False)
    for p in skipped:
        out.print(f"  skipped {p['name']}: {p['reason']}", highlight=False, markup=False)


def _booking_lines(einvoice: JsonObject) -> list[str]:
    """The booking core in a line, then each calculation problem: "3 lines; without VAT 100.00,
    VAT 19.00, due 119.00", "problem: BR-CO-16: ..."."""
    lines = einvoice.get("lines") or []
    figures = [
        f"{label} {einvoice[key]}"
        for key, label in (("tax_basis_total", "without VAT"), ("tax_total", "VAT"))
        if einvoice.get(key)
    ]
    if einvoice.get("amount_due"):
        figures.append(f"due {einvoice['amount_due']}")
    found = []
    if lines or figures:
        count = f"{len(lines)} line{'' if len(lines) == 1 else 's'}"
        found.append("; ".join([count, ", ".join(figures)]) if figures else count)
    problems = einvoice.get("problems") or []
    found += [f"problem: {p['message']}" for p in problems if isinstance(p, dict)]
    return found


def _document_json(doc: Document, duplicate: tuple[int, str] | None) -> JsonObject:
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
