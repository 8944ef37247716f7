"""Free-mail and big mailbox-provider domains: anyone can have an address there, so such a
domain never identifies a supplier by itself, and it is never called a look-alike of one.

Below every layer (it imports nothing of ours): ``pipeline.trust.lookalike`` and
``store.suppliers`` both ask it."""

from __future__ import annotations

FREEMAIL_DOMAINS: frozenset[str] = frozenset(
    {
        "aol.com",
        "freenet.de",
        "gmail.com",
        "gmx.at",
        "gmx.ch",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "googlemail.com",
        "hotmail.com",
        "hotmail.de",
        "icloud.com",
        "live.com",
        "mail.com",
        "mail.ru",
        "mailbox.org",
        "me.com",
        "msn.com",
        "orange.fr",
        "outlook.com",
        "outlook.de",
        "posteo.de",
        "proton.me",
        "protonmail.com",
        "t-online.de",
        "web.de",
        "yahoo.com",
        "yahoo.de",
        "yandex.ru",
        "zoho.com",
    }
)


def is_freemail(domain: str | None) -> bool:
    """Whether *domain* (or a parent of it) is a free-mail provider's."""
    if not domain:
        return False
    d = domain.strip().rstrip(".").lower()
    return any(d == f or d.endswith("." + f) for f in FREEMAIL_DOMAINS)
