"""Who may see and do what through the API: another company's things do not exist (404, the
same answer as a made-up id), viewers only look (403), clerks fetch and acknowledge but do not
configure, no token is 401 on every route, and no answer ever contains a stored secret."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from builders import Attachment, make_mail, make_pdf
from harness.dovecot import Mailbox
from invoice_inbox.runtime import runner
from invoice_inbox.store import companies, notifications
from invoice_inbox.store.models import Document, Message, Run, Source, utcnow
from web.conftest import Web

XSS = "<script>alert(1)</script>"
OWN_PATHS = (
    "/api/v1/companies",
    "/api/v1/companies/{company_id}",
    "/api/v1/sources",
    "/api/v1/sources/{source_id}",
    "/api/v1/sources/{source_id}/check",
    "/api/v1/sources/{source_id}/fetch",
    "/api/v1/runs",
    "/api/v1/runs/{run_id}",
    "/api/v1/runs/{run_id}/messages",
    "/api/v1/messages",
    "/api/v1/messages/{message_id}",
    "/api/v1/documents",
    "/api/v1/documents/{document_id}",
    "/api/v1/documents/{document_id}/file",
    "/api/v1/documents/{document_id}/ack",
    "/api/v1/notifications",
)


@dataclass
class Acme:
    """ACME's fetched source and what it brought; BETA exists with nothing in it."""

    company_id: int
    beta_id: int
    source_id: int
    run_id: int
    message_id: int
    document_id: int


@pytest.fixture
def acme(web: Web, mailbox: Mailbox) -> Acme:
    mailbox.append(
        "INBOX",
        make_mail(subject=XSS, attachments=[Attachment("a.pdf", make_pdf("ACME invoice"))]),
    )
    source_id = web.imap_source("acme-ap", mailbox, "ACME")
    runner.fetch(web.app, "acme-ap")
    web.company("BETA")
    with web.app.db.session() as s:
        run = s.query(Run).one()
        message = s.query(Message).one()
        doc = s.query(Document).one()
        ids = run.id, message.id, doc.id
    return Acme(web.company_id("ACME"), web.company_id("BETA"), source_id, *ids)


def operations(api: TestClient) -> list[tuple[str, str]]:
    """Every (method, path) of the API, from its OpenAPI document."""
    spec = api.get("/openapi.json").json()
    return [
        (method.upper(), path)
        for path, item in spec["paths"].items()
        if path.startswith("/api/v1/")
        for method in item
    ]


def fill(path: str, **ids: int) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(ids.get(m.group(1), 1)), path)


def test_every_api_route_needs_a_token(web: Web) -> None:
    web.user("admin@x.test", "admin")
    found = operations(web.client())
    assert {p for _, p in found} >= set(OWN_PATHS)
    for token in (None, "iit_not-a-token", ""):
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        client = web.client(headers=headers)
        for method, path in found:
            r = client.request(method, fill(path), json={})
            assert r.status_code == 401, (method, path, r.text)
            assert r.headers["www-authenticate"] == "Bearer"
            assert r.json() == {
                "detail": "an API token is needed: send Authorization: Bearer TOKEN"
            }


def test_another_companys_things_do_not_exist_for_a_clerk(web: Web, acme: Acme) -> None:
    web.user("clerk@beta.test", "clerk", ("BETA",))
    api = web.api("clerk@beta.test")
    hidden = {
        "company_id": acme.company_id,
        "source_id": acme.source_id,
        "run_id": acme.run_id,
        "message_id": acme.message_id,
        "document_id": acme.document_id,
    }
    made_up = dict.fromkeys(hidden, 99999)
    for method, path in operations(api):
        if path not in OWN_PATHS or "{" not in path:
            continue
        shown = api.request(method, fill(path, **hidden), json={"active": False})
        unknown = api.request(method, fill(path, **made_up), json={"active": False})
        assert shown.status_code == 404, (method, path, shown.text)
        assert shown.json() == unknown.json(), (method, path)  # nothing tells them apart

    assert [c["name"] for c in api.get("/api/v1/companies").json()] == ["BETA"]
    assert api.get("/api/v1/sources").json() == []
    for listing in ("runs", "messages", "documents", "notifications"):
        r = api.get(
            f"/api/v1/{listing}", params={"status": "all"} if listing == "documents" else {}
        )
        assert r.json() == {"items": [], "next_cursor": None}, listing
    for params in ({"company_id": acme.company_id}, {"source_id": acme.source_id}):
        assert api.get("/api/v1/documents", params=params).status_code == 404
    assert api.get("/api/v1/runs", params={"source_id": acme.source_id}).status_code == 404
    assert api.get("/api/v1/sources", params={"company_id": acme.company_id}).status_code == 404
    with web.app.db.session() as s:
        assert s.get(Source, acme.source_id).active is True  # type: ignore[union-attr]
        assert s.get(Document, acme.document_id).processed_at is None  # type: ignore[union-attr]
    assert web.fetched == []


