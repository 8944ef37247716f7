"""A source's sender policy applied to a decision: ``off``, ``flag`` or ``require``.

The decision is made first (``pipeline.decide``); ``apply`` then looks at who the mail proves
its sender is (``SenderAuth``) and says what that changes:

- ``off``: nothing; the result is recorded on the decision all the same;
- ``flag`` (the default): the mail is imported as decided, its reason saying "sender not
  authenticated: ..." when the From domain is not proven;
- ``require``: a mail to be imported whose From domain is not proven is not imported, and the
  reason says why; so allowed senders match only authenticated From domains. A DNS failure
  says so, and that a recheck will try again.

Whatever the mode, mail from a From domain the company blocked (a document marked as fraud)
is never imported, and a From domain that looks like a known one says so in the reason. The
policy is one more check of the chain: "sender-auth" is a hit when it stopped the mail, a miss
when it let the mail pass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from invoice_inbox import reasons
from invoice_inbox.pipeline.decide import Decision, Verdict
from invoice_inbox.pipeline.trust.result import AuthStatus, SenderAuth
from invoice_inbox.reasons import ReasonPart, part

OFF, FLAG, REQUIRE = "off", "flag", "require"
MODES = (OFF, FLAG, REQUIRE)
CHECK = "sender-auth"


def from_domain(decision: Decision, auth: SenderAuth | None) -> str | None:
    """The mail's From domain: as authentication read it, else from the decision's headers."""
    if auth is not None and auth.from_domain:
        return auth.from_domain.lower().rstrip(".")
    sender = decision.headers.sender if decision.headers else None
    if not sender or "@" not in sender:
        return None
    return sender.rpartition("@")[2].lower().rstrip(".") or None


def blocked_by(domain: str | None, blocked: Mapping[str, str]) -> str | None:
    """The blocked domain that *domain* is or belongs to (``mail.evil.test`` is blocked with
    ``evil.test``), else None."""
    if not domain:
        return None
    for name in blocked:
        b = name.lower().rstrip(".")
        if domain == b or domain.endswith("." + b):
            return name
    return None


def apply(
    decision: Decision,
    auth: SenderAuth | None,
    *,
    mode: str,
    lookalike_of: str | None = None,
    blocked: Mapping[str, str] | None = None,
) -> Decision:
    """The decision under the source's sender policy *mode*, with *auth* and *lookalike_of*
    recorded on it. *blocked*: the company's blocked From domains and why."""
    if mode not in MODES:
        raise ValueError(f"sender authentication must be one of {', '.join(MODES)}, not {mode!r}")
    if decision.verdict is not Verdict.IMPORT:  # an earlier check stopped it: that is its reason
        return dataclasses.replace(decision, sender_auth=auth, lookalike_of=lookalike_of)
    domain = from_domain(decision, auth)
    who = (decision.headers.sender if decision.headers else None) or None
    block = blocked_by(domain, blocked or {})
    if block is not None:
        reason = part("sender_blocked", domain=block, why=(blocked or {})[block])
        return _stopped(decision, auth, reason, domain, lookalike_of)
    if mode == OFF or (auth is not None and auth.passed):
        return _passed(decision, auth, None, domain, lookalike_of)
    if mode == FLAG:
        return _passed(decision, auth, _why(auth), domain, lookalike_of)
    if auth is not None and auth.status is AuthStatus.TEMPERROR:
        detail = auth.reason.removesuffix("; try again later")
        reason = part("sender_dns_failed", sender=who, detail=detail)
    else:
        reason = part("sender_refused", sender=who, why=_why(auth))
    return _stopped(decision, auth, reason, domain, lookalike_of)


def _why(auth: SenderAuth | None) -> str:
    if auth is None:
        return "sender authentication did not run"
    return auth.reason or f"sender authentication: {auth.status}"


def _looks(domain: str | None, lookalike_of: str | None) -> ReasonPart | None:
    return part("lookalike", domain=domain, known=lookalike_of) if lookalike_of else None


# the English of the notes a passed mail gets, by (why, From domain, look-alike): a run's mails
# of one sender get the same notes, and rendering them costs more than the rest of apply
_NOTES_TEXT: dict[tuple[str | None, str | None, str | None], str] = {}
_NOTES_KEPT = 1024  # texts kept (then the cache starts again)


def _passed(
    decision: Decision,
    auth: SenderAuth | None,
    why: str | None,
    domain: str | None,
    lookalike_of: str | None,
) -> Decision:
    """Imported as decided; *why* (the mail is not authenticated) and a look-alike noted."""
    looks = _looks(domain, lookalike_of)
    notes = [part("sender_not_authenticated", why=why)] if why is not None else []
    if looks is not None:
        notes.append(looks)
    misses = (*decision.misses, CHECK)
    if not notes:
        return dataclasses.replace(
            decision, misses=misses, sender_auth=auth, lookalike_of=lookalike_of
        )
    key = (why, domain if looks else None, lookalike_of)
    text = _NOTES_TEXT.get(key)
    if text is None:
        text = reasons.english(notes)
        if len(_NOTES_TEXT) >= _NOTES_KEPT:
            _NOTES_TEXT.clear()
        _NOTES_TEXT[key] = text
    return dataclasses.replace(
        decision,
        reason="; ".join([decision.reason, text]),
        reason_parts=(*decision.reason_parts, *notes),
        misses=misses,
        sender_auth=auth,
        lookalike_of=lookalike_of,
    )


def _stopped(
    decision: Decision,
    auth: SenderAuth | None,
    reason: ReasonPart,
    domain: str | None,
    lookalike_of: str | None,
) -> Decision:
    """Not imported: the documents stay out of the queue, the mail is filed as not imported."""
    looks = _looks(domain, lookalike_of)
    parts = (reason, looks) if looks else (reason,)
    return dataclasses.replace(
        decision,
        verdict=Verdict.NOT_IMPORTED,
        reason=reasons.english(parts),
        reason_parts=parts,
        documents=(),
        hits=(CHECK,),
        sender_auth=auth,
        lookalike_of=lookalike_of,
    )
