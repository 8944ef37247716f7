"""Provider presets: where a mailbox provider's servers are, which protocols and sign-in methods
it offers, and the OAuth2 scopes each combination needs.

A preset fills in what a user would otherwise look up (host, port, security) and rules out
combinations the provider does not offer. Service base URLs can be pointed elsewhere with
environment variables (tests point them at local stand-ins):

- ``INVOICE_INBOX_GRAPH_URL`` (default ``https://graph.microsoft.com/v1.0``)
- ``INVOICE_INBOX_GMAIL_URL`` (default ``https://gmail.googleapis.com``)
- ``INVOICE_INBOX_MICROSOFT_LOGIN_URL``, ``INVOICE_INBOX_GOOGLE_AUTH_URL``,
  ``INVOICE_INBOX_GOOGLE_TOKEN_URL`` (see ``auth.oauth``)
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from invoice_inbox.i18n import N_

PASSWORD, OAUTH, APP = "password", "oauth", "app"
IMAP, GRAPH, GMAIL_API, POP3 = "imap", "graph", "gmail-api", "pop3"


@dataclass(frozen=True)
class Preset:
    name: str
    label: str
    host: str | None  # None: the user gives it
    port: int
    security: str
    protocols: tuple[str, ...]  # the first is the default with OAuth2
    auths: tuple[str, ...]  # the first is the default
    oauth: str | None = None  # "microsoft" | "google": whose authorization server
    pop3_host: str | None = None  # where the provider serves POP3 (port 995, ssl)
    # The servers whose Authentication-Results (and ARC) headers a source of this provider
    # believes by default (pipeline.trust.provider; "protection.outlook.com": Exchange Online's
    # header without an authserv-id, believed only as the topmost one).
    authserv_ids: tuple[str, ...] = ()

    def default_protocol(self, auth: str) -> str:
        if self.protocols == (POP3,):
            return POP3
        return self.protocols[0] if auth != PASSWORD else IMAP


# Labels that are not brand names are marked for the catalogues (N_) and shown with gettext.
PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "microsoft365",
            "Microsoft 365 / Exchange Online",
            "outlook.office365.com",
            993,
            "ssl",
            (GRAPH, IMAP, POP3),
            (OAUTH, APP, PASSWORD),
            oauth="microsoft",
            pop3_host="outlook.office365.com",
            authserv_ids=("protection.outlook.com", "mx.microsoft.com"),
        ),
        Preset(
            "gmail",
            "Gmail / Google Workspace",
            "imap.gmail.com",
            993,
            "ssl",
            (GMAIL_API, IMAP, POP3),
            (OAUTH, PASSWORD),
            oauth="google",
            pop3_host="pop.gmail.com",
            authserv_ids=("mx.google.com",),
        ),
        Preset("icloud", "iCloud Mail", "imap.mail.me.com", 993, "ssl", (IMAP,), (PASSWORD,)),
        Preset("imap", N_("Other IMAP server"), None, 993, "ssl", (IMAP,), (PASSWORD,)),
        Preset("pop3", N_("POP3 server"), None, 995, "ssl", (POP3,), (PASSWORD,)),
    )
}

MICROSOFT_PASSWORD_WARNING = N_(
    "Microsoft no longer accepts passwords (basic authentication) for Exchange Online IMAP and"
    " POP since 2022-2023, so this source will most likely be refused; use --auth oauth"
    " (sign in as the mailbox user) or --auth app (tenant ID, client ID and client secret)"
)


def scopes(oauth: str, protocol: str, auth: str, *, shared: bool, modify: bool) -> list[str]:
    """The OAuth2 scopes to ask for.

    Microsoft: delegated IMAP needs ``IMAP.AccessAsUser.All`` on the Outlook resource (POP3
    ``POP.AccessAsUser.All``), Graph
    ``Mail.ReadWrite`` (``.Shared`` for mailboxes shared with the user), both with
    ``offline_access`` for a refresh token; app-only asks for the resource's ``/.default``
    (the application permissions an admin consented to). Google: IMAP and POP3 need the full
    ``https://mail.google.com/`` scope; the Gmail API ``gmail.modify`` when mail is moved or
    marked read, else ``gmail.readonly``."""
    if oauth == "microsoft":
        if protocol in (IMAP, POP3):
            if auth == APP:
                return ["https://outlook.office365.com/.default"]
            access = "IMAP" if protocol == IMAP else "POP"
            return [f"https://outlook.office.com/{access}.AccessAsUser.All", "offline_access"]
        if auth == APP:
            return ["https://graph.microsoft.com/.default"]
        wanted = ["https://graph.microsoft.com/Mail.ReadWrite"]
        if shared:
            wanted.append("https://graph.microsoft.com/Mail.ReadWrite.Shared")
        return [*wanted, "offline_access"]
    if protocol in (IMAP, POP3):
        return ["https://mail.google.com/"]
    access = "gmail.modify" if modify else "gmail.readonly"
    return [f"https://www.googleapis.com/auth/{access}"]


def graph_url() -> str:
    return os.environ.get("INVOICE_INBOX_GRAPH_URL", "https://graph.microsoft.com/v1.0")


def gmail_url() -> str:
    return os.environ.get("INVOICE_INBOX_GMAIL_URL", "https://gmail.googleapis.com")
