"""Words for the codes the sources, companies and users pages show (roles, why an address is
notified): English marked with ``N_``, translated into the reader's language when
a page is rendered (the templates' ``role_word``/``role_choice``/``recipient_why`` filters)."""

from __future__ import annotations

from invoice_inbox.i18n import N_, gettext

ROLE_WORDS = {"admin": N_("admin"), "clerk": N_("clerk"), "viewer": N_("viewer")}
# a role as the role select offers it: what someone with that role may do
ROLE_CHOICES = {
    "admin": N_("administrator: everything"),
    "clerk": N_("clerk: documents and fetch now"),
    "viewer": N_("viewer: look only"),
}
# why an address gets a company's notifications
RECIPIENT_WHY = {
    "admin": N_("administrator"),
    "user": N_("user of this company"),
    "extra": N_("added here"),
}


def _word(words: dict[str, str], code: str | None) -> str:
    if code is None:
        return "–"
    found = words.get(str(code))
    return gettext(found) if found is not None else str(code)


def role_word(role: str | None) -> str:
    """A user's role in the reader's language ("admin" → "Administrator" in German)."""
    return _word(ROLE_WORDS, role)


def role_choice(role: str | None) -> str:
    """A role with what it may do, for the role select."""
    return _word(ROLE_CHOICES, role)


def recipient_why(why: str | None) -> str:
    """Why an address gets a company's notifications, in the reader's language."""
    return _word(RECIPIENT_WHY, why)
