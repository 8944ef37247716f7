"""What a queued document says about trust, in one shape for every surface (``documents list
--json``, the API, the ``document.created`` webhook): the sender authentication of the mail it
came in, a look-alike sender domain, its IBAN and a bank-detail alert, its supplier, and the
flags that sum them up.

A flag is a code a client filters on:

- ``sender_not_authenticated``: the mail's sender was not proven (fail, none or temperror),
  unless its source's policy is ``off`` (record only);
- ``lookalike_sender``: the From domain imitates an allowed or known supplier domain;
- ``bank_details_changed``: the IBAN is not among the supplier's known ones, and no admin has
  confirmed it (an alert marked as fraud stays flagged);
- ``einvoice_inconsistent``: the e-invoice's figures break a calculation rule (EN 16931
  BR-CO-10..16, a line's net amount, KSeF P_13..P_15): ``einvoice.problems`` says which.

:func:`condition` is the same test in SQL, for queries that join Document, Message and Source.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import ColumnElement, and_, false, select
from sqlalchemy.orm import Session, object_session

from invoice_inbox import auth_reasons
from invoice_inbox.i18n import N_
from invoice_inbox.json_types import JsonObject
from invoice_inbox.store.models import Document, Message, Source
from invoice_inbox.store.models_trust import Supplier

SENDER_NOT_AUTHENTICATED = "sender_not_authenticated"
LOOKALIKE_SENDER = "lookalike_sender"
BANK_DETAILS_CHANGED = "bank_details_changed"
EINVOICE_INCONSISTENT = "einvoice_inconsistent"
# the codes, with the few words a table shows for each (English; translated where shown)
FLAGS: dict[str, str] = {
    SENDER_NOT_AUTHENTICATED: N_("sender not authenticated"),
    LOOKALIKE_SENDER: N_("look-alike sender"),
    BANK_DETAILS_CHANGED: N_("bank details changed"),
    EINVOICE_INCONSISTENT: N_("e-invoice figures do not add up"),
}
PASS, OFF = "pass", "off"
ALERTS = ("changed", "fraud")  # bank_alert values that keep the flag; "confirmed" clears it


def masked(iban: str) -> str:
    """An IBAN shown short: country, check digits and its last four ("DE89 …3000")."""
    return f"{iban[:4]} …{iban[-4:]}" if len(iban) > 8 else iban


def flags(doc: Document, msg: Message, *, mode: str | None) -> list[str]:
    """The flag codes of *doc*, which came in *msg* on a source whose policy is *mode*."""
    found = []
    if msg.sender_auth not in (None, PASS) and mode != OFF:
        found.append(SENDER_NOT_AUTHENTICATED)
    if msg.lookalike_of:
        found.append(LOOKALIKE_SENDER)
    if doc.bank_alert in ALERTS:
        found.append(BANK_DETAILS_CHANGED)
    if doc.einvoice_problems:
        found.append(EINVOICE_INCONSISTENT)
    return found


def condition(code: str) -> ColumnElement[bool]:
    """Documents carrying flag *code*, in a query joining Document, Message and Source."""
    if code == SENDER_NOT_AUTHENTICATED:
        return and_(
            Message.sender_auth.is_not(None), Message.sender_auth != PASS, Source.sender_auth != OFF
        )
    if code == LOOKALIKE_SENDER:
        return and_(Message.lookalike_of.is_not(None), Message.lookalike_of != "")
    if code == BANK_DETAILS_CHANGED:
        return Document.bank_alert.in_(ALERTS)
    if code == EINVOICE_INCONSISTENT:
        return Document.einvoice_problems > 0
    return false()


def problem_rules(einvoice: JsonObject | None) -> list[str]:
    """The rules a stored e-invoice's figures break ("BR-CO-15", ...), each once, in order."""
    problems = (einvoice or {}).get("problems")
    if not isinstance(problems, list):
        return []
    rules = (p.get("rule") for p in problems if isinstance(p, dict))
    return list(dict.fromkeys(str(r) for r in rules if r))


def bank_alert_reason(doc: Document) -> str:
    """ "bank details changed: DE89 …3000 → GB29 …6819" (the known IBANs, then the new one)."""
    known = ", ".join(masked(i) for i in doc.bank_alert_known or []) or "none known"
    return f"bank details changed: {known} → {masked(doc.iban or '')}"


def supplier_names(s: Session, docs: Iterable[Document]) -> dict[int, str]:
    """The names of the suppliers of *docs*, in one query (for a page of documents)."""
    ids = {d.supplier_id for d in docs if d.supplier_id is not None}
    if not ids:
        return {}
    return dict(s.execute(select(Supplier.id, Supplier.name).where(Supplier.id.in_(ids))).all())


def source_modes(s: Session, msgs: Iterable[Message]) -> dict[int, str]:
    """The policy of the sources of *msgs*, in one query (for a page of documents)."""
    ids = {m.source_id for m in msgs}
    if not ids:
        return {}
    return dict(s.execute(select(Source.id, Source.sender_auth).where(Source.id.in_(ids))).all())


def _supplier(doc: Document, names: Mapping[int, str] | None) -> JsonObject | None:
    if doc.supplier_id is None:
        return None
    if names is None:  # one document: ask its session
        s = object_session(doc)
        supplier = s.get(Supplier, doc.supplier_id) if s is not None else None
        return {"id": doc.supplier_id, "name": supplier.name if supplier is not None else None}
    return {"id": doc.supplier_id, "name": names.get(doc.supplier_id)}


def trust(
    doc: Document, msg: Message, *, mode: str | None, names: Mapping[int, str] | None = None
) -> JsonObject:
    """The trust fields of *doc* (JSON-able), *mode* being its source's policy and *names*
    the supplier names of its page (:func:`supplier_names`; else its session is asked)."""
    auth = (
        None
        if msg.sender_auth is None
        else {"status": msg.sender_auth, "reason": auth_reasons.localized(msg.sender_auth_reason)}
    )
    alert = (
        None
        if doc.bank_alert is None
        else {
            "status": doc.bank_alert,
            "known": list(doc.bank_alert_known or []),
            "reason": bank_alert_reason(doc),
            "by": doc.bank_alert_by,  # who confirmed it or marked it as fraud
            "at": doc.bank_alert_at.isoformat() if doc.bank_alert_at else None,
        }
    )
    return {
        "sender_auth": auth,
        "lookalike_of": msg.lookalike_of or None,
        "iban": doc.iban,
        "bank_alert": alert,
        "supplier": _supplier(doc, names),
        "flags": flags(doc, msg, mode=mode),
    }
