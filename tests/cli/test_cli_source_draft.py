"""`source add --draft` adds a source that is not started: the scheduler and `fetch --all`
leave it alone, `fetch NAME` fetches it by hand, `source activate NAME` starts it. Without
`--draft`, `source add` starts the source at once, as before."""

from __future__ import annotations

import json

from builders import Attachment, make_mail, make_pdf
from sync.conftest import AP


def source(ap: AP, name: str) -> dict:
    return json.loads(ap.ok("source", "show", name, "--json").stdout)


def test_a_draft_is_fetched_only_by_name_until_it_is_activated(ap: AP) -> None:
    ap.mailbox.append(
        "INBOX",
        make_mail(
            from_="billing@supplier.example",
            subject="Invoice 1",
            attachments=[Attachment("INV-1.pdf", make_pdf("invoice 1"))],
        ),
    )
    ap.add_source("--draft", name="later")
    assert source(ap, "later")["active"] is False
    listed = ap.ok("source", "list").stdout
    assert "later" in listed
    ap.ok("fetch", "--all")
    assert ap.documents() == []  # --all fetches the started sources only

    ap.ok("fetch", "later")  # by name: any source
    assert [d["filename"] for d in ap.documents()] == ["INV-1.pdf"]

    ap.ok("source", "activate", "later")
    assert source(ap, "later")["active"] is True
    ap.add_source(name="now")
    assert source(ap, "now")["active"] is True
