"""Start-up of the command line: ``invoice-inbox fetch`` imports what a fetch needs and not the
rest (the web server's pieces, the source editor, OAuth2 and httpx for a password source,
Alembic for an up-to-date database, typer's help renderer), while every command line answers
exactly as the app with every command loaded does."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from invoice_inbox import cli
from sync.conftest import AP

# a process that runs the CLI as ``invoice-inbox ARGS`` and writes the modules it imported
_RUN = """
import atexit, json, sys
mode, out, *args = sys.argv[1:]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
import invoice_inbox.cli as cli
if mode == "all":
    cli.load()  # every command, as the app tests and embedders get
sys.argv = ["invoice-inbox", *args]
cli.main()
"""
_runs = itertools.count()


def _cli(
    tmp_path: Path, mode: str, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    out = tmp_path / f"modules-{next(_runs)}.json"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("INVOICE_INBOX_")}
    r = subprocess.run(
        [sys.executable, "-c", _RUN, mode, str(out), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**environ, "COLUMNS": "80", "TERMINAL_WIDTH": "80", **(env or {})},
        timeout=120,
    )
    return r, set(json.loads(out.read_text())) if out.exists() else set()


def test_the_command_map_names_the_modules_that_register_each_command() -> None:
    app = cli.app  # every command loaded
    registered: dict[str, set[str]] = {}
    for command in app.registered_commands:
        assert command.name and command.callback
        registered.setdefault(command.name, set()).add(command.callback.__module__)
    for group in app.registered_groups:
        assert group.name and group.typer_instance
        modules = {
            c.callback.__module__ for c in group.typer_instance.registered_commands if c.callback
        }
        registered.setdefault(group.name, set()).update(modules)
    assert set(registered) == set(cli.MODULES_OF)
    for name, modules in registered.items():
        assert modules <= {f"invoice_inbox.cli.{m}" for m in cli.MODULES_OF[name]}, name
    for modules in cli.MODULES_OF.values():
        assert set(modules) <= set(cli.COMMAND_MODULES)


@pytest.mark.parametrize(
    ("args", "modules"),
    [
        (["fetch", "ap"], ("fetching",)),
        (["--data-dir", "fetch", "runs"], ("fetching",)),  # "fetch" is the data dir here
        (["--data-dir=d", "--lang", "de", "source", "add", "x"], cli.MODULES_OF["source"]),
        (["--secret-key-file", "k", "serve"], ("serve",)),
        (["--help", "fetch"], cli.COMMAND_MODULES),  # the app's help
        (["--lang", "de"], cli.COMMAND_MODULES),  # no command: the app's help
        ([], cli.COMMAND_MODULES),
        (["fetc"], cli.COMMAND_MODULES),  # unknown: click's "did you mean"
        (["--", "fetch"], cli.COMMAND_MODULES),
    ],
)
def test_the_command_line_names_the_modules_to_load(
    args: list[str], modules: tuple[str, ...]
) -> None:
    assert cli.modules_for(args) == modules


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--help"],
        ["--lang", "de", "--help"],
        ["fetch", "--help"],
        ["source", "--help"],
        ["source", "lst"],
        ["rule"],
        ["documents", "list", "--help"],
        ["fetc"],
        ["fetch", "--nosuch"],
        ["inspect", "--help"],
        ["--data-dir", "x", "serve", "--help"],
    ],
)
def test_a_command_line_answers_as_the_app_with_every_command(
    tmp_path: Path, args: list[str]
) -> None:
    lazy, _ = _cli(tmp_path, "lazy", *args)
    whole, _ = _cli(tmp_path, "all", *args)
    assert (lazy.returncode, lazy.stdout, lazy.stderr) == (
        whole.returncode,
        whole.stdout,
        whole.stderr,
    )
    assert lazy.stdout or lazy.stderr


def test_fetch_imports_what_a_fetch_needs_and_not_the_rest(tmp_path: Path, ap: AP) -> None:
    ap.add_source()
    ap.mailbox.append("INBOX", b"From: a@b.example\r\nSubject: hello\r\n\r\nno invoice\r\n")
    args = ["--data-dir", str(ap.data_dir), "fetch", "ap", "--json"]
    r, modules = _cli(tmp_path, "lazy", *args)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["messages_seen"] == 1
    assert "invoice_inbox.cli.fetching" in modules
    assert "invoice_inbox.runtime.sync" in modules
    unneeded = {
        "alembic",  # the database is at the newest revision
        "typer.rich_utils",  # no help drawn
        "rich.table",  # no table printed (JSON)
        "rich.progress",  # no terminal: no progress bar
        "httpx",  # a password IMAP source: no OAuth2, no HTTP connector
        "authlib",
        "invoice_inbox.auth.oauth",
        "invoice_inbox.auth.oauth_signin",
        "invoice_inbox.auth.oauth_tokens",
        "invoice_inbox.connectors.graph",
        "invoice_inbox.connectors.gmail",
        "invoice_inbox.cli.serve",  # the other commands
        "invoice_inbox.cli.source_set",
        "invoice_inbox.cli.inspect",
        "invoice_inbox.web",
        "invoice_inbox.delivery.egress",
    }
    assert unneeded & modules == set()
