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
first drawn (``cli.help_render``), so a command that draws none never imports it.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

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


def _patched_first(format_help: Any) -> Any:
    """*format_help* (a command's or group's), patching the renderer before it draws."""
    if getattr(format_help, "_plain_words", False):
        return format_help

    def drawn(self: Any, ctx: Any, formatter: Any) -> Any:
        from invoice_inbox.cli import help_render

        help_render.install()
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
