"""``invoice-inbox suppliers ...``: the supplier registry of the companies, learned from their
documents: list and show suppliers, rename them, set their VAT id and sender domains, add,
confirm or remove an IBAN, merge two, and the sender domains blocked after a fraud (unblock).

Whoever runs the command line administers the data directory, as for sources; the store's
sentences (no such supplier, an IBAN failing its checksum, a domain taken) are one line and
exit status 1.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from invoice_inbox.cli.base import JsonOpt, UserError, app, iso, out, print_json, state
from invoice_inbox.json_types import JsonObject
from invoice_inbox.store import sources as sources_store
from invoice_inbox.store import suppliers
from invoice_inbox.store.models import Company
from invoice_inbox.store.supplier_views import SupplierInfo

suppliers_app = typer.Typer(
    help="Suppliers: who sends each company invoices, their sender domains and bank accounts.",
    no_args_is_help=True,
)
app.add_typer(suppliers_app, name="suppliers")

BY = "the command line"  # who confirmed, as the IBAN records it
CompanyOpt = Annotated[str | None, typer.Option(metavar="NAME", help="Only this company's.")]
SupplierArg = Annotated[int, typer.Argument(metavar="ID", help="The supplier's id.")]
IbanArg = Annotated[str, typer.Argument(metavar="IBAN", help="The IBAN (spaces allowed).")]


def supplier_json(info: SupplierInfo) -> JsonObject:
    d = asdict(info)
    for key in ("first_seen", "last_seen"):
        d[key] = iso(d[key])
    for i in d["ibans"]:
        i["first_seen"], i["last_seen"] = iso(i["first_seen"]), iso(i["last_seen"])
    return d


def _ibans(info: JsonObject) -> str:
    known = [f"{i['iban']}{'' if i['confirmed'] else ' (unconfirmed)'}" for i in info["ibans"]]
    return ", ".join(known) or "-"


def _show(info: JsonObject, as_json: bool, said: str | None = None) -> None:
    if as_json:
        print_json(info)
        return
    if said:
        out.print(said, highlight=False)
    rows = {
        "id": info["id"],
        "name": info["name"],
        "company": info["company"],
        "vat_id": info["vat_id"],
        "domains": ", ".join(info["domains"]),
        "ibans": _ibans(info),
        "documents": info["documents_count"],
        "first_seen": info["first_seen"],
        "last_seen": info["last_seen"],
        "open_alerts": info["open_alerts"],
        "pending_ibans": ", ".join(info["pending_ibans"]),
    }
    for key, value in rows.items():
        out.print(f"{key:14} {value if value not in (None, '') else '-'}", highlight=False)


def _company_ids(s: Session, company: str | None) -> list[int]:
    if company is not None:
        return [sources_store.company(s, company).id]
    return list(s.scalars(select(Company.id)))


@suppliers_app.command("list")
def suppliers_list(company: CompanyOpt = None, as_json: JsonOpt = False) -> None:
    """The suppliers, by company and name, with their domains, IBANs and open bank alerts."""
    a = state.open()
    with a.db.session() as s:
        rows = [supplier_json(i) for i in suppliers.list_for(s, _company_ids(s, company))]
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("No suppliers yet: they are learned from imported documents.")
        return
    t = Table("id", "company", "name", "VAT id", "domains", "IBANs", "documents", "alerts")
    for r in rows:
        t.add_row(
            str(r["id"]),
            r["company"],
            r["name"],
            r["vat_id"] or "",
            ", ".join(r["domains"]),
            _ibans(r),
            str(r["documents_count"]),
            str(r["open_alerts"] or ""),
        )
    out.print(t)


@suppliers_app.command("show")
def suppliers_show(supplier_id: SupplierArg, as_json: JsonOpt = False) -> None:
    """One supplier: domains, known IBANs (confirmed or not), documents, open alerts."""
    a = state.open()
    with a.db.session() as s:
        info = supplier_json(suppliers.get(s, supplier_id))
    _show(info, as_json)


@suppliers_app.command("set")
def suppliers_set(
    supplier_id: SupplierArg,
    name: Annotated[str | None, typer.Option(metavar="TEXT", help="A new name.")] = None,
    vat_id: Annotated[
        str | None, typer.Option(metavar="ID", help="Its VAT id ('' clears it).")
    ] = None,
    domain: Annotated[
        list[str] | None,
        typer.Option(metavar="DOMAIN", help="Its sender domains, replacing them (repeatable)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Rename a supplier, set its VAT id or replace its sender domains."""
    if name is None and vat_id is None and domain is None:
        raise UserError("nothing to change; see invoice-inbox suppliers set --help")
    a = state.open()
    with a.db.session() as s:
        info = suppliers.update(s, supplier_id, name=name, vat_id=vat_id, domains=domain)
        shown = supplier_json(info)
    _show(shown, as_json, f'Supplier #{supplier_id} "{shown["name"]}" updated.')


