"""The REST API as an integrator uses it, with an API token and real mail in Dovecot: set up a
company and a mailbox, check and fetch it, take the documents (fields, exact bytes), acknowledge
them, and page through the queue with cursors."""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi.testclient import TestClient

from builders import Attachment, make_mail, make_pdf
from corpus import CORPUS
from harness.dovecot import Mailbox
from web.conftest import Web

ZUGFERD = CORPUS / "zugferd-corpus__EN16931_Einfach.pdf"  # Lieferant GmbH, 471102, 529.87 EUR
XRECHNUNG_UBL = CORPUS / "xrechnung-testsuite__01.02a-INVOICE_ubl.xml"  # 123456, 12.6 EUR


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def new_source(api: TestClient, mailbox: Mailbox, name: str = "ap", company: str = "ACME") -> Any:
    r = api.post(
        "/api/v1/sources",
        json={
            "name": name,
            "company": company,
            "host": "127.0.0.1",
            "port": mailbox.server.imap_port,
            "security": "none",
            "username": mailbox.user,
            "password": mailbox.password,
            "schedule": "manual",
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


def all_pages(api: TestClient, url: str, **params: Any) -> list[list[int]]:
    """The ids of every page of a listing, following next_cursor."""
    pages, cursor = [], None
    while True:
        r = api.get(url, params={**params, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append([item["id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def test_an_integrator_sets_up_a_mailbox_fetches_and_takes_the_documents(
    web: Web, mailbox: Mailbox
) -> None:
    web.user("erp@x.test", "admin")
    api = web.api("erp@x.test")

    r = api.post("/api/v1/companies", json={"name": "ACME", "notify_emails": ["AP@acme.test"]})
    assert r.status_code == 201, r.text
    company = r.json()
    assert company["name"] == "ACME" and company["notify_emails"] == ["ap@acme.test"]
    assert company["counts"] == {"sources": 1, "documents": 0, "new_documents": 0}  # import src
    assert api.post("/api/v1/companies", json={"name": "ACME"}).status_code == 409

    src = new_source(api, mailbox)
    assert src["company"] == "ACME" and src["company_id"] == company["id"]
    assert src["password_set"] is True and src["client_secret_set"] is False
    assert src["status"] == "active" and src["folders"] == ["INBOX"]
    assert "password" not in src

    r = api.post(f"/api/v1/sources/{src['id']}/check")
    assert r.status_code == 200, r.text
    assert r.json()["ok"] is True and "INBOX" in r.json()["folders"]
    assert r.json()["missing"] == []

    zugferd, plain, xml = ZUGFERD.read_bytes(), make_pdf("Invoice 77"), XRECHNUNG_UBL.read_bytes()
    mailbox.append(
        "INBOX", make_mail(subject="ZUGFeRD", attachments=[Attachment("z.pdf", zugferd)])
    )
    mailbox.append(
        "INBOX", make_mail(subject="Invoice 77", attachments=[Attachment("77.pdf", plain)])
    )
    mailbox.append(
        "INBOX",
        make_mail(subject="XRechnung", attachments=[Attachment("x.xml", xml, "application/xml")]),
    )
    mailbox.append("INBOX", make_mail(subject="Lunch?", attachments=[]))

    r = api.post(f"/api/v1/sources/{src['id']}/fetch", params={"wait": "true"})
    assert r.status_code == 200, r.text
    summary = r.json()
    assert summary["status"] == "succeeded" and summary["source"] == "ap"
    assert summary["messages_seen"] == 4
    assert (summary["imported"], summary["not_imported"], summary["documents_created"]) == (3, 1, 3)

    r = api.get("/api/v1/documents", params={"company_id": company["id"]})
    assert r.status_code == 200
    listed = r.json()
    assert listed["next_cursor"] is None
    assert [d["filename"] for d in listed["items"]] == ["x.xml", "77.pdf", "z.pdf"]  # newest 1st
    docs = {d["filename"]: d for d in listed["items"]}
    z = docs["z.pdf"]
    assert z["kind"] == "einvoice_pdf" and z["media_type"] == "application/pdf"
    assert z["status"] == "new" and z["sha256"] == sha(zugferd) and z["size"] == len(zugferd)
    assert z["source_id"] == src["id"] and z["company"] == "ACME"
    einvoice = z["einvoice"]
    assert einvoice["number"] == "471102" and einvoice["seller_name"] == "Lieferant GmbH"
    assert (einvoice["total"], einvoice["currency"]) == ("529.87", "EUR")
    assert einvoice["issue_date"] == "2018-03-05" and einvoice["document_type"] == "invoice"
    assert docs["x.xml"]["kind"] == "einvoice_xml"
    assert docs["x.xml"]["einvoice"]["number"] == "123456"
    assert docs["x.xml"]["einvoice"]["total"] == "12.6"
    assert docs["77.pdf"]["kind"] == "pdf" and docs["77.pdf"]["einvoice"] is None

    detail = api.get(f"/api/v1/documents/{z['id']}").json()
    assert detail["message"]["subject"] == "ZUGFeRD"
    assert detail["message"]["sender"] == "billing@supplier.example"
    assert detail["message"]["decision"] == "import"
    assert detail["duplicate_of"] is None and detail["duplicated_by"] == []
    assert detail["file_url"] == f"/api/v1/documents/{z['id']}/file"

    for name, data, media_type in (
        ("z.pdf", zugferd, "application/pdf"),
        ("x.xml", xml, "application/xml"),
    ):
        f = api.get(docs[name]["file_url"])
        assert f.status_code == 200
        assert sha(f.content) == sha(data)
        assert f.headers["content-type"].split(";")[0] == media_type
        assert f.headers["content-disposition"] == (
            f"attachment; filename=\"{name}\"; filename*=UTF-8''{name}"
        )
        assert f.headers["x-content-type-options"] == "nosniff"

    acked = api.post(f"/api/v1/documents/{z['id']}/ack")
    assert acked.status_code == 200
    assert acked.json()["status"] == "processed"
    assert acked.json()["processed_by"] == "erp@x.test"
    again = api.post(f"/api/v1/documents/{z['id']}/ack").json()
    assert again["processed_at"] == acked.json()["processed_at"]  # idempotent
    new_ids = [d["id"] for d in api.get("/api/v1/documents").json()["items"]]
    assert z["id"] not in new_ids and len(new_ids) == 2
    processed = api.get("/api/v1/documents", params={"status": "processed"}).json()["items"]
    assert [d["id"] for d in processed] == [z["id"]]
    everything = api.get("/api/v1/documents", params={"status": "all"}).json()["items"]
    assert len(everything) == 3
    counts = api.get(f"/api/v1/companies/{company['id']}").json()["counts"]
    assert counts == {"sources": 2, "documents": 3, "new_documents": 2}

    undone = api.delete(f"/api/v1/documents/{z['id']}/ack")
    assert undone.status_code == 200 and undone.json()["status"] == "new"
    assert undone.json()["processed_at"] is None
    assert z["id"] in [d["id"] for d in api.get("/api/v1/documents").json()["items"]]

    only = api.get("/api/v1/documents", params={"kind": "einvoice_xml", "status": "all"})
    assert [d["filename"] for d in only.json()["items"]] == ["x.xml"]

    # the run log and the ledger say what happened and why
    runs = api.get("/api/v1/runs", params={"source_id": src["id"]}).json()
    assert len(runs["items"]) == 1 and runs["next_cursor"] is None
    run = runs["items"][0]
    assert run["id"] == summary["run_id"] and run["trigger"] == "manual"
    assert (run["status"], run["imported"], run["not_imported"]) == ("succeeded", 3, 1)
    assert api.get(f"/api/v1/runs/{run['id']}").json() == run
    seen = api.get(f"/api/v1/runs/{run['id']}/messages").json()["items"]
    assert [m["subject"] for m in seen] == ["ZUGFeRD", "Invoice 77", "XRechnung", "Lunch?"]
    assert [m["decision"] for m in seen] == ["import"] * 3 + ["not_imported"]
    assert seen[0]["documents"] == [z["id"]] and seen[3]["documents"] == []
    assert seen[3]["reason"]
    refused = api.get("/api/v1/messages", params={"decision": "not_imported"}).json()["items"]
    assert [m["id"] for m in refused] == [seen[3]["id"]]
    one = api.get(f"/api/v1/messages/{seen[3]['id']}").json()
    assert one["subject"] == "Lunch?" and one["reason"] == seen[3]["reason"]

    # fetch now without waiting: started in the background
    r = api.post(f"/api/v1/sources/{src['id']}/fetch")
    assert r.status_code == 202 and r.json() == {"started": True}
    assert web.fetched == ["ap"]


def test_cursor_pages_return_every_document_once_even_when_new_ones_arrive(
    web: Web, mailbox: Mailbox
) -> None:
    web.user("erp@x.test", "admin")
    api = web.api("erp@x.test")
    src = new_source(api, mailbox)
    for i in range(5):
        pdf = Attachment(f"{i}.pdf", make_pdf(f"Invoice {i}"))
        mailbox.append("INBOX", make_mail(subject=f"Invoice {i}", attachments=[pdf]))
    assert api.post(f"/api/v1/sources/{src['id']}/fetch?wait=true").status_code == 200
    every = [d["id"] for d in api.get("/api/v1/documents").json()["items"]]
    assert len(every) == 5 and every == sorted(every, reverse=True)

    pages = all_pages(api, "/api/v1/documents", limit=2)
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [i for p in pages for i in p] == every

    # a document that arrives between two pages is not on the older pages, nothing repeats
    first = api.get("/api/v1/documents", params={"limit": 2}).json()
    mailbox.append("INBOX", make_mail(attachments=[Attachment("late.pdf", make_pdf("late"))]))
    assert api.post(f"/api/v1/sources/{src['id']}/fetch?wait=true").status_code == 200
    rest = all_pages(api, "/api/v1/documents", limit=2, cursor=first["next_cursor"])
    assert [i for p in rest for i in p] == every[2:]

    # the same paging over the ledger and the run log
    messages = all_pages(api, "/api/v1/messages", limit=4)
    assert [len(p) for p in messages] == [4, 2]
    runs = all_pages(api, "/api/v1/runs", limit=1)
    assert len(runs) == 2 and runs[0][0] > runs[1][0]


def test_a_cursor_is_opaque_and_tied_to_its_listing(web: Web, mailbox: Mailbox) -> None:
    web.user("erp@x.test", "admin")
    api = web.api("erp@x.test")
    src = new_source(api, mailbox)
    for i in range(3):
        mailbox.append("INBOX", make_mail(attachments=[Attachment(f"{i}.pdf", make_pdf(str(i)))]))
    api.post(f"/api/v1/sources/{src['id']}/fetch?wait=true")
    cursor = api.get("/api/v1/documents", params={"limit": 1}).json()["next_cursor"]
    assert cursor and not cursor.isdigit()

    for bad in ("garbage!", "12", cursor[:-2]):
        r = api.get("/api/v1/documents", params={"cursor": bad})
        assert r.status_code == 422, bad
        assert [p["field"] for p in r.json()["problems"]] == ["cursor"]
    r = api.get("/api/v1/messages", params={"cursor": cursor})  # a documents cursor
    assert r.status_code == 422
    for limit in (0, 201):
        r = api.get("/api/v1/documents", params={"limit": limit})
        assert r.status_code == 422 and r.json()["problems"][0]["field"] == "limit"
    assert len(api.get("/api/v1/documents", params={"limit": 200}).json()["items"]) == 3
    r = api.get("/api/v1/documents", params={"status": "maybe", "received_from": "yesterday"})
    assert r.status_code == 422
    assert {p["field"] for p in r.json()["problems"]} == {"status", "received_from"}
