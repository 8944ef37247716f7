"""The half of ``cli.helptext`` that patches typer's help renderer (``typer.rich_utils``),
imported when help is first drawn: option names whole, columns empty in every row left out,
help text flowing to the terminal's width."""

from __future__ import annotations

import inspect
from typing import Any

from rich.table import Table
from rich.text import Text


class _WholeNames(Table):
    """Typer's options table, readable at 80 columns: option names are never cut (only the
    help text, the last column, wraps), a flag's ``--no-...`` form goes under its name instead
    of into a column of its own, and columns empty in every row take no room."""

    def add_row(self, *renderables: Any, **kwargs: Any) -> None:
        cells = list(renderables)
        if len(cells) >= 6 and _plain(cells[-4]):  # [*] long short --no-long --no-short type help
            cells[-6] = Text.assemble(cells[-6], "\n", cells[-4])
            cells[-4] = ""
        super().add_row(*cells, **kwargs)
        for column in self.columns[:-1]:
            column.no_wrap = True

    def __rich_console__(self, console: Any, options: Any) -> Any:
        self.columns[:] = [c for c in self.columns if any(_plain(cell) for cell in c._cells)]
        for index, column in enumerate(self.columns):
            column._index = index
        yield from super().__rich_console__(console, options)


def _plain(cell: Any) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell or "")


def _flowing(text: str) -> str:
    """*text* with its paragraphs' line breaks (the docstring's, at 100 columns) made spaces,
    so they wrap at the terminal's width; a paragraph starting with \\b keeps its lines."""
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(p if p.startswith("\b") else p.replace("\n", " ") for p in paragraphs)


_command_help: Any = None  # typer's own _make_command_help, once patched


def _command_help_flowing(*, help_text: str, markup_mode: Any) -> Any:
    return _command_help(help_text=_flowing(help_text), markup_mode=markup_mode)


def _paragraphs_flowing(paragraphs: list[str], markup_mode: Any) -> str:
    return _flowing("\n\n".join(paragraphs))


def install() -> None:
    """Patch typer's help renderer, importing it (idempotent)."""
    global _command_help
    from typer import rich_utils

    if rich_utils._make_command_help is _command_help_flowing:
        return
    _command_help = rich_utils._make_command_help
    rich_utils.Table = _WholeNames  # type: ignore[attr-defined]
    rich_utils._make_command_help = _command_help_flowing
    rich_utils._fix_linebreaks = _paragraphs_flowing
