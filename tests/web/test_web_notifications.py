"""What needs attention, in the browser: switched-off sources, refused sign-ins, failing fetches,
expiring client secrets and the notifications sent, only for the sources a user may use."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from invoice_inbox.store import notifications, sources
from invoice_inbox.store.models import AuthState, Source
from web.conftest import Web


def today() -> date:
    """Today (UTC) when the test asks: a module constant went stale across midnight."""
    return datetime.now(UTC).date()


def add_source(web: Web, name: str, company: str, **fields: Any) -> int:
    with web.app.db.session() as s:
        src = sources.add(
            s,
            name=name,
            company_name=company,
            host="imap.example",
            port=993,
            username=f"{name}@example",
            **fields,
        )
        return src.id


def notify(web: Web, source_id: int, subject: str, **delivery: Any) -> int:
    with web.app.db.session() as s:
        src = s.get(Source, source_id)
        assert src is not None
        n = notifications.create(
            s, src, "source_deactivated", subject, "body", now=datetime.now(UTC)
        )
        for key, value in delivery.items():
            setattr(n, key, value)
        return n.id


def attention(html: str) -> dict[str, str]:
    """Source name -> the text of its "needs attention" card."""
    found = {}
    for card in re.findall(r'<div class="card attention"[^>]*>(.*?)</div>', html, re.S):
        name = re.search(r'<strong><a href="/sources/\d+">([^<]+)</a>', card)
        assert name
        found[name.group(1)] = " ".join(re.sub(r"<[^>]+>", " ", card).split())
    return found


def test_attention_lists_inactive_sources_and_expiring_secrets_of_the_users_companies(
    web: Web,
) -> None:
    off = add_source(
        web,
        "acme-off",
        "ACME",
        active=False,
        inactive_reason="switched off after 5 failed runs in a row; last error: timeout",
    )
    expiring = add_source(web, "acme-graph", "ACME", secret_expires=today() + timedelta(days=10))
    add_source(web, "acme-old", "ACME", secret_expires=today() - timedelta(days=2))
    add_source(
        web,
        "acme-refused",
        "ACME",
        auth_state=AuthState.LOGIN_REFUSED,
        auth_error="AUTHENTICATE failed",
    )
    add_source(web, "acme-reauth", "ACME", auth_state=AuthState.NEEDS_REAUTHENTICATION)
    add_source(
        web,
        "acme-failing",
        "ACME",
        failures=2,
        last_error="connection refused",
        failing_since=datetime(2026, 3, 1, 9, 0, tzinfo=UTC),
    )
    add_source(web, "acme-fine", "ACME", secret_expires=today() + timedelta(days=90))
    admins_only = add_source(
        web, "acme-admins", "ACME", active=False, inactive_reason="x", restricted_to_role="admin"
    )
    beta = add_source(web, "beta-off", "BETA", active=False, inactive_reason="beta is broken")
    add_source(web, "beta-graph", "BETA", secret_expires=today() + timedelta(days=5))
    notify(
        web,
        off,
        'source "acme-off" was switched off',
        email_state="sent",
        webhook_state="failed",
        attempts=3,
        last_error="HTTP 500 from the receiver",
    )
    notify(web, beta, 'source "beta-off" was switched off')
    notify(web, admins_only, 'source "acme-admins" was switched off')

    web.user("clerk@x.test", "clerk", ("ACME",))
    page = web.browser("clerk@x.test").get("/notifications")
    assert page.status_code == 200
    found = attention(page.text)
    assert set(found) == {
        "acme-off",
        "acme-graph",
        "acme-old",
        "acme-refused",
        "acme-reauth",
        "acme-failing",
    }
    assert (
        "inactive: switched off after 5 failed runs in a row; last error: timeout"
        in found["acme-off"]
    )
    assert "no mail arrives" in found["acme-off"]
    expires = (today() + timedelta(days=10)).isoformat()
    assert f"the client secret expires in 10 days ({expires})" in found["acme-graph"]
    assert "warning" in found["acme-graph"]
    assert "the client secret expired on" in found["acme-old"]
    assert "the login was refused (AUTHENTICATE failed)" in found["acme-refused"]
    assert "needs sign-in again" in found["acme-reauth"]
    assert "connection lost: 2 failed runs since 2026-03-01 09:00 UTC" in found["acme-failing"]
    assert f'href="/sources/{off}"' in page.text and f'href="/sources/{off}/log"' in page.text
    assert f'href="/sources/{expiring}/log"' in page.text

    sent = re.findall(r'<tr id="notification-\d+">(.*?)</tr>', page.text, re.S)
    assert len(sent) == 1
    assert "source &#34;acme-off&#34; was switched off" in sent[0]
    assert '<span class="badge ok">sent</span>' in sent[0]
    assert '<span class="badge bad">failed</span>' in sent[0]
    assert "3 attempts" in sent[0] and "HTTP 500 from the receiver" in sent[0]

    for other in ("beta-off", "beta-graph", "beta is broken", "acme-admins"):
        assert other not in page.text


def test_an_admin_sees_every_company_and_nothing_is_a_calm_page(web: Web) -> None:
    web.user("admin@x.test", "admin")
    b = web.browser("admin@x.test")
    calm = b.get("/notifications")
    assert calm.status_code == 200
    assert attention(calm.text) == {} and "every source you use is working" in calm.text
    assert "No notifications yet." in calm.text

    add_source(web, "acme-off", "ACME", active=False, inactive_reason="off")
    beta = add_source(web, "beta-off", "BETA", active=False, inactive_reason="beta is broken")
    notify(web, beta, "beta went away")
    page = b.get("/notifications")
    assert set(attention(page.text)) == {"acme-off", "beta-off"}
    assert "beta went away" in page.text


def test_secret_expiry_is_not_listed_a_month_ahead(web: Web) -> None:
    add_source(web, "later", "ACME", secret_expires=today() + timedelta(days=31))
    add_source(web, "soon", "ACME", secret_expires=today() + timedelta(days=30))
    web.user("viewer@x.test", "viewer", ("ACME",))
    page = web.browser("viewer@x.test").get("/notifications")
    assert set(attention(page.text)) == {"soon"}
