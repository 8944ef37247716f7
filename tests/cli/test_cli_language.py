"""The CLI's language and time zone (issue 20): ``--lang``, else ``LC_ALL``/``LC_MESSAGES``/
``LANG`` ("pl_PL.UTF-8" → Polish, "C" → English); times in ``TZ`` (UTC when unset); and a
user's language set with ``user set --locale``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

from invoice_inbox import i18n
from invoice_inbox.cli import app as cli
from invoice_inbox.runtime.context import App
from invoice_inbox.store import users

# the machine's own settings must not leak into what is checked
CLEAN = {"LANG": "", "LC_ALL": "", "LC_MESSAGES": "", "TZ": "", "PW": "correct horse battery"}


def run(data_dir: Path, *args: str, **env: str) -> Result:
    return CliRunner().invoke(cli, ["--data-dir", str(data_dir), *args], env={**CLEAN, **env})


def _seed(data_dir: Path) -> None:
    assert (
        run(data_dir, "user", "add", "ola@x.test", "--admin", "--password-env", "PW").exit_code == 0
    )
    app = App.open(data_dir)
    try:
        with app.db.session() as s:
            user = users.by_email(s, "ola@x.test")
            assert user is not None
            user.last_login_at = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    finally:
        app.close()


def test_times_in_the_language_and_zone_of_the_shell(tmp_path: Path) -> None:
    _seed(tmp_path)
    assert "2026-01-15 12:00 UTC" in run(tmp_path, "user", "list").stdout
    berlin = run(tmp_path, "--lang", "de", "user", "list", TZ="Europe/Berlin")
    assert berlin.exit_code == 0 and "15.01.2026 13:00 CET" in berlin.stdout
    polish = run(tmp_path, "user", "list", LANG="pl_PL.UTF-8", TZ=":Europe/Warsaw")
    assert "15 sty 2026 13:00 CET" in polish.stdout
    assert "15 sty 2026" in run(tmp_path, "user", "list", LC_ALL="pl_PL", LANG="de_DE").stdout
    assert "2026-01-15" in run(tmp_path, "user", "list", LC_ALL="C", LANG="pl_PL").stdout
    assert "12:00 UTC" in run(tmp_path, "user", "list", TZ="Nowhere/Atlantis").stdout
    # --lang wins over the shell
    assert "15 jan 2026" in run(tmp_path, "--lang", "nl-BE", "user", "list", LANG="de_DE").stdout
    i18n.set_locale(i18n.DEFAULT_LOCALE)  # the CLI set it in this (test) process


def test_an_unknown_language_is_one_sentence_and_exit_2(tmp_path: Path) -> None:
    r = run(tmp_path, "--lang", "xx", "user", "list")
    assert r.exit_code == 2
    assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr
    assert "'xx' is not a language of invoice-inbox" in r.stderr


def test_user_set_locale(tmp_path: Path) -> None:
    _seed(tmp_path)

    def locale() -> str | None:
        listed = json.loads(run(tmp_path, "user", "list", "--json").stdout)
        return listed[0]["locale"]

    assert locale() is None
    assert run(tmp_path, "user", "set", "ola@x.test", "--locale", "pl").exit_code == 0
    assert locale() == "pl"
    refused = run(tmp_path, "user", "set", "ola@x.test", "--locale", "klingon")
    assert refused.exit_code == 1 and "'klingon' is not a language" in refused.stderr
    assert locale() == "pl"
    assert run(tmp_path, "user", "set", "ola@x.test", "--locale", "browser").exit_code == 0
    assert locale() is None
