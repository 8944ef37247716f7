"""The queue as accounts payable works through it (issue 14, item 15): sorted by amount or due
date with every document on exactly one page (missing values last), several documents marked
processed at once (only those the user may act on, never an exact duplicate, CSRF-checked), and
"Mark processed" on a document page leading to the next new document of the same queue."""

from __future__ import annotations

import hashlib
import re
from itertools import count

import pytest
from sqlalchemy import select

from invoice_inbox.store import sources
from invoice_inbox.store.models import Document, Message
from web.conftest import Web

_n = count(1)


def add_doc(
    web: Web,
    company: str,
    total: str | None,
    due: str | None = None,
    *,
    currency: str = "EUR",
    duplicate_of: int | None = None,
) -> int:
    """A queued document of *company* with an e-invoice total and due date (None: no value)."""
    n = next(_n)
    with web.app.db.session() as s:
        name = f"src-{company}"
        src = s.scalar(select(sources.Source).where(sources.Source.name == name))
        if src is None:
            src = sources.add(
                s, name=name, company_name=company, host="mail.invalid", port=993, username="u"
            )
        m = Message(
            source_id=src.id,
            folder="INBOX",
            uidvalidity=1,
            uid=n,
            raw_sha256=hashlib.sha256(f"mail {n}".encode()).hexdigest(),
            raw_size=100,
            subject=f"Invoice {n}",
            decision="import",
            reason="imported",
        )
        s.add(m)
        s.flush()
        fields = {"format": "xrechnung-ubl", "document_type": "invoice", "currency": currency}
        fields |= {"total": total, "due_date": due}
        d = Document(
            message_id=m.id,
            company_id=src.company_id,
            sha256=hashlib.sha256(f"doc {n}".encode()).hexdigest(),
            size=10,
            media_type="application/xml",
            filename=f"inv-{n}.xml",
            kind="einvoice_xml",
            einvoice=fields if total is not None or due is not None else None,
            duplicate_of_id=duplicate_of,
            duplicate_kind="exact" if duplicate_of else None,
        )
        s.add(d)
        s.flush()
        return d.id


