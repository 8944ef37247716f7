"""What every command shares: the Typer app and its groups, the consoles, the open App,
and the rule that a user's mistake is one sentence on stderr and exit status 1."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar, overload

import typer
from rich.console import Console
from typer.core import TyperGroup

from invoice_inbox import i18n
from invoice_inbox.auth.secrets import SecretError
from invoice_inbox.cli import helptext
from invoice_inbox.errors import ConnectorError
from invoice_inbox.i18n import formats
from invoice_inbox.pipeline.rules import InvalidRule
from invoice_inbox.pipeline.senders import InvalidPattern
from invoice_inbox.runtime import lease
from invoice_inbox.runtime.context import App, resolve_data_dir
from invoice_inbox.runtime.runner import NotFetchable
from invoice_inbox.store import db
from invoice_inbox.store.errors import StoreError

helptext.install()  # --help names values in plain words (NAME, N, PATH), never Python types

T = TypeVar("T")
ProgressFn = Callable[[int, int | None], None]  # (done, total when known)


class UserError(Exception):
    """A mistake the user can fix; printed as one sentence."""


# The errors a user can cause or fix: printed as one sentence, exit status 1.
USER_ERRORS = (
    UserError,
    StoreError,
    ConnectorError,
    lease.SourceBusy,
    InvalidPattern,
    InvalidRule,
    SecretError,
    NotFetchable,
)


class _Group(TyperGroup):
    """Turns user errors from any command into one line on stderr and exit status 1."""

    # TyperGroup.invoke takes the Context of typer's vendored click, which typer does not
    # export; typer.Context is its subclass, and what typer passes.
    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except USER_ERRORS as exc:
            msg = f"source {exc}" if isinstance(exc, lease.SourceBusy) else str(exc)
            err.print(f"error: {msg}", highlight=False, markup=False, soft_wrap=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_Group,
    name="invoice-inbox",
    help="Get supplier invoices out of e-mail and into accounts payable, exactly once.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
source_app = typer.Typer(help="Connect and manage mailboxes (sources).", no_args_is_help=True)
documents_app = typer.Typer(help="The documents queue.", no_args_is_help=True)
app.add_typer(source_app, name="source")
rule_app = typer.Typer(
    help="Import rules: per source, in order, the first match says what to do with a mail.",
    no_args_is_help=True,
)
company_app = typer.Typer(
    help="Companies: the central import address and who is notified.", no_args_is_help=True
)
app.add_typer(documents_app, name="documents")
app.add_typer(rule_app, name="rule")
app.add_typer(company_app, name="company")

# Piped output is for programs and logs: no wrapping at 80 columns.
out = Console(width=None if sys.stdout.isatty() else 250, soft_wrap=not sys.stdout.isatty())
err = Console(stderr=True, width=None if sys.stderr.isatty() else 250)


# The groups of a source's options in --help (Typer's rich_help_panel)
CONNECTION, CREDENTIALS, FOLDERS, FILTERS, SCHEDULE = (
    "Connection",
    "Credentials",
    "Folders",
    "Filters",
    "Schedule",
)


class Security(StrEnum):
    ssl = "ssl"
    starttls = "starttls"
    none = "none"


def _data_dir(chosen: Path | None, create: bool) -> Path:
    """The data directory to open; made (and said so on stderr) only when *create*."""
    path = resolve_data_dir(chosen)
    if path.exists() and not path.is_dir():
        raise UserError(
            f"{path} is a file, not a data directory; pass --data-dir or set INVOICE_INBOX_HOME"
        )
    if db.holds_data(path):
        return path
    if not create:
        raise UserError(
            f"no invoice-inbox data in {path}; pass --data-dir or set INVOICE_INBOX_HOME"
        )
    new = not path.exists()
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the data directory {path}: {exc.strerror}") from None
    said = (
        f"created a new data directory at {path}"
        if new
        else f"created new invoice-inbox data in {path}"
    )
    err.print(said, highlight=False, markup=False, soft_wrap=True)
    return path


class _State:
    data_dir: Path | None = None
    secret_key_file: Path | None = None
    _app: App | None = None

    def open(self, *, create: bool = False) -> App:
        """The App on the chosen data directory. Only the commands that add the first thing
        (``serve``, ``source add``, ``company add``, ``user add``) pass *create*: every other
        refuses a directory that holds no invoice-inbox data, so a mistyped ``--data-dir``
        does not answer "No sources yet" from a new, empty one."""
        if self._app is None:
            path = _data_dir(self.data_dir, create)
            self._app = App.open(path, secret_key_file=self.secret_key_file)
        return self._app


state = _State()

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _language(lang: str | None) -> str:
    """The locale of this invocation: ``--lang``, else the shell's; an unknown one: exit 2."""
    if lang is None:
        return formats.from_environment(os.environ)
    chosen = formats.supported(lang)
    if chosen is None:
        err.print(
            f"error: {lang[:20]!r} is not a language of invoice-inbox; use one of "
            f"{', '.join(i18n.LOCALES)}.",
            highlight=False,
            markup=False,
        )
        raise typer.Exit(2)
    return chosen


def shown_time(value: datetime | None) -> str:
    """A time for a table, in the shell's ``TZ`` (UTC when unset) and the CLI's language."""
    return formats.when(value, formats.zone_from_environment(os.environ))


@app.callback()
def _global(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Where the database and files live (env INVOICE_INBOX_HOME; "
            "default ./invoice-inbox-data).",
        ),
    ] = None,
    secret_key_file: Annotated[
        Path | None,
        typer.Option(
            "--secret-key-file",
            envvar="INVOICE_INBOX_SECRET_KEY_FILE",
            help="The key that encrypts stored passwords, kept outside the data directory "
            "(made on first use; default: secret.key in the data directory, or the key itself "
            "in INVOICE_INBOX_SECRET_KEY).",
        ),
    ] = None,
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang",
            metavar="LANGUAGE",
            help="Language of the messages: en, de, nl, pl or fr (default: from LC_ALL, "
            "LC_MESSAGES or LANG; C or POSIX: English). Times follow TZ (default UTC).",
        ),
    ] = None,
) -> None:
    i18n.set_locale(_language(lang))
    if state._app is not None:  # a new invocation in the same process (tests)
        state._app.close()
        state._app = None
    state.data_dir = data_dir
    state.secret_key_file = secret_key_file


def with_progress(label: str, work: Callable[[ProgressFn | None], T]) -> T:
    """Run *work*, giving it a progress callback that draws a bar on a terminal (stderr)."""
    if not sys.stderr.isatty():
        return work(None)
    from rich.progress import (  # a bar only on a terminal
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)
        return work(lambda done, total: bar.update(task, completed=done, total=total))


def warn(message: str) -> None:
    """One warning line on stderr; the command still succeeds."""
    err.print(f"warning: {message}", highlight=False, markup=False, soft_wrap=True)


def print_json(value: object) -> None:
    out.file.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


@overload
def iso(d: datetime) -> str: ...
@overload
def iso(d: datetime | None) -> str | None: ...
def iso(d: datetime | None) -> str | None:
    return d.isoformat() if d else None
