"""The connector contract, end to end through the CLI, against every kind of mailbox: IMAP
(Dovecot), Microsoft Graph (app-only) and the Gmail API (delegated), the latter two on local
stand-ins. New mail is found once, mail is filed into folders created when missing, folders are
listed, handled mail is marked read, and a run killed mid-way re-runs to exactly once."""

from __future__ import annotations

import pytest
from test_invariants import FILED, assert_exactly_once, run_helper, seed

from builders import Attachment, make_mail, make_pdf
from conftest import AP


def invoice(i: int) -> bytes:
    return make_mail(
        from_="billing@supplier.example",
        subject=f"Invoice {i}",
        attachments=[Attachment(f"INV-{i}.pdf", make_pdf(f"invoice {i}"))],
    )


def test_new_mail_is_found_once(any_ap: AP) -> None:
    for i in range(3):
        any_ap.mailbox.append("INBOX", invoice(i))
    any_ap.add_source()
    first = any_ap.ok("fetch", "ap", "--json").json()
    assert first["imported"] == 3 and first["documents_created"] == 3
    again = any_ap.ok("fetch", "ap", "--json").json()
    assert again["messages_seen"] == 0, "nothing new: nothing read twice"
    any_ap.mailbox.append("INBOX", invoice(3))
    third = any_ap.ok("fetch", "ap", "--json").json()
    assert third["messages_seen"] == 1 and third["imported"] == 1
    assert sorted(d["filename"] for d in any_ap.documents()) == [f"INV-{i}.pdf" for i in range(4)]
    assert any_ap.mailbox.count("INBOX") == 4, "without move options mail stays where it was"


def test_mail_is_filed_into_folders_created_when_missing(any_ap: AP) -> None:
    pdfs = seed(any_ap, invoices=3, others=2)
    any_ap.add_source("--allow-sender", "billing@supplier.example", *FILED)
    summary = any_ap.ok("fetch", "ap", "--json").json()
    assert (summary["imported"], summary["not_imported"]) == (3, 2)
    assert_exactly_once(any_ap, pdfs, others=2)
    assert {"Imported", "Not imported"} <= set(any_ap.mailbox.folders())
    assert any_ap.ok("fetch", "ap", "--json").json()["messages_seen"] == 0


def test_check_lists_the_folders(any_ap: AP) -> None:
    any_ap.mailbox.append("Suppliers", invoice(0))
    any_ap.add_source("--folder", "Suppliers")
    listed = any_ap.ok("source", "check", "ap", "--json").json()
    assert listed["ok"] is True and listed["missing"] == []
    assert "Suppliers" in listed["folders"]
    assert "inbox" in {f.casefold() for f in listed["folders"]}
    assert any_ap.ok("fetch", "ap", "--json").json()["imported"] == 1


def test_a_missing_folder_is_named_with_the_ones_that_exist(any_ap: AP) -> None:
    any_ap.add_source("--folder", "Nope")
    r = any_ap.run("source", "check", "ap")
    assert r.code == 1 and 'folder "Nope" does not exist' in r.stderr


def test_unread_only_marks_handled_mail_read_and_skips_read_mail(any_ap: AP) -> None:
    any_ap.mailbox.append("INBOX", invoice(0), flags=("\\Seen",))
    any_ap.mailbox.append("INBOX", invoice(1))
    any_ap.add_source("--unread-only")
    summary = any_ap.ok("fetch", "ap", "--json").json()
    assert summary["messages_seen"] == 1 and summary["imported"] == 1
    assert [d["filename"] for d in any_ap.documents()] == ["INV-1.pdf"]
    assert all("\\Seen" in f for f in any_ap.mailbox.flags("INBOX").values())


@pytest.mark.parametrize("step", ["committed", "filed"])
def test_a_run_killed_mid_way_reruns_to_exactly_once(any_ap: AP, step: str) -> None:
    pdfs = seed(any_ap, invoices=5, others=2)
    any_ap.add_source("--allow-sender", "billing@supplier.example", *FILED)
    killed = run_helper(any_ap, "kill", step, "1", "3")  # batches of 3: die after the first
    assert killed.returncode == -9, killed.stderr
    if step == "committed":
        assert 0 < len(any_ap.messages()) < 7, "the crash really was mid-run"
    else:  # filing is a stage of its own: the later batches may be committed already
        assert any(m["state"] != "disposed" for m in any_ap.messages()), "killed mid-run"
    any_ap.ok("fetch", "ap")
    assert_exactly_once(any_ap, pdfs, others=2)
