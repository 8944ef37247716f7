"""Decide what to do with one message: import its documents, or not, always with a reason.

The checks run in the order of ``CHECKS``; the first that stops the message sets the verdict and
the reason. Every check's name is recorded as a hit (it stopped the message) or a miss (it let the
message pass), so the ledger can answer "why?" for every mail.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from invoice_inbox import reasons
from invoice_inbox.pipeline import extract, mime, senders
from invoice_inbox.pipeline.extract import Document, Kind, Skipped
from invoice_inbox.pipeline.filenames import sanitize
from invoice_inbox.pipeline.limits import DEFAULT_LIMITS, LimitExceeded, Limits
from invoice_inbox.pipeline.rules import Action, Rule, first_match
from invoice_inbox.pipeline.trust import iban
from invoice_inbox.pipeline.trust.result import SenderAuth
from invoice_inbox.reasons import Parts, ReasonPart, part

__all__ = [
    "CHECKS",
    "Decision",
    "Document",
    "Policy",
    "Skipped",
    "Verdict",
    "decide",
    "decision",
]


class Verdict(StrEnum):
    """What happens to a message."""

    IMPORT = "import"  # its documents go to the queue; the mail is filed as imported
    NOT_IMPORTED = "not_imported"  # a check stopped it; the mail is filed as not imported
    QUARANTINED = "quarantined"  # it could not be read; kept with the reason, run goes on


@dataclass(frozen=True, kw_only=True)
class Policy:
    """A source's settings that decide, as plain data (no database, no mailbox)."""

    allowed_senders: tuple[str, ...] = ()
    require_attachment: bool = True  # a valid invoice mail has an attachment
    require_pdf: bool = True  # ... that is a PDF or an e-invoice, judged by its bytes
    allow_images: bool = False  # scanned JPEG/PNG/TIFF attachments are documents too
    body_fallback: bool = False  # no document attachment: the mail body becomes the document
    rules: tuple[Rule, ...] = ()
    # Parsing holds about 8 times a mail's size in memory; bigger mails wait for a person.
    max_message_bytes: int = 150 * 1024 * 1024
    # bounds for the steps on untrusted bytes (embedded files, rendering, the worker process)
    limits: Limits = DEFAULT_LIMITS


@dataclass(frozen=True)
class Decision:
    """The verdict for one message, the one sentence that explains it, and its documents.
    ``reason`` is the English text of ``reason_parts`` (codes with parameters: ``reasons``)."""

    verdict: Verdict
    reason: str
    headers: mime.Headers | None
    documents: tuple[Document, ...] = ()
    hits: tuple[str, ...] = ()
    misses: tuple[str, ...] = ()
    skipped: tuple[Skipped, ...] = ()  # parts that did not become documents, and why
    rule: str | None = None  # the name of the import rule that matched
    # who the mail proves its sender is, and a known domain its From domain imitates (set by
    # the sender policy after deciding: pipeline.trust.policy)
    sender_auth: SenderAuth | None = None
    lookalike_of: str | None = None
    reason_parts: Parts = ()
    # a decide worker put the raw mail and its documents' bytes into the blob folder, unsynced
    # (``runtime.decision_wire``); the documents then come without their bytes
    stored: bool = False


def decision(
    verdict: Verdict,
    parts: Parts,
    headers: mime.Headers | None,
    documents: tuple[Document, ...] = (),
    *,
    hits: tuple[str, ...] = (),
    misses: tuple[str, ...] = (),
    skipped: tuple[Skipped, ...] = (),
    rule: str | None = None,
) -> Decision:
    """A decision whose reason is *parts*, its English text made from them."""
    return Decision(
        verdict,
        reasons.english(parts),
        headers,
        documents,
        hits,
        misses,
        skipped,
        rule,
        reason_parts=parts,
    )


