"""``invoice-inbox recheck``: decide not-imported mail again with the current settings.

A running service does this by itself after every change of a source's allowed senders, rules
or filters (``runtime.auto_recheck``); by hand it is for a data directory no service runs on.
A recheck by hand counts for the changes made before it: the service does not repeat it."""

from __future__ import annotations

from typing import Annotated

import typer

from invoice_inbox.cli.base import JsonOpt, app, out, print_json, state, warn, with_progress
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.recheck import RecheckSummary, recheck


def _repeats(s: RecheckSummary) -> str:
    """Documents already in the queue are counted apart: they were not queued again."""
    return f", {s.duplicates} duplicates not queued" if s.duplicates else ""


def _summary_line(s: RecheckSummary) -> str:
    line = (
        f"{s.source}: {s.checked} not-imported messages re-checked, {s.imported} imported now "
        f"({s.documents_created} documents{_repeats(s)}), "
        f"{s.still_not_imported} still not imported, {s.filed} filed as imported"
    )
    if s.filing_errors:
        line += f", {len(s.filing_errors)} could not be filed"
    if s.missing_raw:
        line += f", {len(s.missing_raw)} without their raw mail"
    return line


def _run(a: App, name: str) -> RecheckSummary:
    return with_progress(name, lambda progress: recheck(a, name, progress=progress))


@app.command("recheck")
def recheck_cmd(
    name: Annotated[str, typer.Argument(help="The source whose not-imported mail to re-check.")],
    as_json: JsonOpt = False,
) -> None:
    """Decide the mail a source did not import again, with its current allowed senders and
    rules; import what qualifies now (once) and file it on the server as imported. A running
    serve or worker does this by itself after each change of the allowed senders or rules."""
    summary = _run(state.open(), name)
    if as_json:
        print_json(vars(summary))
        return
    out.print(_summary_line(summary), highlight=False)
    for problem in [*summary.filing_errors, *summary.missing_raw]:
        warn(problem)
