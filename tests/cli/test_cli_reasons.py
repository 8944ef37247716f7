"""Decision reasons in the CLI's language (issue 20): ``messages`` and ``inspect`` show a
reason in ``--lang`` or ``LANG`` (a test catalogue here), with the code and parts beside it in
``--json``; English when no language is asked for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builders import Attachment, make_mail, make_pdf
from sync.conftest import AP
from translated import install

UNKNOWN = "x@unknown.example"
ENV = {"LANG": "", "LC_ALL": "", "LC_MESSAGES": ""}


@pytest.fixture
def polish(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    install(
        monkeypatch,
        tmp_path,
        "pl",
        {
            "sender %(sender)s is not on the allowed list": (
                "nadawca %(sender)s nie jest na liście dozwolonych"
            ),
            "no attachment": "brak załącznika",
        },
    )


def test_messages_shows_the_reason_in_the_shell_s_language(ap: AP, polish: None) -> None:
    ap.mailbox.append("INBOX", make_mail(from_=UNKNOWN, attachments=[]))
    ap.add_source("--allow-sender", "billing@supplier.example", "--sender-auth", "off")
    ap.ok("fetch", "ap", env=ENV)
    table = ap.ok("messages", env={**ENV, "LANG": "pl_PL.UTF-8", "COLUMNS": "400"}).stdout
    assert f"nadawca {UNKNOWN} nie jest na liście dozwolonych" in table
    (row,) = json.loads(ap.ok("--lang", "pl", "messages", "--json", env=ENV).stdout)
    assert row["reason"] == f"nadawca {UNKNOWN} nie jest na liście dozwolonych"
    assert row["reason_code"] == "sender_not_allowed"
    assert row["reason_parts"] == [{"code": "sender_not_allowed", "params": {"sender": UNKNOWN}}]
    (english,) = json.loads(ap.ok("messages", "--json", env=ENV).stdout)
    assert english["reason"] == f"sender {UNKNOWN} is not on the allowed list"


def test_inspect_judges_a_file_in_the_cli_s_language(ap: AP, polish: None, tmp_path: Path) -> None:
    bare = tmp_path / "bare.eml"
    bare.write_bytes(make_mail(attachments=[]))
    said = json.loads(ap.ok("--lang", "pl", "inspect", str(bare), "--json", env=ENV).stdout)
    assert (said["reason"], said["reason_code"]) == ("brak załącznika", "no_attachment")
    shown = ap.ok("inspect", str(bare), env={**ENV, "LANG": "pl_PL"}).stdout
    assert ": brak załącznika" in shown
    invoice = tmp_path / "invoice.eml"
    invoice.write_bytes(make_mail(attachments=[Attachment("a.pdf", make_pdf("a"))]))
    english = json.loads(ap.ok("inspect", str(invoice), "--json", env=ENV).stdout)
    assert english["reason_code"] == "documents_found"
    assert english["reason"].startswith("1 document from ")


def test_company_set_locale(ap: AP) -> None:
    ap.ok("company", "add", "ACME")
    ap.ok("company", "set", "ACME", "--locale", "nl")
    assert json.loads(ap.ok("company", "show", "ACME", "--json").stdout)["locale"] == "nl"
    refused = ap.run("company", "set", "ACME", "--locale", "xx")
    assert refused.code != 0 and "not a language" in refused.stderr + refused.stdout
    ap.ok("company", "set", "ACME", "--locale", "none")
    assert json.loads(ap.ok("company", "show", "ACME", "--json").stdout)["locale"] is None
