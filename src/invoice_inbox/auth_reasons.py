"""A sender authentication's sentence in the reader's language.

``pipeline.trust.authenticate`` stores one English sentence per mail (``sender_auth_reason``):
up to three fixed phrases joined by "; ", each naming domains, results and the like. ``localized``
splits it, matches each phrase against the phrases that module writes, and gives the phrase's
translation with the same values (domains, results and server names are never translated); a
phrase it does not know (written by an older version) stays as it is. English readers get the
sentence unchanged.
"""

from __future__ import annotations

import re

from invoice_inbox.i18n import N_, current_locale, gettext

# (the phrase as the module writes it, with named groups; its template for translators)
_PHRASES: tuple[tuple[str, str], ...] = (
    (r"DNS did not answer \((?P<detail>.*)\)", N_("DNS did not answer (%(detail)s)")),
    (r"try again later", N_("try again later")),
    (
        r"the mail has no From address with a domain to check",
        N_("the mail has no From address with a domain to check"),
    ),
    (
        r"the mail has From addresses in several domains \((?P<domains>.*)\)",
        N_("the mail has From addresses in several domains (%(domains)s)"),
    ),
    (r"DMARC pass", N_("DMARC pass")),
    (r"(?P<domain>\S+) publishes no DMARC record", N_("%(domain)s publishes no DMARC record")),
    (
        r"DNS did not answer for the DMARC record of (?P<domain>\S+)",
        N_("DNS did not answer for the DMARC record of %(domain)s"),
    ),
    (
        r"DNS did not answer for the DKIM key of (?P<domain>\S+)",
        N_("DNS did not answer for the DKIM key of %(domain)s"),
    ),
    (
        r"DNS did not answer for the SPF record of (?P<domain>\S+)",
        N_("DNS did not answer for the SPF record of %(domain)s"),
    ),
    (
        r"From domain (?P<domain>\S+) publishes DMARC p=(?P<policy>\S+)(?: pct=(?P<pct>\d+))?",
        N_("the From domain %(domain)s publishes DMARC p=%(policy)s%(pct)s"),
    ),
    (r"no aligned SPF or DKIM", N_("no aligned SPF or DKIM")),
    (
        r"DKIM signature by (?P<domain>\S+) verified but not aligned with (?P<sender>\S+)",
        N_("DKIM signature by %(domain)s verified but not aligned with %(sender)s"),
    ),
    (r"DKIM signature by (?P<domain>\S+) verified", N_("DKIM signature by %(domain)s verified")),
    (
        r"DKIM signature by (?P<domain>\S+) failed: (?P<detail>.*)",
        N_("DKIM signature by %(domain)s failed: %(detail)s"),
    ),
    (
        r"SPF pass for (?P<domain>\S+) but not aligned with (?P<sender>\S+)",
        N_("SPF pass for %(domain)s but not aligned with %(sender)s"),
    ),
    (
        r"SPF (?P<result>\w+) for (?P<domain>\S+)",
        N_("SPF %(result)s for %(domain)s"),
    ),
    (
        r"(?P<who>.+) reports (?:a )?(?P<check>DKIM|SPF|DMARC) (?P<result>pass|fail) for "
        r"(?P<domain>\S+)",
        N_("%(who)s reports %(check)s %(result)s for %(domain)s"),
    ),
    (
        r"Authentication-Results by (?P<names>.+) ignored \(not from a trusted server\)",
        N_("Authentication-Results by %(names)s ignored (not from a trusted server)"),
    ),
    (
        r"(?P<aligned>no DKIM signature|no aligned DKIM signature)(?:, SPF (?P<spf>\w+))? and "
        r"(?P<domain>\S+) publishes no DMARC record",
        "",  # built from the phrases below
    ),
    (
        r"sender authentication could not read the message[: ]+\(?(?P<detail>[^)]*)\)?",
        N_("sender authentication could not read the message (%(detail)s)"),
    ),
    (r"not checked: the message is too big", N_("not checked: the message is too big")),
)
_COMPILED = tuple((re.compile(pattern), template) for pattern, template in _PHRASES)
_NO_DKIM = N_("no DKIM signature")
_NO_ALIGNED_DKIM = N_("no aligned DKIM signature")
_NONE_AND = N_("%(missing)s and %(domain)s publishes no DMARC record")
_NONE_SPF_AND = N_("%(missing)s, SPF %(spf)s and %(domain)s publishes no DMARC record")


def localized(sentence: str | None) -> str:
    """*sentence* (a stored ``sender_auth_reason``) in the current locale; "" for none."""
    if not sentence:
        return ""
    if current_locale() == "en":
        return sentence
    return "; ".join(_phrase(part) for part in sentence.split("; "))


def _phrase(text: str) -> str:
    for pattern, template in _COMPILED:
        found = pattern.fullmatch(text)
        if found is None:
            continue
        values = {k: v or "" for k, v in found.groupdict().items()}
        if "aligned" in values:
            bare = values["aligned"] == "no DKIM signature"
            missing = gettext(_NO_DKIM if bare else _NO_ALIGNED_DKIM)
            template = _NONE_SPF_AND if values["spf"] else _NONE_AND
            return gettext(template) % {**values, "missing": missing}
        if "pct" in values:
            values["pct"] = f" pct={values['pct']}" if values["pct"] else ""
        try:
            return gettext(template) % values
        except (KeyError, ValueError, TypeError):  # a translation that lost a placeholder
            return text
    return text
