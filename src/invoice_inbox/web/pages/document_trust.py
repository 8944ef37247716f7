"""Trust on the document screens: the queue's badges ("sender not authenticated", "looks like
supplier.test", "bank details changed", each with its reason as the title), the document
page's "Sender" and "Bank details" panels, and an admin's answer to a bank-detail alert:
confirm the new IBAN (then it is known for the supplier) or mark the document as fraud (then
its sender domain is blocked for the company), after a confirm step.

The flags are ``store.trust_flags``'s, the same codes the API and the CLI filter on; the
actions are ``store.suppliers``'. A wrong or stale request is said in the flash, never a
traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from invoice_inbox import auth_reasons
from invoice_inbox.i18n import N_
from invoice_inbox.i18n import gettext as _
from invoice_inbox.json_types import JsonObject
from invoice_inbox.store import suppliers, trust_flags
from invoice_inbox.store.errors import StoreError
from invoice_inbox.store.models import Document, Message
from invoice_inbox.store.models_trust import Supplier
from invoice_inbox.store.supplier_learning import sender_domain
from invoice_inbox.web import readable
from invoice_inbox.web.access import Access
from invoice_inbox.web.security import PageUser, context
from invoice_inbox.web.templating import redirect

router = APIRouter()

# the sender authentication of a mail, as its badge says it: (words, tone), translated when shown
AUTH_WORDS = {
    "pass": (N_("authenticated"), "ok"),
    "fail": (N_("authentication failed"), "bad"),
    "none": (N_("not authenticated"), "warn"),
    "temperror": (N_("not checked: DNS did not answer"), "warn"),
}


# what a DKIM, SPF or DMARC check found (RFC 8601 result codes), as the Sender panel says it
RESULT_WORDS = {
    "pass": N_("pass"),
    "fail": N_("fail"),
    "softfail": N_("soft fail"),
    "neutral": N_("neutral"),
    "none": N_("none"),
    "temperror": N_("temporary error"),
    "permerror": N_("permanent error"),
    "policy": N_("refused by policy"),
}


def result_word(code: object) -> str:
    """A check's result code as a word in the reader's language (an unknown one as written)."""
    text = str(code or "none")
    return _(RESULT_WORDS[text]) if text in RESULT_WORDS else text


def auth_words(code: str | None) -> tuple[str, str] | None:
    """The badge (translated words, tone) of a mail's sender authentication *code*."""
    found = AUTH_WORDS.get(code or "")
    return (_(found[0]), found[1]) if found else None


def bank_alert_reason(doc: Document) -> str:
    """The queue badge's title of a bank-detail alert, in the reader's language."""
    known = ", ".join(trust_flags.masked(i) for i in doc.bank_alert_known or []) or _("none known")
    return _("bank details changed: %(known)s → %(iban)s") % {
        "known": known,
        "iban": trust_flags.masked(doc.iban or ""),
    }


@dataclass(frozen=True)
class Badge:
    """One trust flag of a document as the queue shows it."""

    code: str
    words: str
    title: str  # the reason, shown on hover
    tone: str


def badges(doc: Document, msg: Message, *, mode: str | None) -> list[Badge]:
    """The trust badges of *doc*, which came in *msg* on a source whose policy is *mode*."""
    found = []
    for code in trust_flags.flags(doc, msg, mode=mode):
        if code == trust_flags.SENDER_NOT_AUTHENTICATED:
            said = auth_reasons.localized(msg.sender_auth_reason)
            title = said or _("sender authentication: %(result)s") % {"result": msg.sender_auth}
            found.append(Badge(code, _("sender not authenticated"), title, "warn"))
        elif code == trust_flags.LOOKALIKE_SENDER:
            lookalike = {"domain": msg.lookalike_of, "sender": suppliers.domain_of(msg.sender)}
            title = (
                _("%(sender)s is not a known sender but looks like %(domain)s") % lookalike
                if lookalike["sender"]
                else _("The From domain is not a known sender but looks like %(domain)s")
                % lookalike
            )
            words = _("looks like %(domain)s") % lookalike
            found.append(Badge(code, words, title, "bad"))
        elif code == trust_flags.BANK_DETAILS_CHANGED:
            title = bank_alert_reason(doc)
            if doc.bank_alert == "fraud":
                fraud = _("%(reason)s; marked as fraud") % {"reason": title}
                found.append(Badge(code, _("marked as fraud"), fraud, "bad"))
            else:
                found.append(Badge(code, _("bank details changed"), title, "bad"))
        elif code == trust_flags.EINVOICE_INCONSISTENT:
            rules = ", ".join(trust_flags.problem_rules(doc.einvoice))
            title = _("broken rules: %(rules)s") % {"rules": rules}
            found.append(Badge(code, _("figures do not add up"), title, "warn"))
    return found


def _check(entry: JsonObject, *names: str) -> str:
    """One check's result as a line: the result, then the named fields that have a value."""
    parts = [result_word(entry.get("result")) if entry.get("result") else "?"]
    parts += [
        f"{n}={entry[n]}" if n in ("d", "s") else str(entry[n]) for n in names if entry.get(n)
    ]
    if entry.get("aligned"):
        parts.append(_("aligned"))
    if entry.get("reason"):
        parts.append(str(entry["reason"]))
    return " · ".join(parts)


