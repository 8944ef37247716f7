"""Changes made on the command line ask for a re-check as the screen's and the API's do: the
service's rechecker runs it once per change. ``recheck NAME`` run by hand does the same work
at once and counts for what was asked before it (the service then has nothing left to do)."""

from __future__ import annotations

from builders import Attachment, make_mail, make_pdf
from conftest import AP
from invoice_inbox.runtime.auto_recheck import Rechecker, wanted
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.recheck import recheck

NEW = "billing@new-supplier.example"


def test_source_set_and_rule_changes_on_the_cli_are_rechecked_in_the_background(
    ap: AP,
) -> None:
    ap.mailbox.append(
        "INBOX",
        make_mail(from_=NEW, subject="Invoice B", attachments=[Attachment("B.pdf", make_pdf("B"))]),
    )
    ap.mailbox.append("INBOX", make_mail(from_=NEW, subject="Invoice 12", body="12 EUR"))
    ap.add_source("--allow-sender", "billing@known.example", "--move-imported-to", "Imported")
    assert ap.ok("fetch", "ap", "--json").json()["not_imported"] == 2

    ap.ok("source", "set", "ap", "--allow-sender", "*@new-supplier.example")
    app = App.open(ap.data_dir)
    try:
        assert wanted(app) == ["ap"]
        rechecker = Rechecker(app)
        assert rechecker.tick() == ["ap"]
        assert [d["filename"] for d in ap.documents()] == ["B.pdf"]
        assert rechecker.tick() == []

        ap.ok("rule", "add", "ap", "texts", "--sender", NEW, "--action", "body")
        assert rechecker.tick() == ["ap"]
        assert sorted(d["filename"] for d in ap.documents()) == ["B.pdf", "Invoice 12.pdf"]
        assert (ap.mailbox.count("INBOX"), ap.mailbox.count("Imported")) == (0, 2)

        ap.ok("rule", "remove", "ap", "texts")
        assert wanted(app) == ["ap"]
        ap.ok("recheck", "ap")  # by hand: the service finds nothing left
        assert wanted(app) == [] and rechecker.tick() == []
    finally:
        app.close()


def test_a_change_made_while_a_recheck_runs_is_rechecked_after_it(ap: AP) -> None:
    ap.mailbox.append(
        "INBOX",
        make_mail(from_=NEW, subject="Invoice C", attachments=[Attachment("C.pdf", make_pdf("C"))]),
    )
    ap.add_source("--allow-sender", "billing@known.example")
    assert ap.ok("fetch", "ap", "--json").json()["not_imported"] == 1
    ap.ok("source", "set", "ap", "--allow-sender", "billing@known.example", "--allow-images")
    app = App.open(ap.data_dir)
    try:

        def meanwhile(done: int, total: int) -> None:
            if done == 0:  # the recheck has read the settings: now someone allows the sender
                ap.ok("source", "set", "ap", "--allow-sender", NEW)

        summary = recheck(app, "ap", progress=meanwhile)
        assert (summary.checked, summary.imported) == (1, 0)  # decided with the old settings
        assert wanted(app) == ["ap"]  # ... so the change made meanwhile is still wanted
        assert Rechecker(app).tick() == ["ap"]
        assert [d["filename"] for d in ap.documents()] == ["C.pdf"]
        assert wanted(app) == []
    finally:
        app.close()