def listed(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr id="document-(\d+)"', html)]


def walk(b: object, params: dict[str, str]) -> list[int]:
    """Every document id of the queue, following the "next page" links."""
    seen: list[int] = []
    url: str | None = "/documents"
    query: dict[str, str] | None = params
    while url:
        r = b.get(url, params=query)  # type: ignore[attr-defined]
        assert r.status_code == 200, r.text
        seen += listed(r.text)
        m = re.search(r'<a href="([^"]+)" rel="next"', r.text)
        url, query = (m.group(1).replace("&amp;", "&"), None) if m else (None, None)
    return seen


@pytest.fixture
def queue_of(web: Web) -> dict[str, int]:
    web.user("admin@x.test")
    ids = {
        "a100": add_doc(web, "ACME", "100.00", "2026-12-20"),
        "a99": add_doc(web, "ACME", "99.50", "2026-12-01"),
        "none1": add_doc(web, "ACME", None),
        "a1000": add_doc(web, "ACME", "1000", "2026-12-10"),
        "a99b": add_doc(web, "ACME", "99.50", None),
        "none2": add_doc(web, "ACME", None),
        "a5": add_doc(web, "ACME", "5.1", "2027-01-05"),
    }
    return ids


def test_sorted_by_amount_and_due_date_every_document_on_exactly_one_page(
    web: Web, queue_of: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from invoice_inbox.store import queue

    monkeypatch.setattr(queue, "PAGE_SIZE", 2)
    b = web.browser("admin@x.test")
    q = queue_of
    assert walk(b, {"sort": "amount"}) == [
        *(q["a5"], q["a99"], q["a99b"], q["a100"], q["a1000"], q["none1"], q["none2"])
    ]
    assert walk(b, {"sort": "-amount"}) == [
        *(q["a1000"], q["a100"], q["a99b"], q["a99"], q["a5"], q["none2"], q["none1"])
    ]
    assert walk(b, {"sort": "due_date"}) == [
        *(q["a99"], q["a1000"], q["a100"], q["a5"], q["none1"], q["a99b"], q["none2"])
    ]
    assert walk(b, {"sort": "-due_date"}) == [
        *(q["a5"], q["a100"], q["a1000"], q["a99"], q["none2"], q["a99b"], q["none1"])
    ]
    assert walk(b, {}) == sorted(q.values(), reverse=True)  # newest first, as before


def test_the_api_sorts_the_queue_too(web: Web, queue_of: dict[str, int]) -> None:
    api = web.api("admin@x.test")
    q, seen, cursor = queue_of, [], None
    while True:
        params = {"sort": "-amount", "limit": "3", **({"cursor": cursor} if cursor else {})}
        r = api.get("/api/v1/documents", params=params)
        assert r.status_code == 200, r.text
        seen += [d["id"] for d in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert seen == [*(q["a1000"], q["a100"], q["a99b"], q["a99"], q["a5"], q["none2"], q["none1"])]
    assert api.get("/api/v1/documents", params={"sort": "size"}).status_code == 422


def test_bulk_mark_processed_only_what_the_user_may_act_on(web: Web) -> None:
    mine = [add_doc(web, "ACME", "10.00"), add_doc(web, "ACME", "20.00")]
    copy = add_doc(web, "ACME", "10.00", duplicate_of=mine[0])
    theirs = add_doc(web, "Other", "30.00")
    web.user("clerk@x.test", "clerk", ("ACME",))
    web.user("viewer@x.test", "viewer", ("ACME",))
    clerk = web.browser("clerk@x.test")

    page = clerk.get("/documents").text
    assert 'form="bulk"' in page and 'id="bulk"' in page
    # without the CSRF token: refused, nothing changes
    r = clerk.post("/documents/processed", data={"ids": [str(i) for i in mine]})
    assert r.status_code == 403
    r = clerk.form("/documents/processed", {"ids": [*map(str, mine), str(copy), str(theirs)]})
    assert r.status_code == 303
    flash = clerk.get(r.headers["location"]).text
    assert "2 documents are marked as processed" in flash
    assert f"exact duplicate of document #{mine[0]}" in flash
    with web.app.db.session() as s:
        done = {d.id: d.processed_at is not None for d in s.scalars(select(Document))}
    assert done == {mine[0]: True, mine[1]: True, copy: False, theirs: False}
    assert listed(clerk.get("/documents").text) == []

    viewer = web.browser("viewer@x.test")
    assert 'id="bulk"' not in viewer.get("/documents", params={"status": "all"}).text
    third = add_doc(web, "ACME", "1.00")
    assert viewer.form("/documents/processed", {"ids": [str(third)]}).status_code == 403


def test_mark_processed_leads_to_the_next_new_document_of_the_same_queue(
    web: Web, queue_of: dict[str, int]
) -> None:
    q = queue_of
    b = web.browser("admin@x.test")
    html = b.get("/documents", params={"sort": "amount"}).text
    link = re.search(rf'href="(/documents/{q["a99"]}\?[^"]+)"', html)
    assert link, "the queue links the document with its queue"
    page = b.get(link.group(1).replace("&amp;", "&")).text
    r = b.form(
        f"/documents/{q['a99']}/processed",
        {"queue": re.search(r'name="queue" value="([^"]*)"', page).group(1).replace("&amp;", "&")},  # type: ignore[union-attr]
    )
    assert r.status_code == 303
    assert r.headers["location"].startswith(f"/documents/{q['a99b']}?")
    # the last one by amount: next is the first new one left in that order
    r = b.form(f"/documents/{q['none2']}/processed", {"queue": "sort=amount"})
    assert r.headers["location"].startswith(f"/documents/{q['a5']}?")
    # with nothing new left the queue itself
    with web.app.db.session() as s:
        for d in s.scalars(select(Document)):
            d.processed_at = d.created_at
        s.get(Document, q["a5"]).processed_at = None  # type: ignore[union-attr]
    r = b.form(f"/documents/{q['a5']}/processed", {"queue": "sort=amount"})
    assert r.headers["location"] == "/documents?sort=amount"
