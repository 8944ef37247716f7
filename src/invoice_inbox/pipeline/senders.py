"""The allowed-senders list: exact addresses and ``*@domain`` wildcards, case-insensitive."""

from __future__ import annotations

from collections.abc import Iterable

from invoice_inbox.i18n import _


class InvalidPattern(ValueError):
    """An allowed-sender pattern that is neither an address nor ``*@domain``; ``problem`` says
    what is wrong ("shape", "wildcard", "domain") for callers that word it their own way."""

    def __init__(self, message: str, pattern: str, problem: str) -> None:
        super().__init__(message)
        self.pattern = pattern
        self.problem = problem


def normalize_pattern(pattern: str) -> str:
    """Check and lower-case one pattern; raise InvalidPattern with a sentence if it is wrong."""
    p = pattern.strip().lower()
    local, at, domain = p.rpartition("@")
    if not at or not domain or "." not in domain or not local or " " in p:
        raise InvalidPattern(
            _("allowed sender %(pattern)r is not an address or a *@domain pattern")
            % {"pattern": pattern},
            pattern,
            "shape",
        )
    if "*" in local and local != "*":
        raise InvalidPattern(
            _("allowed sender %(pattern)r: only *@domain wildcards are supported")
            % {"pattern": pattern},
            pattern,
            "wildcard",
        )
    if "*" in domain:
        raise InvalidPattern(
            _("allowed sender %(pattern)r: the domain cannot hold a wildcard")
            % {"pattern": pattern},
            pattern,
            "domain",
        )
    return p


def is_allowed(address: str | None, patterns: Iterable[str]) -> bool:
    """True when *address* matches one of *patterns*; an empty pattern list allows everyone."""
    patterns = list(patterns)
    if not patterns:
        return True
    if not address:
        return False
    addr = address.strip().lower()
    domain = addr.rpartition("@")[2]
    for p in patterns:
        p = p.lower()
        if p == addr or (p.startswith("*@") and p[2:] == domain):
            return True
    return False
