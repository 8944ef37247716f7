"""How ``--help`` names values: plain words a person reads, not Python types.

Typer (0.2x) shows every option's Python type in angle brackets (``<bool>`` after a flag,
``<list[str]>``, a whole enum as ``<microsoft365|gmail|icloud|imap|pop3>``) and a required
argument as ``{name}``. That wastes a column at 80 characters and cuts option names short. Here,
once for every command: option names are never cut short (only their help wraps), an
option shows its ``metavar`` when it has one, else a word for its
kind (TEXT, N, PATH, DATE, or its few choices), and a flag shows nothing; an argument shows its
name in capitals (``NAME``, ``[NAME]`` when optional). ``tests/cli/test_cli_help.py`` holds
every command's help to this at 80 columns. Typer's help renderer (``typer.rich_utils``, with
rich's Markdown and tracebacks: a twentieth of a second to import) is patched when help is
first drawn, so a command that draws none never imports it.
"""

from __future__ import annotations

import inspect
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

_WORDS: tuple[tuple[type, str], ...] = (
    (bool, ""),
    (int, "N"),
    (float, "NUMBER"),
    (Path, "PATH"),
    (datetime, "TIME"),
    (date, "DATE"),
    (str, "TEXT"),
)
MAX_CHOICES = 18  # longer lists of choices are named in the option's help instead


# Any here and below: typer's and rich's internals these stand in for take untyped parameters,
# contexts and renderables
def _word(param: Any) -> str | None:
    """The plain word for what *param* takes."""
    if param.metavar is not None:
        return str(param.metavar) or None
    if isinstance(param, TyperOption) and param.is_flag:
        return None
    kind = param.type_descriptor.annotation
    while getattr(kind, "__args__", None) and getattr(kind, "__origin__", None) is list:
        kind = kind.__args__[0]  # a repeatable option names one value
    if isinstance(kind, type) and issubclass(kind, Enum):
        choices = "|".join(str(m.value) for m in kind)
        return choices if len(choices) <= MAX_CHOICES else "CHOICE"
    for known, word in _WORDS:
        if isinstance(kind, type) and issubclass(kind, known):
            return word or None
    return "VALUE"


def _option_type(self: TyperOption, ctx: Any) -> str | None:
    return _word(self)


def _argument_name(self: TyperArgument) -> str:
    return str(self.metavar) if self.metavar is not None else str(self.name or "").upper()


def _argument_type(self: TyperArgument, ctx: Any) -> str | None:
    return None  # the name column says it already


def _argument_usage(self: TyperArgument) -> str:
    name = _argument_name(self)
    name = name if self.required else f"[{name}]"
    return name + ("..." if self.nargs != 1 else "")


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


def _install_in_renderer() -> None:
    """Patch typer's help renderer, importing it (idempotent)."""
    global _command_help
    from typer import rich_utils

    if rich_utils._make_command_help is _command_help_flowing:
        return
    _command_help = rich_utils._make_command_help
    rich_utils.Table = _WholeNames  # type: ignore[attr-defined]
    rich_utils._make_command_help = _command_help_flowing
    rich_utils._fix_linebreaks = _paragraphs_flowing


def _patched_first(format_help: Any) -> Any:
    """*format_help* (a command's or group's), patching the renderer before it draws."""
    if getattr(format_help, "_plain_words", False):
        return format_help

    def drawn(self: Any, ctx: Any, formatter: Any) -> Any:
        _install_in_renderer()
        return format_help(self, ctx, formatter)

    drawn._plain_words = True  # type: ignore[attr-defined]
    return drawn


def install() -> None:
    """Make every command's help use plain words and whole option names, its text flowing to
    the terminal's width (idempotent)."""
    # Patching typer's internals: it imports Table without exporting it, and its methods may
    # not be assigned to (the replacements take the class they patch, not its base, as self).
    TyperOption.display_type_rich = _option_type  # type: ignore[method-assign]
    TyperArgument.display_type_rich = _argument_type  # type: ignore[method-assign,assignment]
    TyperArgument.display_name_raw = property(_argument_name)  # type: ignore[assignment,method-assign]
    TyperArgument._usage_display_name = _argument_usage  # type: ignore[method-assign]
    TyperCommand.format_help = _patched_first(TyperCommand.format_help)  # type: ignore[method-assign]
    TyperGroup.format_help = _patched_first(TyperGroup.format_help)  # type: ignore[method-assign]