def checks(stored: JsonObject | None) -> list[tuple[str, str]]:
    """(check, what it found) for the Sender panel, from the results sender authentication
    stored on the ledger row (DKIM per signature, SPF, DMARC, the provider's headers)."""
    if not stored:
        return []
    results = stored.get("results", stored)
    out = []
    for sig in results.get("dkim") or []:
        out.append(
            ("DKIM", _check({**sig, "d": sig.get("domain"), "s": sig.get("selector")}, "d", "s"))
        )
    if not results.get("dkim"):
        out.append(("DKIM", _("no signature")))
    spf = results.get("spf")
    out.append(
        (
            "SPF",
            _check(spf, "domain")
            if spf
            else _("not checked here: another server received the mail"),
        )
    )
    verdict = results.get("dmarc") or {}
    if verdict:
        applied = verdict.get("policy_applied")
        out.append(
            (
                "DMARC",
                result_word(verdict.get("result"))
                + (" · " + _("policy %(policy)s") % {"policy": applied} if applied else ""),
            )
        )
    provider = results.get("provider") or {}
    for used in provider.get("used") or []:
        server = {"server": used.get("authserv_id")}
        out.append((_("Provider"), _("%(server)s: its results believed (trusted)") % server))
    for ignored in provider.get("ignored") or []:
        server = {"server": ignored.get("authserv_id"), "why": ignored.get("why")}
        out.append((_("Provider"), _("%(server)s: ignored, %(why)s") % server))
    return out


def panels(s: Session, access: Access, doc: Document, msg: Message) -> JsonObject:
    """What the document page's "Sender" and "Bank details" panels show."""
    src = msg.source
    domain = suppliers.domain_of(msg.sender)
    fraud_domain = sender_domain(doc, msg)  # a forwarded invoice's own sender, not the colleague
    blocked = suppliers.blocked_domains(s, doc.company_id)
    supplier = s.get(Supplier, doc.supplier_id) if doc.supplier_id is not None else None
    return {
        "auth_words": auth_words(msg.sender_auth),
        "auth_checks": checks(msg.auth_results),
        "sender_domain": domain,
        "sender_blocked": blocked.get(domain or ""),
        "fraud_domain": fraud_domain,
        "fraud_blocked": blocked.get(fraud_domain or ""),
        "sender_mode": src.sender_auth,
        "trust_badges": badges(doc, msg, mode=src.sender_auth),
        "supplier": supplier,
        "known_ibans": list(doc.bank_alert_known or []),
        "answers_alerts": access.is_admin,
    }


def _answered(request: Request, document_id: int, flash: str) -> Response:
    return redirect(f"/documents/{document_id}#bank-details", flash=flash, request=request)


@router.post("/documents/{document_id}/confirm-iban")
def confirm_iban(request: Request, page: PageUser, document_id: int) -> Response:
    """The document's new IBAN is the supplier's: it becomes known and confirmed."""
    with context(request).app.db.session() as s:
        doc = page.access.document(s, document_id)
        page.access.require_admin()
        if doc.bank_alert not in ("changed", "fraud") or not doc.iban:
            return _answered(request, document_id, _("This document has no bank-detail alert."))
        try:
            info = suppliers.confirm_document_iban(s, document_id, by=page.access.email)
        except StoreError as exc:
            return _answered(request, document_id, _("Not confirmed: %(why)s.") % {"why": exc})
        iban = readable.iban(doc.iban)
    flash = _("Confirmed: %(iban)s is now a known IBAN of %(supplier)s.") % {
        "iban": iban,
        "supplier": info.name,
    }
    return _answered(request, document_id, flash)


@router.post("/documents/{document_id}/mark-fraud")
def mark_fraud(
    request: Request, page: PageUser, document_id: int, confirm: Annotated[str, Form()] = ""
) -> Response:
    """The bank-detail change is a fraud: the document is marked, its IBAN is no longer known
    for the supplier and its sender domain is blocked for the company (after a confirm step)."""
    with context(request).app.db.session() as s:
        doc = page.access.document(s, document_id)
        page.access.require_admin()
        if doc.bank_alert not in ("changed", "confirmed"):
            return _answered(request, document_id, _("This document has no bank-detail alert."))
        if confirm != "yes":
            flash = _('Tick "Yes, this is fraud" to mark the document as fraud.')
            return redirect(f"/documents/{document_id}#fraud-step", flash=flash, request=request)
        try:
            domain = suppliers.mark_fraud(s, document_id, by=page.access.email)
        except StoreError as exc:
            return _answered(request, document_id, _("Not marked: %(why)s.") % {"why": exc})
    flash = (
        _("Marked as fraud. Mail from %(domain)s is blocked for this company.") % {"domain": domain}
        if domain
        else _(
            "Marked as fraud. Its sender's domain is a free-mail service, so it was not blocked."
        )
    )
    return _answered(request, document_id, flash)
