"""A folder the server refuses to file into never stops importing (issue 18 item 2), against a
real Dovecot (which refuses to create a folder whose name begins with "~"): the mails stay
where they are, their ledger rows say why, new mail is still imported, the source warns until
the target works, and then the left mails are filed, each once."""

from __future__ import annotations

from builders import Attachment, make_mail, make_pdf
from conftest import AP

REFUSED = "~Refused"


def invoice(n: int) -> bytes:
    return make_mail(
        subject=f"Invoice {n}",
        attachments=[Attachment(f"INV-{n}.pdf", make_pdf(f"invoice {n}"))],
    )


def warnings(ap: AP) -> list[str]:
    return list(ap.ok("source", "show", "ap", "--json").json()["warnings"])


def test_a_refused_target_leaves_mail_in_place_and_importing_goes_on(ap: AP) -> None:
    ap.mailbox.append("INBOX", invoice(1))
    ap.mailbox.append("INBOX", invoice(2))
    ap.add_source("--allow-sender", "billing@supplier.example", "--move-imported-to", REFUSED)

    first = ap.run("fetch", "ap")
    assert first.code == 0, first.stderr
    assert f'mails cannot be moved to "{REFUSED}"' in first.stdout
    assert "Invalid mailbox name" in first.stdout
    assert ap.mailbox.count("INBOX") == 2, "the mails stay where they are"
    rows = ap.messages()
    assert {m["state"] for m in rows} == {"decided"}, "undisposed: filing is tried again"
    (warning,) = warnings(ap)
    assert warning.startswith(f'mails cannot be moved to "{REFUSED}" (2 mails left where')
    assert "Invalid mailbox name" in warning

    ap.mailbox.append("INBOX", invoice(3))
    second = ap.ok("fetch", "ap", "--json").json()
    assert second["status"] == "succeeded" and second["imported"] == 1, "new mail still comes in"
    assert second["unfiled"] == {REFUSED: second["unfiled"][REFUSED]}
    assert sorted(d["filename"] for d in ap.documents()) == ["INV-1.pdf", "INV-2.pdf", "INV-3.pdf"]
    assert ap.ok("source", "show", "ap", "--json").json()["failures"] == 0

    ap.ok("source", "set", "ap", "--move-imported-to", "Imported")
    third = ap.ok("fetch", "ap", "--json").json()
    assert third["status"] == "succeeded" and third["messages_seen"] == 0
    assert third["unfiled"] == {}
    assert ap.mailbox.count("INBOX") == 0 and ap.mailbox.count("Imported") == 3
    rows = ap.messages()
    assert {m["state"] for m in rows} == {"disposed"}
    assert {m["filed_to"] for m in rows} == {"Imported"}
    assert warnings(ap) == []
    assert len(ap.documents()) == 3, "nothing imported twice"
