"""An e-invoice whose figures break a calculation rule is flagged ``einvoice_inconsistent``
everywhere the trust flags are: the API's ``flags`` and ``?flag=``, the queue's badge (the
broken rules as its title) and filter, and the document page, which lists each problem.

The problems are set on the stored rows as the run records them (``einvoice.problems`` and
the ``einvoice_problems`` count); reading them from the XML is the pipeline's tests' part."""

from __future__ import annotations

import hashlib
import re
from itertools import count

from invoice_inbox.store import sources
from invoice_inbox.store.models import Document, Message
from web.conftest import Web

_n = count(1)
PROBLEMS = [
    {
        "rule": "BR-CO-15",
        "message": "BR-CO-15: tax basis 100.00 + tax 19.00 ≠ total 119.01",
        "figures": {"tax_basis_total": "100.00", "tax_total": "19.00", "total": "119.01"},
    },
    {
        "rule": "BR-CO-16",
        "message": "BR-CO-16: total 119.01 − prepaid 0 + rounding 0 ≠ amount due 119.00",
        "figures": {"total": "119.01", "amount_due": "119.00"},
    },
]


def add_document(web: Web, number: str, problems: list[dict[str, object]] | None) -> int:
    """A queued e-invoice document numbered *number*; *problems* None: stored before checks."""
    n = next(_n)
    with web.app.db.session() as s:
        src = s.query(sources.Source).filter_by(name="ap").one_or_none()
        if src is None:
            src = sources.add(
                s, name="ap", company_name="ACME", host="mail.invalid", port=993, username="u"
            )
        m = Message(
            source_id=src.id,
            folder="INBOX",
            uidvalidity=1,
            uid=n,
            raw_sha256=hashlib.sha256(f"mail {n}".encode()).hexdigest(),
            raw_size=100,
            subject=f"Invoice {number}",
            decision="import",
            reason="imported",
        )
        s.add(m)
        s.flush()
        einvoice = {"format": "xrechnung-ubl", "document_type": "invoice", "number": number}
        if problems is not None:
            einvoice["problems"] = problems
        d = Document(
            message_id=m.id,
            company_id=src.company_id,
            sha256=hashlib.sha256(f"doc {n}".encode()).hexdigest(),
            size=10,
            media_type="application/xml",
            filename=f"{number}.xml",
            kind="einvoice_xml",
            einvoice=einvoice,
            einvoice_problems=None if problems is None else len(problems),
        )
        s.add(d)
        s.flush()
        return d.id


def test_the_api_flags_and_filters_inconsistent_einvoices(web: Web) -> None:
    bad = add_document(web, "BAD-1", PROBLEMS)
    fine = add_document(web, "OK-1", [])
    old = add_document(web, "OLD-1", None)
    api = web.api(web.user("admin@example.test"))
    listed = {d["id"]: d for d in api.get("/api/v1/documents").json()["items"]}
    assert listed[bad]["flags"] == ["einvoice_inconsistent"]
    assert listed[fine]["flags"] == [] and listed[old]["flags"] == []
    assert [p["rule"] for p in listed[bad]["einvoice"]["problems"]] == ["BR-CO-15", "BR-CO-16"]
    assert listed[bad]["einvoice"]["problems"][0]["figures"]["total"] == "119.01"
    r = api.get("/api/v1/documents", params={"flag": "einvoice_inconsistent"})
    assert [d["id"] for d in r.json()["items"]] == [bad]


def test_the_queue_badges_and_filters_them_and_the_page_lists_the_problems(web: Web) -> None:
    bad = add_document(web, "BAD-2", PROBLEMS)
    add_document(web, "OK-2", [])
    browser = web.browser(web.user("admin@example.test"))
    queue = browser.get("/documents").text
    badge = re.search(
        r'<span class="badge flag [^"]*" data-flag="einvoice_inconsistent"[^>]*>', queue
    )
    assert badge is not None, queue
    assert "BR-CO-15, BR-CO-16" in badge.group(0)
    assert '<option value="einvoice_inconsistent"' in queue
    filtered = browser.get("/documents", params={"flag": "einvoice_inconsistent"}).text
    assert "BAD-2.xml" in filtered and "OK-2.xml" not in filtered
    page = browser.get(f"/documents/{bad}").text
    panel = page.split('id="einvoice-problems"', 1)[1].split("</div>", 1)[0]
    assert 'data-rule="BR-CO-15"' in panel and 'data-rule="BR-CO-16"' in panel
    assert "tax basis 100.00 + tax 19.00 ≠ total 119.01" in panel
    fine_page = browser.get(f"/documents/{bad + 1}").text
    assert 'id="einvoice-problems"' not in fine_page