@dataclass
class _Work:
    """What the checks share while they run on one message."""

    raw: bytes
    policy: Policy
    headers: mime.Headers
    head: mime.Head | None = None  # the header block as read for *headers*
    parsed: mime.ParsedMessage | None = None
    rule: Rule | None = None
    documents: list[Document] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def full(self) -> mime.ParsedMessage:
        if self.parsed is None:
            self.parsed = mime.parse(self.raw, self.headers, self.head)
        return self.parsed

    def body_text(self) -> str:
        """The mail text for keyword rules: the plain part, else the HTML without its tags."""
        parsed = self.full()
        text = parsed.body("plain")
        if text is None:
            text = _TAGS.sub(" ", parsed.body("html") or "")
        return text

    @property
    def wants_body(self) -> bool:
        return self.rule is not None and self.rule.action is Action.BODY


# A check returns None to let the message pass, or (verdict, reason) to stop it.
Check = Callable[[_Work], "tuple[Verdict, ReasonPart] | None"]

_TAGS = re.compile(r"<[^>]*>")


def check_size(w: _Work) -> tuple[Verdict, ReasonPart] | None:
    """A mail bigger than the limit is not parsed: it is quarantined, never dropped."""
    limit = w.policy.max_message_bytes
    if len(w.raw) <= limit:
        return None
    size, most = len(w.raw) / 1024 / 1024, limit / 1024 / 1024
    return Verdict.QUARANTINED, part("message_too_big", size=size, limit=most)


def check_allowed_sender(w: _Work) -> tuple[Verdict, ReasonPart] | None:
    """The sender must be on the source's allowed list (empty list: everyone)."""
    if senders.is_allowed(w.headers.sender, w.policy.allowed_senders):
        return None
    return Verdict.NOT_IMPORTED, part("sender_not_allowed", sender=w.headers.sender or None)


def check_rules(w: _Work) -> tuple[Verdict, ReasonPart] | None:
    """The first import rule matching the sender (and keyword) says what to do; a rule that
    says "skip" stops the message here."""
    w.rule = first_match(w.policy.rules, w.headers.sender, w.headers.subject, w.body_text)
    if w.rule is not None and w.rule.action is Action.SKIP:
        return Verdict.NOT_IMPORTED, part("rule_skip", rule=w.rule.name)
    return None


def check_has_attachment(w: _Work) -> tuple[Verdict, ReasonPart] | None:
    """A valid invoice mail has an attachment, unless its body is to be the invoice."""
    if not w.policy.require_attachment or w.wants_body or w.policy.body_fallback:
        return None
    if any(p.is_attachment for p in w.full().parts):
        return None
    return Verdict.NOT_IMPORTED, part("no_attachment")


def check_documents(w: _Work) -> tuple[Verdict, ReasonPart] | None:
    """PDFs and e-invoices (judged by their bytes, also inside forwarded mails, archives and
    winmail.dat) become documents; images and other files only when the source allows them.
    With a "body" rule, or the body fallback and no document attachment, the mail text is
    rendered to a PDF instead. Unreadable parts quarantine the message."""
    parsed = w.full()
    options = extract.Options(
        allow_images=w.policy.allow_images,
        any_attachment=not w.policy.require_pdf,
        limits=w.policy.limits,
    )
    try:
        found = extract.extract(parsed, options)
    except extract.Unreadable as exc:
        return Verdict.QUARANTINED, part("unreadable", detail=str(exc))
    w.skipped.extend(found.skipped)
    if w.wants_body or (w.policy.body_fallback and not found.documents):
        from invoice_inbox.pipeline import render  # imported by the first mail rendered

        try:
            w.documents.append(_body_document(w.headers, parsed, found.tnef_html, w.policy.limits))
        except render.RenderError as exc:
            return Verdict.QUARANTINED, part("body_not_rendered", error=str(exc))
    else:
        w.documents.extend(found.documents)
    if w.documents:
        return None
    others = [s.name for s in found.skipped]
    if others:
        return Verdict.NOT_IMPORTED, part("no_document_found", names=", ".join(others[:5]))
    return Verdict.NOT_IMPORTED, part("no_document")


