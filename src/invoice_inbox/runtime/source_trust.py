"""A source's sender-authentication settings as a person or an integrator gives them: the
policy (``off``, ``flag``, ``require``) and the authserv-ids whose Authentication-Results it
believes. One reading for the CLI, the form and the API; a wrong value is one sentence.

``trusted_authserv_ids`` is None for "the provider preset's" (Microsoft 365 and Gmail name
their servers) and a list otherwise; an empty list trusts no provider's results (DKIM, which
is verified here, still counts).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from invoice_inbox.connectors import presets
from invoice_inbox.i18n import N_
from invoice_inbox.i18n import gettext as _

OFF, FLAG, REQUIRE = "off", "flag", "require"
MODES = (OFF, FLAG, REQUIRE)
DEFAULT_MODE = FLAG
MODE_HELP = {  # English; gettext() them when shown
    OFF: N_("record the result only"),
    FLAG: N_("import as decided and flag mail whose sender is not authenticated"),
    REQUIRE: N_("import only mail whose sender is authenticated"),
}

# an authserv-id (RFC 8601 section 2.5): in practice a host name such as mx.google.com
_AUTHSERV_ID = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,251}[a-z0-9])?")


class BadSetting(ValueError):
    """A value that is not a sender-authentication setting; the message is one sentence."""


def mode(value: object) -> str:
    """The policy *value* names (empty: the default, ``flag``)."""
    text = str(value or "").strip().lower() or DEFAULT_MODE
    if text not in MODES:
        raise BadSetting(_("choose off, flag or require, not %(value)r") % {"value": str(value)})
    return text


def authserv_ids(value: str | Iterable[object] | None) -> list[str] | None:
    """The authserv-ids *value* lists (one per line when text), lower case and each once;
    None (the preset's) for None or empty text, ``[]`` for an empty list."""
    if value is None:
        return None
    if isinstance(value, str):
        if not value.strip():
            return None
        items = re.split(r"[\s,]+", value)
    else:
        items = [str(v) for v in value]
    found: list[str] = []
    for item in items:
        text = item.strip().lower()
        if not text:
            continue
        if not _AUTHSERV_ID.fullmatch(text):
            raise BadSetting(
                _("%(value)r is not an authserv-id (a host name, mx.example)")
                % {"value": item.strip()}
            )
        if text not in found:
            found.append(text)
    return found


def preset_authserv_ids(provider: str) -> list[str]:
    """The authserv-ids a provider preset trusts by default ([] when it names none)."""
    preset = presets.PRESETS.get(provider)
    return list(getattr(preset, "authserv_ids", ()) or ())


def effective_authserv_ids(provider: str, stored: list[str] | None) -> list[str]:
    """The authserv-ids a source believes: its own list, else its preset's."""
    return list(stored) if stored is not None else preset_authserv_ids(provider)
