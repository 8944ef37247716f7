"""Webhook screens and API: administrators only change them, the signing secret is shown once,
bad input is named next to its field, "Send test event" reaches a real receiver signed with the
shown secret, and the delivery log shows each attempt (the receivers listen on 127.0.0.1: those
tests run with the operator's allowance for private addresses). Without it, a URL at a
non-public address is refused next to its field and with a 422, and no page or API answer shows
what a receiver answered."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from fakes.receivers import WebhookReceiver
from invoice_inbox.delivery import webhooks
from invoice_inbox.store.models import utcnow
from invoice_inbox.store.models_events import Webhook, WebhookDelivery
from web.conftest import Web

_SECRET = re.compile(r'<pre id="secret">([^<]+)</pre>')


def create_by_form(web: Web, url: str, company: str = "ACME") -> tuple[int, str, str]:
    """Make a webhook on the screen: (its id, the secret shown, the page's HTML)."""
    b = web.browser("boss@x.test")
    web.company(company)
    r = b.form(
        "/webhooks",
        {"company_id": web.company_id(company), "url": url, "events": ["document.created"]},
    )
    assert r.status_code == 201, r.text
    m = _SECRET.search(r.text)
    assert m, "the secret is on the page that answers the form"
    with web.app.db.session() as s:
        hook_id = s.scalar(select(Webhook.id).where(Webhook.url == url))
    assert hook_id is not None
    return hook_id, m.group(1), r.text


def test_only_administrators_see_and_change_webhooks(web: Web) -> None:
    web.user("boss@x.test")
    web.user("clerk@x.test", "clerk", ("ACME",))
    web.user("beta@x.test", "viewer", ("Beta",))
    hook_id, _, _ = create_by_form(web, "https://erp.acme.example/hook")
    clerk = web.browser("clerk@x.test")
    for url in ("/webhooks", "/webhooks/new", f"/webhooks/{hook_id}"):
        r = clerk.get(url)
        assert r.status_code == 403 and "only an administrator" in r.text
    for url in (f"/webhooks/{hook_id}/test", f"/webhooks/{hook_id}/delete", "/webhooks"):
        assert (
            clerk.form(
                url, {"url": "https://x.example", "events": ["document.created"]}
            ).status_code
            == 403
        )
    assert "/webhooks" not in clerk.get("/sources").text  # not in the navigation either

    api = web.api("clerk@x.test")
    [seen] = api.get("/api/v1/webhooks").json()  # the clerk's company's webhooks, read-only
    assert seen["id"] == hook_id and "secret" not in seen
    assert api.get(f"/api/v1/webhooks/{hook_id}").status_code == 200
    assert api.patch(f"/api/v1/webhooks/{hook_id}", json={"active": False}).status_code == 403
    assert api.delete(f"/api/v1/webhooks/{hook_id}").status_code == 403
    assert api.post(f"/api/v1/webhooks/{hook_id}/test").status_code == 403
    created = api.post(
        "/api/v1/webhooks",
        json={"company": "ACME", "url": "https://x.example/h", "events": ["document.created"]},
    )
    assert created.status_code == 403
    other = web.api("beta@x.test")  # another company's user: the webhook does not exist
    assert other.get("/api/v1/webhooks").json() == []
    for method, url in (
        ("GET", f"/api/v1/webhooks/{hook_id}"),
        ("GET", f"/api/v1/webhooks/{hook_id}/deliveries"),
        ("PATCH", f"/api/v1/webhooks/{hook_id}"),
        ("DELETE", f"/api/v1/webhooks/{hook_id}"),
        ("POST", f"/api/v1/webhooks/{hook_id}/test"),
    ):
        r = other.request(method, url, json={"active": False} if method == "PATCH" else None)
        assert r.status_code == 404, (method, url)
    with web.app.db.session() as s:
        hook = s.get(Webhook, hook_id)
        assert hook is not None and hook.active


def test_bad_input_is_named_next_to_its_field(web: Web) -> None:
    web.user("boss@x.test")
    web.company("ACME")
    b = web.browser("boss@x.test")
    r = b.form("/webhooks", {"company_id": web.company_id("ACME"), "url": "ftp://erp.example/x"})
    assert r.status_code == 422
    assert 'id="url-error">The URL must start with http:// or https:// and name a host.' in r.text
    assert 'id="events-error">Choose at least one event.' in r.text
    assert 'value="ftp://erp.example/x"' in r.text  # what was typed stays
    r = b.form(
        "/webhooks",
        {"company_id": "", "url": "https://erp.example/x", "events": ["document.created"]},
    )
    assert r.status_code == 422 and 'id="company-error">Choose the company' in r.text
    with web.app.db.session() as s:
        assert s.scalar(select(Webhook.id)) is None


def test_the_secret_is_shown_once_and_never_again(web: Web) -> None:
    web.user("boss@x.test")
    hook_id, secret, page = create_by_form(web, "https://erp.acme.example/hook")
    assert "not shown again" in page
    with web.app.db.session() as s:
        stored = s.get(Webhook, hook_id)
        assert stored is not None
        assert secret not in stored.secret and web.app.secrets.decrypt(stored.secret) == secret
    b = web.browser("boss@x.test")
    b.form(f"/webhooks/{hook_id}/test")
    pages = [b.get(u).text for u in ("/webhooks", f"/webhooks/{hook_id}", "/webhooks/new")]
    api = web.api("boss@x.test")
    answers = [
        api.get(u).text
        for u in (
            "/api/v1/webhooks",
            f"/api/v1/webhooks/{hook_id}",
            f"/api/v1/webhooks/{hook_id}/deliveries",
        )
    ]
    answers.append(api.patch(f"/api/v1/webhooks/{hook_id}", json={"description": "ERP"}).text)
    for text in pages + answers:
        assert secret not in text
    assert "shown once when the webhook was created" in pages[1]

    made = api.post(
        "/api/v1/webhooks",
        json={
            "company": "ACME",
            "url": "https://second.example/h",
            "events": ["source.deactivated"],
        },
    )
    assert made.status_code == 201
    api_secret = made.json()["secret"]
    assert api_secret.startswith("whsec_")
    listed = api.get("/api/v1/webhooks").json()
    assert [h["url"] for h in listed] == [
        "https://erp.acme.example/hook",
        "https://second.example/h",
    ]
    assert all("secret" not in h for h in listed)
    assert api_secret not in api.get(f"/api/v1/webhooks/{made.json()['id']}").text


ALLOW = "INVOICE_INBOX_ALLOW_PRIVATE_WEBHOOKS"
SECRET_ANSWER = b"internal-only: db password is hunter2-7f3a9c"


def test_send_test_event_reaches_the_receiver_and_the_log_shows_the_attempts(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ALLOW, "1")  # the receiver is on 127.0.0.1
    web.user("boss@x.test")
    with WebhookReceiver() as receiver:
        hook_id, secret, _ = create_by_form(web, receiver.url)
        b = web.browser("boss@x.test")
        r = b.form(f"/webhooks/{hook_id}/test")
        assert r.status_code == 303 and r.headers["location"] == f"/webhooks/{hook_id}"
        page = b.get(f"/webhooks/{hook_id}").text
        assert "A test event is on its way" in page and "webhook.test" in page
        assert '<span class="badge warn">pending</span>' in page

        receiver.answer(500)
        now = utcnow()
        assert webhooks.deliver_due(web.app.db, web.app.secrets, now=now) == 0
        page = b.get(f"/webhooks/{hook_id}").text
        assert "HTTP 500" in page and "answered 500" in page and "next try" in page
        assert re.search(r'<td class="num">1</td>', page)
        assert webhooks.deliver_due(web.app.db, web.app.secrets, now=now + timedelta(minutes=1))
        page = b.get(f"/webhooks/{hook_id}").text
        assert '<span class="badge ok">delivered</span>' in page and "HTTP 204" in page
        assert re.search(r'<td class="num">2</td>', page)
        assert len(receiver.requests) == 2
        req = receiver.requests[-1]
    assert webhooks.verify(
        secret,
        req.headers["X-Invoice-Inbox-Timestamp"],
        req.body,
        req.headers["X-Invoice-Inbox-Signature"],
    )
    listing = b.get("/webhooks").text
    assert receiver.url in listing and '<span class="badge ok">delivered</span>' in listing

    api = web.api("boss@x.test")
    [log] = api.get(f"/api/v1/webhooks/{hook_id}/deliveries").json()
    assert (log["event"], log["state"], log["attempts"], log["last_status"]) == (
        "webhook.test",
        "delivered",
        2,
        204,
    )
    queued = api.post(f"/api/v1/webhooks/{hook_id}/test")
    assert queued.status_code == 202
    newest = api.get(f"/api/v1/webhooks/{hook_id}/deliveries").json()
    assert [d["id"] for d in newest] == [queued.json()["delivery_id"], log["id"]]
    assert newest[0]["state"] == "pending"
    older = api.get(f"/api/v1/webhooks/{hook_id}/deliveries", params={"before": newest[0]["id"]})
    assert [d["id"] for d in older.json()] == [log["id"]]


def test_change_and_delete_a_webhook(web: Web) -> None:
    web.user("boss@x.test")
    hook_id, _, _ = create_by_form(web, "https://erp.acme.example/hook")
    b = web.browser("boss@x.test")
    r = b.form(f"/webhooks/{hook_id}", {"url": "https://erp.acme.example/hook", "active": "on"})
    assert r.status_code == 422 and 'id="events-error">Choose at least one event.' in r.text
    r = b.form(
        f"/webhooks/{hook_id}",
        {
            "url": "https://erp.acme.example/v2",
            "description": "ERP v2",
            "events": ["source.deactivated", "source.needs_attention"],
        },
    )
    assert r.status_code == 303
    assert "it is off" in b.get(r.headers["location"]).text
    with web.app.db.session() as s:
        hook = s.get(Webhook, hook_id)
        assert hook is not None
        assert (hook.url, hook.description, hook.active) == (
            "https://erp.acme.example/v2",
            "ERP v2",
            False,
        )
        assert hook.events == ["source.deactivated", "source.needs_attention"]

    api = web.api("boss@x.test")
    bad = api.patch(f"/api/v1/webhooks/{hook_id}", json={"url": "mailto:ap@acme.example"})
    assert bad.status_code == 422 and bad.json()["problems"][0]["field"] == "url"
    bad = api.patch(f"/api/v1/webhooks/{hook_id}", json={"events": ["document.deleted"]})
    assert bad.status_code == 422 and "unknown event" in bad.json()["detail"]
    ok = api.patch(f"/api/v1/webhooks/{hook_id}", json={"active": True})
    assert ok.status_code == 200 and ok.json()["active"] is True
    assert ok.json()["url"] == "https://erp.acme.example/v2"  # the refused PATCHes kept nothing

    webhooks.ping(web.app.db, hook_id)
    r = b.form(f"/webhooks/{hook_id}/delete")
    assert r.status_code == 303 and r.headers["location"] == "/webhooks"
    assert "is deleted" in b.get("/webhooks").text
    assert b.get(f"/webhooks/{hook_id}").status_code == 404
    assert api.get(f"/api/v1/webhooks/{hook_id}").status_code == 404
    with web.app.db.session() as s:
        assert s.scalar(select(WebhookDelivery.id)) is None  # its log went with it

    made = api.post(
        "/api/v1/webhooks",
        json={"company_id": web.company_id("ACME"), "url": "https://e.example", "events": []},
    )
    assert made.status_code == 422 and made.json()["problems"][0]["field"] == "events"
    assert api.delete("/api/v1/webhooks/999").status_code == 404
    unknown = api.post(
        "/api/v1/webhooks",
        json={"company": "Nope", "url": "https://e.example", "events": ["document.created"]},
    )
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:9000/hook", "127.0.0.1 is a loopback address"),
        ("http://10.0.0.1/hook", "10.0.0.1 is a private address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://[::1]/hook", "::1 is a loopback address"),
        ("http://localhost:9000/hook", "localhost resolves to 127.0.0.1, which is a loopback"),
    ],
)
def test_a_url_at_a_non_public_address_is_refused_next_to_its_field(
    web: Web, monkeypatch: pytest.MonkeyPatch, url: str, why: str
) -> None:
    monkeypatch.delenv(ALLOW, raising=False)
    web.user("boss@x.test")
    web.company("ACME")
    b = web.browser("boss@x.test")
    form = {"company_id": web.company_id("ACME"), "url": url, "events": ["document.created"]}
    r = b.form("/webhooks", form)
    assert r.status_code == 422
    error = re.search(r'id="url-error">([^<]+)<', r.text)
    assert error and why in error.group(1) and "public addresses only" in error.group(1)
    api = web.api("boss@x.test")
    made = api.post("/api/v1/webhooks", json={**form, "company_id": web.company_id("ACME")})
    assert made.status_code == 422
    assert made.json()["problems"][0]["field"] == "url" and why in made.json()["detail"]
    with web.app.db.session() as s:
        assert s.scalar(select(Webhook.id)) is None

    hook_id, _, _ = create_by_form(web, "https://erp.acme.example/hook")
    changed = api.patch(f"/api/v1/webhooks/{hook_id}", json={"url": url})
    assert changed.status_code == 422 and changed.json()["problems"][0]["field"] == "url"
    r = b.form(f"/webhooks/{hook_id}", {"url": url, "events": ["document.created"]})
    assert r.status_code == 422 and why in r.text
    with web.app.db.session() as s:
        hook = s.get(Webhook, hook_id)
        assert hook is not None and hook.url == "https://erp.acme.example/hook"


