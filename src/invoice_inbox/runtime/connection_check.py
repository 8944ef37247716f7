"""Check a source's connection with what is typed on its form, before anything is saved.

The check connects with exactly the typed settings (server, port, security, CA certificate,
user name, a typed password) and lists the server's folders with how many mails each holds.
A stored password is sent only to the server and user it was stored for
(``runtime.secret_scope``): with a different server or user name typed, the password must be
typed too; the server is still reached (greeting and TLS, no sign-in), so a wrong host, port or
security is named first. A check waits at most :data:`GREETING_TIMEOUT` seconds for the server
to greet, so a port that expects TLS (it stays silent) is named within seconds.

Sources that sign in with OAuth2, or reach the Graph or Gmail API, are checked with their
saved settings: their sign-in belongs to the saved client and tenant. :func:`saved` checks the
saved settings (the API's and the CLI's check) with the same short greeting timeout;
:func:`source` adds which of the source's folders are missing and whether mail can be filed to
its move targets (``{year}`` as of today): on IMAP a missing target is created and deleted again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace

from invoice_inbox.connectors import presets
from invoice_inbox.connectors.base import Connector
from invoice_inbox.connectors.imap import ImapConnector, ImapSettings
from invoice_inbox.connectors.imap_names import FolderNameInvalid
from invoice_inbox.connectors.pop3 import Pop3Connector, Pop3Settings
from invoice_inbox.i18n import gettext as _
from invoice_inbox.json_types import SourceSettings
from invoice_inbox.pipeline.decide import Verdict
from invoice_inbox.runtime import configure, runner, secret_scope
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.source_plan import SourcePlan
from invoice_inbox.store import sources as sources_store
from invoice_inbox.store.models import AuthState, Source

GREETING_TIMEOUT = 4.0  # seconds for the TCP connection and the greeting
READ_TIMEOUT = 30.0
MAX_COUNTED = 200  # folders whose mails are counted (one STATUS each)


@dataclass
class Checked:
    """The folders found, in the server's order, with their mail counts (None: not known)."""

    folders: list[str]
    counts: dict[str, int | None]


def _needs_typed_password(src: Source, fields: SourceSettings) -> str | None:
    """Why the stored password may not be used for these typed settings, or None."""
    if src.secret is None:
        return _("type the password (or app password) of the mailbox")
    moved = secret_scope.changed(configure.current(src), fields)
    if moved is not None:
        return _(
            "type the password: %(what)s changed, and the saved password is only sent where"
            " it was saved for"
        ) % {"what": moved}
    if src.auth_state != AuthState.OK:
        return _("type the password: the saved one was refused or cleared")
    return None


def _connector(
    app: App, src: Source, fields: SourceSettings
) -> tuple[ImapConnector | Pop3Connector, str | None]:
    """The connector for the typed settings, and why the password must be typed (then the
    connector has none, and is only to be reached, not signed in to)."""
    password = fields["password"]
    why = None
    if password is None:
        why = _needs_typed_password(src, fields)
        password = app.secrets.decrypt(src.secret) if src.secret and why is None else ""
    common: SourceSettings = {
        "host": fields["host"],
        "port": fields["port"],
        "security": fields["security"],
        "ca_file": src.ca_file if not fields["ca_pem"] else None,
        "ca_pem": fields["ca_pem"],
        "verify_tls": fields["verify_tls"],
        "username": fields["username"],
        "password": str(password),
    }
    if fields["protocol"] == presets.POP3:
        pop = Pop3Settings(**common, timeout=READ_TIMEOUT, greeting_timeout=GREETING_TIMEOUT)
        return Pop3Connector(pop), why
    imap = ImapSettings(**common, connect_timeout=GREETING_TIMEOUT, read_timeout=READ_TIMEOUT)
    return ImapConnector(imap), why