def test_a_viewer_looks_but_changes_nothing(web: Web, acme: Acme) -> None:
    web.user("viewer@acme.test", "viewer", ("ACME",))
    api = web.api("viewer@acme.test")
    doc = f"/api/v1/documents/{acme.document_id}"
    assert api.get(doc).status_code == 200
    assert api.get(f"{doc}/file").status_code == 200
    assert api.get(f"/api/v1/sources/{acme.source_id}").status_code == 200
    refused = [
        api.post(f"{doc}/ack"),
        api.delete(f"{doc}/ack"),
        api.post(f"/api/v1/sources/{acme.source_id}/fetch"),
        api.post(f"/api/v1/sources/{acme.source_id}/fetch?wait=true"),
        api.post(f"/api/v1/sources/{acme.source_id}/check"),
        api.patch(f"/api/v1/sources/{acme.source_id}", json={"active": False}),
        api.delete(f"/api/v1/sources/{acme.source_id}"),
        api.post("/api/v1/sources", json={"name": "x", "company": "ACME"}),
        api.post("/api/v1/companies", json={"name": "Mine"}),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    assert refused[0].json() == {"detail": "viewers may look but not change anything"}
    assert api.get(doc).json()["status"] == "new"
    assert web.fetched == []


def test_a_clerk_fetches_and_acknowledges_but_does_not_configure(
    web: Web, mailbox: Mailbox, acme: Acme
) -> None:
    web.user("clerk@acme.test", "clerk", ("ACME",))
    api = web.api("clerk@acme.test")
    assert api.post(f"/api/v1/sources/{acme.source_id}/check").json()["ok"] is True
    assert api.post(f"/api/v1/sources/{acme.source_id}/fetch").status_code == 202
    assert web.fetched == ["acme-ap"]
    acked = api.post(f"/api/v1/documents/{acme.document_id}/ack").json()
    assert acked["processed_by"] == "clerk@acme.test"
    refused = [
        api.patch(f"/api/v1/sources/{acme.source_id}", json={"schedule": "manual"}),
        api.delete(f"/api/v1/sources/{acme.source_id}"),
        api.post("/api/v1/sources", json={"name": "x", "company": "ACME"}),
        api.post("/api/v1/companies", json={"name": "Mine"}),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    assert refused[0].json() == {"detail": "only an administrator may do this"}

    # a source restricted to someone else is not theirs; its documents still are
    web.imap_source("boss-only", mailbox, "ACME", restricted_to_role="admin")
    with web.app.db.session() as s:
        restricted = s.query(Source).filter_by(name="boss-only").one().id
    assert api.get(f"/api/v1/sources/{restricted}").status_code == 404
    assert api.post(f"/api/v1/sources/{restricted}/fetch").status_code == 404
    assert [s["name"] for s in api.get("/api/v1/sources").json()] == ["acme-ap"]


def test_no_answer_contains_a_stored_secret(web: Web, mailbox: Mailbox, acme: Acme) -> None:
    web.user("admin@x.test", "admin")
    api = web.api("admin@x.test")
    password, client_secret = "pw-Zq81-never-shown", "cs-Hh27-never-shown"
    imap = api.post(
        "/api/v1/sources",
        json={
            "name": "with-password",
            "company": "ACME",
            "host": "127.0.0.1",
            "port": mailbox.server.imap_port,
            "security": "none",
            "username": mailbox.user,
            "password": password,
        },
    )
    app_only = api.post(
        "/api/v1/sources",
        json={
            "name": "with-client-secret",
            "company": "ACME",
            "provider": "microsoft365",
            "auth": "app",
            "username": "ap@acme.test",
            "tenant_id": "acme.test",
            "client_id": "11111111-2222-3333-4444-555555555555",
            "client_secret": client_secret,
        },
    )
    assert imap.status_code == app_only.status_code == 201, app_only.text
    assert app_only.json()["client_secret_set"] is True
    patched = api.patch(
        f"/api/v1/sources/{app_only.json()['id']}", json={"client_secret": client_secret}
    )
    with web.app.db.session() as s:
        stored = [
            value
            for src in s.query(Source)
            for value in (src.secret, src.client_secret, src.token)
            if value
        ]
    secrets = [password, client_secret, mailbox.password, *stored]

    answers: list[Any] = [imap, app_only, patched]
    ids: dict[str, list[int]] = {
        "company_id": [acme.company_id, acme.beta_id],
        "source_id": [acme.source_id, imap.json()["id"], app_only.json()["id"]],
        "run_id": [acme.run_id],
        "message_id": [acme.message_id],
        "document_id": [acme.document_id],
    }
    for method, path in operations(api):
        if method != "GET":
            continue
        names = re.findall(r"\{(\w+)\}", path)
        for values in itertools.product(*(ids.get(n, [1]) for n in names)):
            answers.append(api.get(fill(path, **dict(zip(names, values, strict=True)))))
    answers.append(api.get("/api/v1/documents", params={"status": "all"}))
    answers.append(api.get("/openapi.json"))
    assert sum(r.status_code == 200 for r in answers) >= 20
    for r in answers:
        for secret in secrets:
            assert secret.encode() not in r.content, (r.request.url, secret[:6])


def test_text_from_mail_is_json_data_and_the_docs_list_the_api(web: Web, acme: Acme) -> None:
    web.user("admin@x.test", "admin")
    api = web.api("admin@x.test")
    r = api.get(f"/api/v1/messages/{acme.message_id}")
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.json()["subject"] == XSS
    assert api.get(f"/api/v1/documents/{acme.document_id}").json()["message"]["subject"] == XSS

    docs = web.client().get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = web.client().get("/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    assert set(OWN_PATHS) <= set(paths)
    for path in OWN_PATHS:
        for method, op in paths[path].items():
            assert op["tags"], (method, path)
            assert op["security"] == [{"HTTPBearer": []}], (method, path)
    schemas = spec.json()["components"]["schemas"]
    assert "password" not in schemas["SourceOut"]["properties"]
    assert "client_secret" not in schemas["SourceOut"]["properties"]
    assert schemas["SourceIn"]["properties"]["password"]["writeOnly"] is True
    listing = paths["/api/v1/documents"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {
        "company_id",
        "source_id",
        "status",
        "kind",
        "received_from",
        "received_to",
        "cursor",
        "limit",
    }


def test_notifications_are_listed_for_their_company_only(
    web: Web, mailbox: Mailbox, acme: Acme
) -> None:
    with web.app.db.session() as s:
        acme_src = s.get(Source, acme.source_id)
        assert acme_src is not None
        for i in range(3):
            notifications.create(
                s, acme_src, "source_deactivated", f"acme-ap is off ({i})", XSS, now=utcnow()
            )
    beta_source_id = web.imap_source("beta-ap", mailbox, "BETA")
    with web.app.db.session() as s:
        beta_src = s.get(Source, beta_source_id)
        assert beta_src is not None
        notifications.create(
            s, beta_src, "needs_attention", "beta-ap needs sign-in", "", now=utcnow()
        )

    web.user("clerk@beta.test", "clerk", ("BETA",))
    beta = web.api("clerk@beta.test").get("/api/v1/notifications").json()
    assert [n["subject"] for n in beta["items"]] == ["beta-ap needs sign-in"]
    only = beta["items"][0]
    assert (only["company"], only["source"], only["source_id"]) == ("BETA", "beta-ap", beta_src.id)
    assert (only["email_state"], only["webhook_state"], only["attempts"]) == (
        "pending",
        "pending",
        0,
    )
    hidden = web.api("clerk@beta.test").get(
        "/api/v1/notifications", params={"company_id": acme.company_id}
    )
    assert hidden.status_code == 404

    web.user("admin@x.test", "admin")
    admin = web.api("admin@x.test")
    first = admin.get("/api/v1/notifications", params={"company_id": acme.company_id, "limit": 2})
    page = first.json()
    assert [n["subject"] for n in page["items"]] == ["acme-ap is off (2)", "acme-ap is off (1)"]
    assert page["items"][0]["body"] == XSS and page["items"][0]["kind"] == "source_deactivated"
    rest = admin.get("/api/v1/notifications", params={"cursor": page["next_cursor"], "limit": 2})
    assert [n["subject"] for n in rest.json()["items"]] == ["acme-ap is off (0)"]
    assert rest.json()["next_cursor"] is None


def test_companies_show_their_import_address_and_refuse_bad_input(web: Web) -> None:
    web.user("admin@x.test", "admin")
    api = web.api("admin@x.test")
    with web.app.db.session() as s:
        companies.set_setting(s, companies.SMTP_DOMAIN, "invoices.example.com")
    made = api.post("/api/v1/companies", json={"name": "Müller & Söhne"})
    assert made.status_code == 201
    address = api.get(f"/api/v1/companies/{made.json()['id']}").json()["import_address"]
    assert re.fullmatch(r"muller-sohne-[a-z2-9]{12}@invoices\.example\.com", address)

    bad = api.post("/api/v1/companies", json={"name": "", "notify_emails": ["*@x.test"]})
    assert bad.status_code == 422
    assert {p["field"] for p in bad.json()["problems"]} == {"name"}
    bad = api.post("/api/v1/companies", json={"name": "X", "notify_emails": ["*@x.test"]})
    assert bad.status_code == 422
    assert bad.json()["problems"] == [
        {"field": "notify_emails.0", "problem": "takes an e-mail address, not a pattern"}
    ]
    assert api.get("/api/v1/companies/99999").status_code == 404
