"""A stored secret belongs to where it was stored for, and is forgotten when that changes.

A source's password, client secret and refresh token were given for one mail server (provider,
protocol, host, port, security), the certificates trusted for it (a pasted CA certificate,
certificate verification on or off), one user name and one OAuth2 sign-in (kind, tenant,
client).
When any of these changes, the secrets the same change does not replace are cleared and the
source asks for them again, in one sentence (:func:`cleared`). Otherwise anyone allowed to
change a source could read its stored password out: point it at a server they control and
press "check". ``runtime.configure`` applies this to every change made on the form or the API;
the CLI's ``source set`` cannot change these settings.
"""

from __future__ import annotations

from invoice_inbox.connectors import presets
from invoice_inbox.i18n import N_, _
from invoice_inbox.json_types import SourceSettings
from invoice_inbox.store.models import AuthState, Source

SERVER, USER_NAME = N_("the server"), N_("the user name")
SIGN_IN = N_("the sign-in settings")
TRUST = N_(
    "the certificate settings"
)  # trusting another CA, or none, could hand it to someone else
# The sentences are stored in English (``auth_error``: :func:`cleared` finds them by _MARK) and
# shown in the reader's language by :func:`shown`.
PASSWORD_CLEARED = N_("the password was cleared because %(what)s changed; enter it again")
CLIENT_SECRET_CLEARED = N_("the client secret was cleared because %(what)s changed; enter it again")
BOTH_CLEARED = N_(
    "the client secret and the sign-in were cleared because %(what)s changed;"
    " enter the client secret again, then sign in again"
)
SIGN_IN_CLEARED = N_("the sign-in was cleared because %(what)s changed; sign in again")
_MARK = " cleared because "  # in every sentence of ours, never in a provider's refusal


def _fold(value: object) -> object:
    return value.casefold() if isinstance(value, str) else value


def facts(values: SourceSettings) -> dict[str, tuple[object, ...]]:
    """What the secrets of a source with these settings (configure's field names) were given
    for, by what a person would call it."""
    protocol = values["protocol"]
    server: tuple[object, ...] = (values["provider"], protocol)
    if protocol in (presets.IMAP, presets.POP3):  # the cloud APIs have fixed addresses
        server += (_fold(values["host"]), values["port"], values["security"])
    trust: tuple[object, ...] = ()
    if protocol in (presets.IMAP, presets.POP3) and values.get("security") != "none":
        trust = (values.get("ca_pem") or None, values.get("verify_tls", True) is not False)
    return {
        SERVER: server,
        TRUST: trust,
        USER_NAME: (_fold(values["username"]),),
        SIGN_IN: (values["auth"], _fold(values.get("tenant_id")), _fold(values.get("client_id"))),
    }


def changed(before: SourceSettings, after: SourceSettings) -> str | None:
    """What changed between two sets of settings that the secrets depend on (the server, the
    certificate settings, the user name or the sign-in settings), or None."""
    old, new = facts(before), facts(after)
    order = (SERVER, TRUST, USER_NAME, SIGN_IN)
    return next((what for what in order if old[what] != new[what]), None)


def forget(
    src: Source, what: str, *, auth: str, new_password: bool, new_client_secret: bool
) -> str | None:
    """Clear *src*'s secrets that the change of *what* does not replace and set what the
    source now waits for (*auth* is its new sign-in); the sentence that asks for them again,
    or None when nothing is missing. Call before the new secrets are stored."""
    lost_password = src.secret is not None and not new_password
    lost_client_secret = src.client_secret is not None and not new_client_secret
    lost_token = src.token is not None
    if lost_password:
        src.secret = None
    if lost_client_secret:
        src.client_secret = None
    src.token = None
    sentence = None
    if auth == presets.PASSWORD:
        if lost_password:
            sentence = PASSWORD_CLEARED % {"what": what}
            src.auth_state, src.auth_error = AuthState.NEEDS_REAUTHENTICATION, sentence
    elif auth == presets.APP:
        if lost_client_secret:
            sentence = CLIENT_SECRET_CLEARED % {"what": what}
            src.auth_state, src.auth_error = AuthState.NEEDS_REAUTHENTICATION, sentence
    else:  # a delegated sign-in is always made anew
        if lost_client_secret:
            sentence = BOTH_CLEARED % {"what": what}
        elif lost_token:
            sentence = SIGN_IN_CLEARED % {"what": what}
        src.auth_state, src.auth_error = AuthState.NEEDS_AUTHENTICATION, sentence
    return shown(sentence) if sentence else None


def cleared(src: Source) -> str | None:
    """The sentence asking for the secrets a change cleared, while they are still missing."""
    waiting = src.auth_state in (AuthState.NEEDS_AUTHENTICATION, AuthState.NEEDS_REAUTHENTICATION)
    if waiting and src.auth_error and _MARK in src.auth_error:
        return shown(src.auth_error)
    return None


def shown(sentence: str) -> str:
    """A stored sentence of :func:`forget` in the reader's language (itself if not ours)."""
    for template in (PASSWORD_CLEARED, CLIENT_SECRET_CLEARED, BOTH_CLEARED, SIGN_IN_CLEARED):
        for what in (SERVER, TRUST, USER_NAME, SIGN_IN):
            if sentence == template % {"what": what}:
                return _(template) % {"what": _(what)}
    return sentence


def secret_field(src: Source) -> str:
    """The form field that asks for what :func:`cleared` says is missing."""
    if src.auth == presets.PASSWORD:
        return "password"
    if src.auth == presets.APP or (src.auth_error or "").startswith("the client secret"):
        return "client_secret"
    return "authenticate"
