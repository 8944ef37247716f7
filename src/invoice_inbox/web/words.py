"""Words for the codes the sources, companies and users pages show (roles, why an address is
notified, the generic provider presets): English marked with ``N_``, translated into the
reader's language when a page is rendered (the ``role_word``/``role_choice``/``recipient_why``
filters, ``preset_label``, ``schedule_words``)."""

from __future__ import annotations

from invoice_inbox.i18n import N_, gettext, ngettext
from invoice_inbox.runtime import schedules
from invoice_inbox.store.companies import IMPORT_DESCRIPTION

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

# the provider presets whose names are words, not brands (connectors.presets labels)
PRESET_LABELS = {"imap": N_("Other IMAP server"), "pop3": N_("POP3 server")}


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


def preset_label(name: str, label: str) -> str:
    """A provider preset's name for people: brands as they are, the generic ones translated."""
    return gettext(PRESET_LABELS[name]) if name in PRESET_LABELS else label


def schedule_words(text: str) -> str:
    """A schedule as people say it ("every 60m" -> "every 60 minutes"); the text itself when it
    does not parse."""
    try:
        schedule = schedules.parse(text)
    except schedules.ScheduleError:
        return text
    if isinstance(schedule, schedules.Every):
        n = schedule.minutes
        return ngettext("every %(n)s minute", "every %(n)s minutes", n) % {"n": n}
    if isinstance(schedule, schedules.At):
        times = ", ".join(t.strftime("%H:%M") for t in schedule.times)
        return gettext("at %(times)s (%(zone)s)") % {"times": times, "zone": schedule.zone}
    return gettext("only when someone presses Fetch now")


def source_description(description: str | None, company: str | None = None) -> str:
    """A source's description; the one an import source is made with, in the reader's
    language (any other is the administrator's own text, shown as written)."""
    if not description:
        return ""
    if company is not None and description == IMPORT_DESCRIPTION % {"company": company}:
        return gettext(IMPORT_DESCRIPTION) % {"company": company}
    return description
