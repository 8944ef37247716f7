"""Decision reasons as codes with parameters, rendered in the reader's language.

A reason is a sequence of ``ReasonPart``: a code from the catalogue below and its parameters
(a sender, a file name, a size; the text of an error stays a parameter). The ledger stores the
parts as JSON (``message.reason_parts``) beside the English text (``message.reason``), so a
screen, the API and the CLI show the reason in their reader's language, and integrations read
the code instead of parsing prose. ``english(parts)`` is the text the product always wrote;
``localized(parts)`` the same in the current locale (``invoice_inbox.i18n``).

Parts are joined with "; ", except after a prefix ("rule 'x'", "re-checked", "could not be
processed"), which is joined with ": ". A parameter may hold parts of its own (a duplicate names
its original's reason), or that reason's English text when the original was decided before
reasons had codes. Below every layer but ``i18n``: it imports nothing else of ours.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from babel.numbers import format_decimal

from invoice_inbox import auth_reasons, i18n
from invoice_inbox.i18n import N_

# A parameter: a plain value, or a reason of its own (parts, or English text of an old row).
Param = str | int | float | None | tuple["ReasonPart", ...]

# the sentence of an error from deeper down, as it said it (not translated: only its code is)
_AS_SAID = "%(detail)s"

TEMPLATES: dict[str, str] = {
    # pipeline.decide
    "message_too_big": N_("the message is %(size)s MB; the limit is %(limit)s MB"),
    "sender_not_allowed": N_("sender %(sender)s is not on the allowed list"),
    "rule_skip": N_("rule %(rule)s says not to import mail like this"),
    "no_attachment": N_("no attachment"),
    "no_document": N_("no PDF or e-invoice attachment"),
    "no_document_found": N_("no PDF or e-invoice attachment (found: %(names)s)"),
    "unreadable": _AS_SAID,
    "limit_exceeded": _AS_SAID,
    "limit_exceeded_named": N_("%(detail)s (limit %(limit)s)"),
    "body_not_rendered": N_("the mail text could not be rendered to PDF: %(error)s"),
    "headers_unreadable": N_("could not read the message headers: %(error)s"),
    "check_failed": N_("could not read the message (%(check)s): %(error)s"),
    "damaged": N_("damaged in transfer, imported as far as readable: %(names)s"),
    "rule": N_("rule %(rule)s"),
    # pipeline.trust.policy
    "sender_blocked": N_("sender domain %(domain)s is blocked: %(why)s"),
    "lookalike": N_("From domain %(domain)s looks like %(known)s"),
    "sender_not_authenticated": N_("sender not authenticated: %(why)s"),
    "sender_refused": N_("sender %(sender)s is not authenticated: %(why)s"),
    "sender_dns_failed": N_(
        "sender %(sender)s could not be authenticated, DNS failed: %(detail)s;"
        " a recheck will try again"
    ),
    # runtime: copies, the decide workers, re-checks, a clerk's "import anyway"
    "duplicate": N_("the same message was already handled (%(original)s)"),
    "received_again": N_("the same mail was already received: a copy sent again (%(original)s)"),
    "received_again_id": N_(
        "the same mail (Message-ID %(message_id)s) was already received:"
        " a copy sent again (%(original)s)"
    ),
    "already_queued": N_("already in the queue: %(files)s"),
    "exact_duplicate": N_("%(file)s (exact duplicate of #%(original_id)s)"),
    "not_processed": N_("could not be processed"),
    "stopped_twice": N_("could not be processed (stopped the worker twice)"),
    "worker_memory": N_("exceeded the memory limit (%(mb)s MB)"),
    "worker_time": N_("took longer than %(seconds)s s (the worker was stopped)"),
    "worker_cpu": N_("exceeded the CPU time limit (%(seconds)s s)"),
    "worker_signal": N_("stopped the worker: killed by signal %(signal)s (%(name)s)"),
    "worker_exit": N_("stopped the worker: exit status %(status)s"),
    "worker_failed": _AS_SAID,
    "rechecked": N_("re-checked"),
    "imported_anyway": N_("imported by %(by)s on %(date)s (Import anyway)"),
}

# codes whose text leads the next part's: "rule 'x': no attachment"
PREFIXES = frozenset({"rule", "not_processed", "rechecked", "imported_anyway"})
# codes whose parameters are written as Python writes a quoted name ('x')
_QUOTED = {"rule": ("rule",), "rule_skip": ("rule",)}
# a parameter that holds parts of its own joins them so in these codes (else "; ")
_LIST_JOIN = {"already_queued": ", "}
NO_SENDER = N_("(no sender address)")


@dataclass(frozen=True)
class ReasonPart:
    """One sentence of a reason: a catalogue code and its parameters."""

    code: str
    params: Mapping[str, Param] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in TEMPLATES and self.code != _DOCUMENTS:
            raise KeyError(f"no reason template for the code {self.code!r}")

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "params": {k: _param_json(v) for k, v in self.params.items()}}


Parts = tuple[ReasonPart, ...]

_DOCUMENTS = "documents_found"  # plural: rendered by ngettext below


def part(code: str, **params: Param) -> ReasonPart:
    """The part *code* with *params*: ``part("sender_not_allowed", sender="a@b.test")``."""
    return ReasonPart(code, params)


def documents_found(count: int, sender: str | None, names: str) -> ReasonPart:
    """ "2 documents from a@b.test: x.pdf, y.pdf" (the plural chosen when rendered)."""
    return ReasonPart(_DOCUMENTS, {"count": count, "sender": str(sender), "names": names})


def english(parts: Sequence[ReasonPart]) -> str:
    """The reason in English: the text stored in ``message.reason``."""
    if i18n.current_locale() == i18n.DEFAULT_LOCALE:  # already English: no switch and back
        return localized(parts)
    with i18n.use_locale(i18n.DEFAULT_LOCALE):
        return localized(parts)


def localized(parts: Sequence[ReasonPart]) -> str:
    """The reason in the current locale (English for a text nobody translated yet)."""
    out = ""
    for i, p in enumerate(parts):
        if i:
            out += ": " if parts[i - 1].code in PREFIXES else "; "
        out += _render(p)
    return out


def reason_code(parts: Sequence[ReasonPart]) -> str | None:
    """The code an integration branches on: the first part's, a rule's name prefix skipped."""
    for p in parts:
        if p.code != "rule":
            return p.code
    return None


def to_json(parts: Iterable[ReasonPart]) -> list[dict[str, Any]]:
    """The parts as stored in ``message.reason_parts`` and given by the API."""
    return [p.to_json() for p in parts]


def from_json(data: object) -> Parts:
    """Parts read back from JSON; an unknown code or a malformed entry is left out."""
    if not isinstance(data, list):
        return ()
    out: list[ReasonPart] = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("code"), str):
            continue
        params = item.get("params") if isinstance(item.get("params"), dict) else {}
        assert isinstance(params, dict)
        try:
            out.append(ReasonPart(item["code"], {k: _param_read(v) for k, v in params.items()}))
        except KeyError:
            continue
    return tuple(out)


def text(reason: str, reason_parts: object) -> str:
    """A stored reason for the current reader: its parts in the current locale, or the English
    ``reason`` of a row decided before reasons had codes (``reason_parts`` None)."""
    parts = from_json(reason_parts)
    return localized(parts) if parts else reason


def _render(p: ReasonPart) -> str:
    params: dict[str, object] = {k: _param_text(p.code, v) for k, v in p.params.items()}
    for key in _QUOTED.get(p.code, ()):
        params[key] = repr(p.params.get(key))
    if p.code in _AUTH_SENTENCES and isinstance(p.params.get("why"), str):
        params["why"] = auth_reasons.localized(str(p.params["why"]))  # its phrases translated
    if p.code == _DOCUMENTS:
        count = p.params.get("count")
        n = count if isinstance(count, int) else 0
        template = i18n.ngettext(
            "%(count)s document from %(sender)s: %(names)s",
            "%(count)s documents from %(sender)s: %(names)s",
            n,
        )
    else:
        template = i18n.gettext(TEMPLATES[p.code])
    try:
        return template % params
    except (KeyError, ValueError, TypeError):  # a translation naming another parameter
        return TEMPLATES.get(p.code, "%(count)s documents from %(sender)s: %(names)s") % params


# parts whose "why" is sender authentication's own sentence (stored in English)
_AUTH_SENTENCES = ("sender_not_authenticated", "sender_refused")


def _param_text(code: str, value: Param) -> object:
    if isinstance(value, tuple):
        joiner = _LIST_JOIN.get(code)
        return joiner.join(_render(v) for v in value) if joiner else localized(value)
    if isinstance(value, float):
        locale = i18n.current_locale()
        if locale != i18n.DEFAULT_LOCALE:
            try:
                return format_decimal(value, format="#,##0.0", locale=locale)
            except (ValueError, LookupError):  # a locale Babel does not know (a pseudo-locale)
                pass
        return f"{value:,.1f}"
    if value is None:  # only a sender is ever missing
        return i18n.gettext(NO_SENDER)
    return value


def _param_json(value: Param) -> object:
    return to_json(value) if isinstance(value, tuple) else value


def _param_read(value: object) -> Param:
    if isinstance(value, list):
        return from_json(value)
    if value is None or isinstance(value, str | int | float):
        return value
    return str(value)