def typed(app: App, source_id: int, changes: SourceSettings) -> Checked:
    """Connect with the settings of source *source_id* changed by *changes* (the form's);
    raises configure.Invalid for settings that cannot be tried, ConnectorError for what the
    server said."""
    with app.db.session() as s:
        src = s.get(Source, source_id)
        if src is None:
            raise configure.Invalid({"connection": _("the source is gone")})
        try:
            fields = configure.preview(s, src, changes)
        except configure.Invalid as exc:
            cleared = secret_scope.cleared(src)  # the sentence that says why it is missing
            field = secret_scope.secret_field(src)
            if cleared and field in exc.errors:
                exc.errors[field] = cleared
            raise
        by_password = fields["auth"] == presets.PASSWORD
        name, conn, why = src.name, None, None
        if by_password and fields["protocol"] in (presets.IMAP, presets.POP3):
            conn, why = _connector(app, src, fields)
    if conn is None:
        return Checked(saved(app, name), {})
    if why is not None:  # the server is tried (host, port, TLS), the password not sent
        try:
            conn.reach()
        finally:
            conn.close()
        raise configure.Invalid({"password": why})
    try:
        folders = conn.check()
        counts = conn.message_counts(folders[:MAX_COUNTED])
        if isinstance(conn, ImapConnector):
            shown = _as_saved(conn, fields["folders"])
            folders, counts = [shown(f) for f in folders], {shown(f): n for f, n in counts.items()}
    finally:
        conn.close()
    return Checked(folders, counts)


def _as_saved(conn: ImapConnector, saved_folders: list[str]) -> Callable[[str], str]:
    """How a listed folder is shown: as the source names it where it names it in the server's
    spelling (``INBOX.Invoices`` on Courier, listed as ``Invoices``), so that the folder stays
    ticked and stored as it was (the ledger knows a folder by the name it was fetched under);
    every other folder the user's way."""
    names = conn.names
    spelled: dict[str, str] = {}
    for folder in saved_folders:
        with suppress(FolderNameInvalid):
            server = names.to_server(folder)
            if folder.upper() != "INBOX" and names.to_user(server) != folder:
                spelled[server] = folder

    def shown(listed: str) -> str:
        try:
            return spelled.get(names.to_server(listed), listed)
        except FolderNameInvalid:
            return listed

    return shown


@dataclass
class SourceCheck:
    """A saved source checked: the folders found (the user's way), the source's folders that
    are not there, and one sentence for each folder of the source that cannot be used (a move
    target mail cannot be filed to, a name the server cannot hold)."""

    folders: list[str]
    missing: list[str]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.missing and not self.problems


def source(app: App, source_name: str) -> SourceCheck:
    """:func:`saved`, and the source's folders and move targets checked on the same connection
    (IMAP: a missing move target is created and deleted again; see
    ``ImapConnector.filing_problem``)."""
    with app.db.session() as s:
        plan = SourcePlan.of(sources_store.get(s, source_name))
    verdicts = (Verdict.IMPORT, Verdict.NOT_IMPORTED)
    targets = dict.fromkeys(t for t in (plan.target(v, None) for v in verdicts) if t)
    with _session(app, source_name) as conn:
        folders = conn.check()
        if not isinstance(conn, ImapConnector):  # names as listed; no folder to create here
            known = {f.casefold() for f in folders}
            missing = [f for f in plan.folders if f not in folders and f.casefold() not in known]
            return SourceCheck(folders, missing, [])
        missing, problems = [], []
        for folder in plan.folders:
            try:
                missing += conn.missing([folder])
            except FolderNameInvalid as exc:
                problems.append(str(exc))
        problems += [p for t in targets if (p := conn.filing_problem(t)) is not None]
    return SourceCheck(folders, missing, problems)


@contextmanager
def _session(app: App, source_name: str) -> Iterator[Connector]:
    """The saved source's connector, waiting at most :data:`GREETING_TIMEOUT` seconds for the
    greeting; closed afterwards."""
    with runner.signed_in(app, source_name):
        conn = runner.connector_for(app, source_name)
        if isinstance(conn, ImapConnector):
            conn.settings = replace(conn.settings, connect_timeout=GREETING_TIMEOUT)
        elif isinstance(conn, Pop3Connector):
            conn.settings = replace(conn.settings, greeting_timeout=GREETING_TIMEOUT)
        try:
            yield conn
        finally:
            conn.close()


def saved(app: App, source_name: str) -> list[str]:
    """Connect with the saved settings, sign in and list the folders (``runner.check``), waiting
    at most :data:`GREETING_TIMEOUT` seconds for the greeting."""
    with _session(app, source_name) as conn:
        return conn.check()
