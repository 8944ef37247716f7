"""The README's folder names through the CLI on a server that names folders as Courier and Cyrus
do (personal namespace ``INBOX.``, delimiter ``.``: ``harness.dovecot_prefixed``), and ``source
check`` of the move targets (issue 18 item 1)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_invariants import seed

from conftest import AP
from harness.dovecot import Mailbox
from harness.dovecot_prefixed import PrefixedDovecot, started_prefixed_dovecot

pytestmark = pytest.mark.dovecot

README_TARGETS = ("--move-imported-to", "Invoices/{year}", "--move-not-imported-to", "Not imported")
ALLOWED = ("--allow-sender", "billing@supplier.example")


@pytest.fixture(scope="module")
def prefixed_dovecot() -> Iterator[PrefixedDovecot]:
    with started_prefixed_dovecot() as server:
        yield server


@pytest.fixture
def courier_ap(tmp_path: Path, prefixed_dovecot: PrefixedDovecot) -> AP:
    user, password = prefixed_dovecot.new_user()
    return AP(tmp_path / "data", Mailbox(user=user, password=password, server=prefixed_dovecot))


def test_the_readme_folder_names_work(courier_ap: AP) -> None:
    year = datetime.now(UTC).year
    seed(courier_ap, invoices=3, others=2)
    courier_ap.add_source(*ALLOWED, *README_TARGETS)
    before = sorted(courier_ap.mailbox.folders())
    checked = courier_ap.ok("source", "check", "ap", "--json").json()
    assert checked["ok"] is True and checked["problems"] == [] and checked["missing"] == []
    assert "INBOX" in checked["folders"] and "Sent" in checked["folders"]
    assert sorted(courier_ap.mailbox.folders()) == before, "the check left no folder behind"

    summary = courier_ap.ok("fetch", "ap", "--json").json()
    assert (summary["imported"], summary["not_imported"]) == (3, 2)
    assert courier_ap.mailbox.count(f"INBOX.Invoices.{year}") == 3
    assert courier_ap.mailbox.count("INBOX.Not imported") == 2
    assert courier_ap.mailbox.count("INBOX") == 0
    assert {m["folder"] for m in courier_ap.messages()} == {"INBOX"}
    assert courier_ap.ok("fetch", "ap", "--json").json()["messages_seen"] == 0
    listed = courier_ap.ok("source", "check", "ap", "--json").json()["folders"]
    assert {f"Invoices/{year}", "Not imported"} <= set(listed)


def test_names_copied_in_the_servers_spelling_keep_working(courier_ap: AP) -> None:
    courier_ap.mailbox.append("INBOX.Suppliers", seed_mail())
    courier_ap.add_source(
        "--folder", "INBOX.Suppliers", *ALLOWED, "--move-imported-to", "INBOX.Invoices"
    )
    checked = courier_ap.ok("source", "check", "ap", "--json").json()
    assert checked["ok"] is True and checked["missing"] == []
    assert "Suppliers" in checked["folders"]
    summary = courier_ap.ok("fetch", "ap", "--json").json()
    assert summary["imported"] == 1
    assert courier_ap.mailbox.count("INBOX.Invoices") == 1
    assert {m["folder"] for m in courier_ap.messages()} == {"INBOX.Suppliers"}, (
        "the ledger keeps the folder as the user wrote it"
    )


def test_check_names_a_target_the_server_cannot_hold(courier_ap: AP) -> None:
    courier_ap.add_source("--move-imported-to", "Rechnungen.alt")
    r = courier_ap.run("source", "check", "ap")
    assert r.code == 1
    assert (
        'the folder name "Rechnungen.alt" cannot be used on this server: "." separates folders'
        ' there; write "Rechnungen/alt" for a subfolder'
    ) in " ".join(r.stderr.split())
    assert "Traceback" not in r.stderr
    as_json = courier_ap.run("source", "check", "ap", "--json")
    assert as_json.code == 1 and not as_json.json()["ok"]
    assert len(as_json.json()["problems"]) == 1


def test_check_quotes_the_servers_refusal(ap: AP) -> None:
    ap.add_source("--move-not-imported-to", "~Junk")
    r = ap.run("source", "check", "ap")
    assert r.code == 1
    assert (
        'the folder "~Junk" cannot be created on this server: Invalid mailbox name: Begins'
        " with '~'"
    ) in " ".join(r.stderr.split())


def seed_mail() -> bytes:
    from builders import Attachment, make_mail, make_pdf

    return make_mail(
        from_="billing@supplier.example",
        subject="Invoice 9",
        attachments=[Attachment("INV-9.pdf", make_pdf("invoice 9"))],
    )
