"""``invoice-inbox blobs gc``: remove stored files (blobs) that no mail or document refers to.

Works on the blob store the service uses (``INVOICE_INBOX_BLOB_URL``: the data directory's folder,
another folder, or an S3 bucket). Only blobs older than ``--older-than`` go, so an upload whose
transaction is still running is never touched; ``--dry-run`` only counts.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

import typer

from invoice_inbox.cli.base import UserError, app, out, state, with_progress
from invoice_inbox.store.blob_gc import MIN_AGE, GcSummary, collect

blobs_app = typer.Typer(help="The stored files (mails, documents): clean-up.", no_args_is_help=True)
app.add_typer(blobs_app, name="blobs")

_AGE = re.compile(r"\s*(\d+)\s*([mhdw])\s*")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str) -> timedelta:
    """``30m``, ``12h``, ``1d``, ``2w`` as a timedelta; a user error otherwise."""
    m = _AGE.fullmatch(text.lower())
    if not m:
        raise UserError(f"--older-than {text!r} is not an age; write e.g. 30m, 12h, 1d or 2w")
    age = timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    if age < MIN_AGE:
        raise UserError(
            f"--older-than must be at least {int(MIN_AGE.total_seconds()) // 60}m, so that no "
            "blob of an upload still being committed is removed"
        )
    return age


def amount(size: int) -> str:
    """A byte count for people: 512 bytes, 1.2 MB."""
    if size < 1000:
        return f"{size} bytes"
    units, value = ("kB", "MB", "GB", "TB"), size / 1000
    step = 0
    while value >= 1000 and step < len(units) - 1:
        value, step = value / 1000, step + 1
    return f"{value:.1f} {units[step]}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def summary_line(s: GcSummary, url: str) -> str:
    verb = "would delete" if s.dry_run else "deleted"
    line = (
        f"{url}: {s.examined} blobs stored before {s.cutoff:%Y-%m-%d %H:%M} UTC, "
        f"{s.referenced} still referenced, {verb} {s.deleted} unreferenced "
        f"({amount(s.deleted_bytes)})"
    )
    if s.temporary:
        removed = "would remove" if s.dry_run else "removed"
        line += (
            f"; {removed} {_plural(s.temporary, 'stale temporary file')} "
            f"({amount(s.temporary_bytes)})"
        )
    return line


@blobs_app.command("gc")
def blobs_gc(
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            metavar="AGE",
            help="Only blobs stored longer ago than this: 30m, 12h, 1d, 2w (at least 30m).",
        ),
    ] = "1d",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be deleted; delete nothing.")
    ] = False,
) -> None:
    """Delete stored files that no mail or document refers to any more (e.g. after a company
    or source was deleted)."""
    age = parse_age(older_than)
    a = state.open()
    summary = with_progress(
        "blobs",
        lambda progress: collect(a.db, a.blobs, age, dry_run=dry_run, progress=progress),
    )
    out.print(summary_line(summary, a.blobs.url), highlight=False, markup=False, soft_wrap=True)
