"""``--help`` at 80 columns, for every command: values named in plain words (no ``<bool>``,
``<list[str]>`` or ``{name}``), every option name whole (none cut with "…"), no line wider
than the terminal, and ``source add`` / ``source set`` grouped in panels."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from invoice_inbox.cli import app

PANELS = ("Connection", "Credentials", "Folders", "Filters", "Schedule")
TYPE_METAVAR = re.compile(r"<[a-z][\w\[\]|, .-]*>")
BRACED_METAVAR = re.compile(r"\{(?!year\})[A-Za-z_]+\}")  # {year} is a folder name's part


def _commands() -> Iterator[tuple[tuple[str, ...], object]]:
    root = typer.main.get_command(app)
    todo: list[tuple[tuple[str, ...], object]] = [((), root)]
    while todo:
        path, cmd = todo.pop()
        yield path, cmd
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            todo.append(((*path, name), sub))


COMMANDS = dict(_commands())


def _help(path: tuple[str, ...]) -> str:
    r = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"})
    assert r.exit_code == 0, r.output
    return r.stdout


def _check(text: str, command: object) -> None:
    assert not TYPE_METAVAR.findall(text), TYPE_METAVAR.findall(text)
    assert not BRACED_METAVAR.findall(text), BRACED_METAVAR.findall(text)
    assert "…" not in text, "something was cut short"
    assert max(len(line) for line in text.splitlines()) <= 80
    for param in command.params:  # type: ignore[attr-defined]
        for opt in (*param.opts, *getattr(param, "secondary_opts", ())):
            if opt.startswith("-"):
                assert re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", text), opt
    assert " bool" not in text and "list[" not in text


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=lambda p: " ".join(p) or "invoice-inbox")
def test_every_help_is_plain_and_whole_at_80_columns(path: tuple[str, ...]) -> None:
    _check(_help(path), COMMANDS[path])


@pytest.mark.parametrize("command", [("source", "add"), ("source", "set")])
def test_source_options_are_grouped_and_short_enough(command: tuple[str, ...]) -> None:
    """As a user runs it: its own process, COLUMNS=80."""
    r = subprocess.run(
        [str(Path(sys.executable).with_name("invoice-inbox")), *command, "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    _check(r.stdout, COMMANDS[command])
    for panel in PANELS:
        assert re.search(rf"─ {panel} ─", r.stdout), panel
    assert "Usage: invoice-inbox " + " ".join(command) + " [OPTIONS] NAME" in r.stdout
    assert len(r.stdout.splitlines()) <= 110