@suppliers_app.command("add-iban")
def suppliers_add_iban(supplier_id: SupplierArg, iban: IbanArg, as_json: JsonOpt = False) -> None:
    """Record an IBAN the supplier is known to use: known and confirmed, so documents asking
    payment to it raise no alert."""
    a = state.open()
    with a.db.session() as s:
        info = supplier_json(suppliers.add_iban(s, supplier_id, iban))
    _show(info, as_json, f"IBAN added to supplier #{supplier_id}.")


@suppliers_app.command("confirm-iban")
def suppliers_confirm_iban(
    supplier_id: SupplierArg, iban: IbanArg, as_json: JsonOpt = False
) -> None:
    """Confirm one of the supplier's IBANs (known, or asked for by a flagged document); its
    documents' alerts for it become "confirmed"."""
    a = state.open()
    with a.db.session() as s:
        info = supplier_json(suppliers.confirm_iban(s, supplier_id, iban, by=BY))
    _show(info, as_json, f"IBAN confirmed for supplier #{supplier_id}.")


@suppliers_app.command("remove-iban")
def suppliers_remove_iban(
    supplier_id: SupplierArg, iban: IbanArg, as_json: JsonOpt = False
) -> None:
    """Forget an IBAN of the supplier: a document asking payment to it raises an alert."""
    a = state.open()
    with a.db.session() as s:
        info = supplier_json(suppliers.remove_iban(s, supplier_id, iban))
    _show(info, as_json, f"IBAN removed from supplier #{supplier_id}.")


@suppliers_app.command("merge")
def suppliers_merge(
    keep: Annotated[int, typer.Argument(metavar="KEEP", help="The supplier that stays.")],
    other: Annotated[int, typer.Argument(metavar="OTHER", help="The one merged into it.")],
    as_json: JsonOpt = False,
) -> None:
    """Merge two suppliers of a company: OTHER's documents, domains and IBANs move to KEEP,
    and OTHER is deleted."""
    a = state.open()
    with a.db.session() as s:
        info = supplier_json(suppliers.merge(s, keep, other))
    _show(info, as_json, f"Supplier #{other} merged into #{keep}.")


@suppliers_app.command("blocked")
def suppliers_blocked(company: CompanyOpt = None, as_json: JsonOpt = False) -> None:
    """The sender domains a company imports nothing from (blocked when a document was marked
    as fraud)."""
    a = state.open()
    with a.db.session() as s:
        found = suppliers.blocked_for(s, _company_ids(s, company))
        rows = [asdict(b) | {"created_at": iso(b.created_at)} for b in found]
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("No blocked sender domains.")
        return
    t = Table("company", "domain", "since", "why")
    for r in rows:
        t.add_row(
            r["company"], r["domain"], r["created_at"][:10], suppliers.reason_words(r["reason"])
        )
    out.print(t)


@suppliers_app.command("unblock")
def suppliers_unblock(
    domain: Annotated[str, typer.Argument(metavar="DOMAIN", help="The blocked sender domain.")],
    company: Annotated[str, typer.Option(metavar="NAME", help="The company that blocked it.")],
) -> None:
    """Import mail from a blocked sender domain again."""
    a = state.open()
    with a.db.session() as s:
        suppliers.unblock(s, sources_store.company(s, company).id, domain)
    out.print(f'{domain.strip().lower()} is no longer blocked for "{company}".', highlight=False)
