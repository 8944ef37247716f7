"""Import rules ("import standards"): per source, named and ordered, the first match decides.

A rule matches a sender (an address or ``*@domain``) and, optionally, a keyword that must appear
in the subject or the body (case-insensitive). It says what to do with the mail: import its
attachments (the default), import the mail body itself as the invoice, or skip the mail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from invoice_inbox.i18n import _
from invoice_inbox.pipeline import senders


class Action(StrEnum):
    ATTACHMENTS = "attachments"
    BODY = "body"
    SKIP = "skip"


class InvalidRule(ValueError):
    """A rule that cannot work; the message is one sentence."""


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    sender: str
    keyword: str | None = None
    action: Action = Action.ATTACHMENTS

    @classmethod
    def make(
        cls, name: str, sender: str, keyword: str | None = None, action: str = "attachments"
    ) -> Rule:
        """Check and normalise a rule as a user typed it."""
        name = name.strip()
        if not name:
            raise InvalidRule(_("a rule needs a name"))
        try:
            pattern = senders.normalize_pattern(sender)
        except senders.InvalidPattern as exc:
            raise InvalidRule(_sender_problem(exc)) from None
        try:
            act = Action(action.strip().lower())
        except ValueError:
            choices = ", ".join(a.value for a in Action)
            raise InvalidRule(
                _("rule action %(action)r is not one of: %(choices)s")
                % {"action": action, "choices": choices}
            ) from None
        return cls(name, pattern, (keyword or "").strip() or None, act)

    def matches(self, sender: str | None, subject: str, body: Callable[[], str]) -> bool:
        """True when the sender matches and, if the rule has a keyword, the subject or the body
        holds it. *body* is called only when the keyword is not in the subject."""
        if not senders.is_allowed(sender, [self.sender]) or not sender:
            return False
        if self.keyword is None:
            return True
        needle = self.keyword.casefold()
        return needle in subject.casefold() or needle in body().casefold()


def _sender_problem(exc: senders.InvalidPattern) -> str:
    """The allowed-sender sentence of *exc*, said of a rule's sender."""
    words = {"pattern": exc.pattern}
    if exc.problem == "wildcard":
        return _("rule sender %(pattern)r: only *@domain wildcards are supported") % words
    if exc.problem == "domain":
        return _("rule sender %(pattern)r: the domain cannot hold a wildcard") % words
    return _("rule sender %(pattern)r is not an address or a *@domain pattern") % words


def first_match(
    rules: Iterable[Rule], sender: str | None, subject: str, body: Callable[[], str]
) -> Rule | None:
    """The first rule, in order, that matches the mail; None when none does."""
    for rule in rules:
        if rule.matches(sender, subject, body):
            return rule
    return None