def test_what_a_receiver_answers_is_shown_nowhere(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ALLOW, "1")
    web.user("boss@x.test")
    with WebhookReceiver(status=500, text=SECRET_ANSWER) as receiver:
        hook_id, _, _ = create_by_form(web, receiver.url)
        webhooks.ping(web.app.db, hook_id)
        assert webhooks.deliver_due(web.app.db, web.app.secrets) == 0
        assert len(receiver.requests) == 1
    page = web.browser("boss@x.test").get(f"/webhooks/{hook_id}").text
    assert "HTTP 500" in page and "answered 500" in page
    log = web.api("boss@x.test").get(f"/api/v1/webhooks/{hook_id}/deliveries").json()
    assert [(d["last_status"], d["last_error"]) for d in log] == [(500, "answered 500")]
    with web.app.db.session() as s:  # as an older version kept it: not shown either
        row = s.scalars(select(WebhookDelivery)).one()
        row.last_error = "answered 500: " + SECRET_ANSWER.decode()
    page = web.browser("boss@x.test").get(f"/webhooks/{hook_id}").text
    log = web.api("boss@x.test").get(f"/api/v1/webhooks/{hook_id}/deliveries").json()
    for shown in (page, str(log)):
        assert "hunter2" not in shown and "internal-only" not in shown
    assert log[0]["last_error"] == "answered 500"