def _body_document(
    headers: mime.Headers, parsed: mime.ParsedMessage, tnef_html: str | None, limits: Limits
) -> Document:
    from invoice_inbox.pipeline import render

    sender = f"{headers.sender_name} <{headers.sender}>" if headers.sender_name else headers.sender
    body = render.Body(
        sender=sender or "",
        to=headers.to,
        date=headers.date.strftime("%a, %d %b %Y %H:%M %z") if headers.date else "",
        subject=headers.subject,
        html=parsed.body("html") or tnef_html,
        text=parsed.body("plain"),
        inline=parsed.inline_images(),
    )
    pdf = render.body_to_pdf(body, limits)
    name = sanitize(headers.subject[:80], default="mail") + ".pdf"
    # the rendered PDF's text is the mail's: its IBAN is read there, not from the PDF again
    found = iban.ibans_in_text(f"{body.text or ''}\n{_TAGS.sub(' ', body.html or '')}")
    return Document(
        name, "application/pdf", pdf, kind=Kind.BODY_PDF, iban=found[0] if found else None
    )


# The whole policy, in order (Mailman's chain, as a table).
CHECKS: tuple[tuple[str, Check], ...] = (
    ("size", check_size),
    ("allowed-sender", check_allowed_sender),
    ("rules", check_rules),
    ("has-attachment", check_has_attachment),
    ("documents", check_documents),
)


def decide(raw: bytes, policy: Policy | None = None) -> Decision:
    """Decide for one raw message. Never raises for bad input: unreadable mail is quarantined.
    Only ``MemoryError`` passes, for the decide worker to name the memory limit."""
    policy = policy or Policy()
    try:
        headers, head = mime.read_headers(raw)
        w = _Work(raw=raw, policy=policy, headers=headers, head=head)
    except MemoryError:  # the decide worker names the memory limit (runtime.workers)
        raise
    except Exception as exc:  # the header block itself is unreadable
        return decision(Verdict.QUARANTINED, (part("headers_unreadable", error=str(exc)),), None)
    misses: list[str] = []
    for name, check in CHECKS:
        try:
            stop = check(w)
        except mime.MessageTooComplex as exc:
            stopped = (part("unreadable", detail=str(exc)),)
            return decision(Verdict.QUARANTINED, stopped, w.headers, hits=(name,))
        except LimitExceeded as exc:  # the mail needs more than a limit allows: say which
            return decision(Verdict.QUARANTINED, (_naming(exc),), w.headers, hits=(name,))
        except MemoryError:  # the decide worker names the memory limit (runtime.workers)
            raise
        except Exception as exc:  # a bug or a case nobody foresaw: keep the mail, say why
            error = f"{type(exc).__name__}: {exc}"
            failed = (part("check_failed", check=name, error=error),)
            return decision(Verdict.QUARANTINED, failed, w.headers, hits=(name,))
        if stop is not None:
            verdict, reason = stop
            return decision(
                verdict,
                _with_rule(w.rule, (reason,)),
                w.headers,
                hits=(name,),
                misses=tuple(misses),
                skipped=tuple(w.skipped),
                rule=w.rule.name if w.rule else None,
            )
        misses.append(name)
    rule = w.rule.name if w.rule else None
    names = ", ".join(d.filename for d in w.documents)
    count = len(w.documents)
    found: Parts = (reasons.documents_found(count, w.headers.sender, names),)
    damaged = [d.filename for d in w.documents if d.damaged]
    if damaged:
        found += (part("damaged", names=", ".join(damaged)),)
    return decision(
        Verdict.IMPORT,
        _with_rule(w.rule, found),
        w.headers,
        tuple(d.with_rule(rule) for d in w.documents),
        misses=tuple(misses),
        skipped=tuple(w.skipped),
        rule=rule,
    )


def _naming(exc: LimitExceeded) -> ReasonPart:
    """The sentence of a LimitExceeded, with the name of the limit when it does not say it."""
    reason = str(exc)
    code = "limit_exceeded" if exc.limit in reason else "limit_exceeded_named"
    return part(code, detail=reason, limit=exc.limit)


def _with_rule(rule: Rule | None, parts: Parts) -> Parts:
    if rule is None or rule.name in reasons.english(parts):
        return parts
    return (part("rule", rule=rule.name), *parts)
