"""Sources through the API: every problem of the settings named by its field (the same
validation as the web form), the server's own words when it refuses, partial changes, removal,
and what fetch-now answers when it cannot run."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from builders import Attachment, make_mail, make_pdf
from harness.dovecot import Mailbox
from invoice_inbox.runtime import lease
from invoice_inbox.store.models import Source
from web.conftest import Web


def imap_settings(mailbox: Mailbox, **changes: Any) -> dict[str, Any]:
    return {
        "name": "ap",
        "company": "ACME",
        "host": "127.0.0.1",
        "port": mailbox.server.imap_port,
        "security": "none",
        "username": mailbox.user,
        "password": mailbox.password,
        **changes,
    }


def problems(r: Any) -> dict[str, str]:
    assert r.status_code == 422, r.text
    return {p["field"]: p["problem"] for p in r.json()["problems"]}


def admin_api(web: Web) -> TestClient:
    web.user("admin@x.test", "admin")
    return web.api("admin@x.test")


def test_invalid_settings_answer_422_naming_each_field(web: Web, mailbox: Mailbox) -> None:
    api = admin_api(web)
    r = api.post("/api/v1/sources", json=imap_settings(mailbox, port=70000))
    assert r.json()["detail"] == "invalid source"
    assert problems(r) == {"port": "must be between 1 and 65535"}

    settings = imap_settings(mailbox)
    del settings["password"]
    assert set(problems(api.post("/api/v1/sources", json=settings))) == {"password"}

    pop3 = imap_settings(mailbox, provider="pop3", folders=["INBOX", "Archive"])
    found = problems(api.post("/api/v1/sources", json=pop3))
    assert found == {"folders": "a POP3 mailbox has only the inbox"}

    many = {"provider": "imap", "security": "plain", "instant": True, "protocol": "pop3"}
    assert {"name", "company", "host", "username", "password", "security", "protocol"} <= set(
        problems(api.post("/api/v1/sources", json=many))
    )

    # the types are checked before the settings: the same answer shape, the field named
    r = api.post("/api/v1/sources", json=imap_settings(mailbox, port="nine", passwort="x"))
    assert r.json()["detail"] == "invalid request"
    assert set(problems(r)) == {"port", "passwort"}

    assert api.post("/api/v1/sources", json=imap_settings(mailbox)).status_code == 201
    taken = problems(api.post("/api/v1/sources", json=imap_settings(mailbox)))
    assert taken == {"name": 'a source named "ap" exists already'}
    with web.app.db.session() as s:
        assert s.query(Source).count() == 1


def test_a_wrong_password_is_named_with_the_servers_words(web: Web, mailbox: Mailbox) -> None:
    api = admin_api(web)
    src = api.post("/api/v1/sources", json=imap_settings(mailbox, password="wrong")).json()
    r = api.post(f"/api/v1/sources/{src['id']}/check")
    assert r.status_code == 422
    assert r.json()["field"] == "password"
    assert r.json()["detail"].startswith("login refused by server:")
    assert "authentication failed" in r.json()["detail"].lower()  # Dovecot's words

    r = api.post(f"/api/v1/sources/{src['id']}/fetch", params={"wait": "true"})
    assert r.status_code == 422 and r.json()["field"] == "password"
    assert "login refused by server" in r.json()["detail"]

    fixed = api.patch(f"/api/v1/sources/{src['id']}", json={"password": mailbox.password})
    assert fixed.status_code == 200
    assert api.post(f"/api/v1/sources/{src['id']}/check").json()["ok"] is True


def test_a_missing_folder_and_an_unreachable_server_are_named(web: Web, mailbox: Mailbox) -> None:
    api = admin_api(web)
    src = api.post("/api/v1/sources", json=imap_settings(mailbox, folders=["INBOX", "Bills"]))
    r = api.post(f"/api/v1/sources/{src.json()['id']}/check")
    assert r.status_code == 200
    assert r.json()["ok"] is False and r.json()["missing"] == ["Bills"]
    assert "INBOX" in r.json()["folders"]

    nowhere = imap_settings(mailbox, name="nowhere", host="127.0.0.1", port=1)  # closed port
    other = api.post("/api/v1/sources", json=nowhere).json()
    r = api.post(f"/api/v1/sources/{other['id']}/check")
    assert r.status_code == 422 and r.json()["field"] == "port", r.text  # nothing listens there


def test_changes_are_partial_and_null_clears_an_optional_setting(
    web: Web, mailbox: Mailbox
) -> None:
    api = admin_api(web)
    settings = imap_settings(mailbox, move_imported_to="Imported", allowed_senders=["*@sup.test"])
    src = api.post("/api/v1/sources", json=settings).json()
    assert src["move_imported_to"] == "Imported" and src["schedule"] == "every 1h"

    r = api.patch(f"/api/v1/sources/{src['id']}", json={"schedule": "every 15m"})
    assert r.status_code == 200, r.text
    changed = r.json()
    assert changed["schedule"] == "every 15m"
    assert changed["move_imported_to"] == "Imported" and changed["password_set"] is True
    assert changed["allowed_senders"] == ["*@sup.test"]

    cleared = api.patch(
        f"/api/v1/sources/{src['id']}", json={"move_imported_to": None, "allowed_senders": None}
    ).json()
    assert cleared["move_imported_to"] is None and cleared["allowed_senders"] == []
    assert cleared["schedule"] == "every 15m" and cleared["active"] is True

    bad = api.patch(f"/api/v1/sources/{src['id']}", json={"schedule": "sometimes", "port": 0})
    assert set(problems(bad)) == {"schedule", "port"}
    assert api.get(f"/api/v1/sources/{src['id']}").json()["schedule"] == "every 15m"

    off = api.patch(f"/api/v1/sources/{src['id']}", json={"active": False}).json()
    assert off["active"] is False and off["status"] == "inactive"
    assert api.patch("/api/v1/sources/999", json={"active": True}).status_code == 404


def test_removing_a_source_takes_its_runs_and_documents(web: Web, mailbox: Mailbox) -> None:
    api = admin_api(web)
    src = api.post("/api/v1/sources", json=imap_settings(mailbox)).json()
    mailbox.append("INBOX", make_mail(attachments=[Attachment("a.pdf", make_pdf("a"))]))
    run = api.post(f"/api/v1/sources/{src['id']}/fetch?wait=true").json()
    assert run["documents_created"] == 1
    assert len(api.get("/api/v1/documents").json()["items"]) == 1

    r = api.delete(f"/api/v1/sources/{src['id']}")
    assert r.status_code == 204 and r.content == b""
    assert api.get(f"/api/v1/sources/{src['id']}").status_code == 404
    assert api.get(f"/api/v1/runs/{run['run_id']}").status_code == 404
    assert api.get("/api/v1/documents", params={"status": "all"}).json()["items"] == []
    assert api.delete(f"/api/v1/sources/{src['id']}").status_code == 404


def test_fetch_now_of_a_busy_source_is_409_and_of_an_import_address_422(
    web: Web, mailbox: Mailbox
) -> None:
    api = admin_api(web)
    src = api.post("/api/v1/sources", json=imap_settings(mailbox)).json()
    lease.acquire(web.app.db, src["id"], "elsewhere:1:worker")  # a live process elsewhere
    r = api.post(f"/api/v1/sources/{src['id']}/fetch", params={"wait": "true"})
    assert r.status_code == 409
    assert r.json()["detail"].startswith('source "ap" is being fetched by another process')
    lease.release(web.app.db, src["id"], "elsewhere:1:worker")
    assert api.post(f"/api/v1/sources/{src['id']}/fetch?wait=true").status_code == 200

    company = api.post("/api/v1/companies", json={"name": "Beta"}).json()
    imports = api.get("/api/v1/sources", params={"company_id": company["id"]}).json()
    assert [s["protocol"] for s in imports] == ["smtp"]
    for action in ("check", "fetch"):
        r = api.post(f"/api/v1/sources/{imports[0]['id']}/{action}")
        assert r.status_code == 422
        assert "import address" in r.json()["detail"]
    assert web.fetched == []
