"""``GET /api/v1/notifications`` shows exactly what the notifications screen shows: a source
restricted to a user or a role is seen, with its notifications, only by them and admins."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from invoice_inbox.store import notifications, sources, users
from invoice_inbox.store.models import Source
from web.conftest import Web

SUBJECTS = ("open is off", "admins-only is off", "boss-only is off")


def add_source(web: Web, name: str, **fields: Any) -> int:
    with web.app.db.session() as s:
        src = sources.add(
            s,
            name=name,
            company_name="ACME",
            host="imap.example",
            port=993,
            username=f"{name}@example",
            **fields,
        )
        return src.id


def notify(web: Web, source_id: int, subject: str) -> None:
    with web.app.db.session() as s:
        src = s.get(Source, source_id)
        assert src is not None
        notifications.create(s, src, "source_deactivated", subject, "body", now=datetime.now(UTC))


def api_subjects(web: Web, email: str) -> set[str]:
    r = web.api(email).get("/api/v1/notifications")
    assert r.status_code == 200, r.text
    return {n["subject"] for n in r.json()["items"]}


def page_subjects(web: Web, email: str) -> set[str]:
    page = web.browser(email).get("/notifications")
    assert page.status_code == 200
    rows = "".join(re.findall(r'<tr id="notification-\d+">(.*?)</tr>', page.text, re.S))
    return {s for s in SUBJECTS if s in rows}


def test_restricted_sources_notifications_are_only_for_their_user_role_and_admins(
    web: Web,
) -> None:
    web.user("clerk@x.test", "clerk", ("ACME",))
    web.user("boss@x.test", "clerk", ("ACME",))
    web.user("admin@x.test", "admin")
    with web.app.db.session() as s:
        boss = users.by_email(s, "boss@x.test")
        assert boss is not None
        boss_id = boss.id
    notify(web, add_source(web, "open"), "open is off")
    notify(web, add_source(web, "admins-only", restricted_to_role="admin"), "admins-only is off")
    notify(web, add_source(web, "boss-only", restricted_to_user_id=boss_id), "boss-only is off")

    assert api_subjects(web, "clerk@x.test") == {"open is off"}
    assert api_subjects(web, "boss@x.test") == {"open is off", "boss-only is off"}
    assert api_subjects(web, "admin@x.test") == set(SUBJECTS)
    # the screen and the API agree, user by user
    for email in ("clerk@x.test", "boss@x.test", "admin@x.test"):
        assert page_subjects(web, email) == api_subjects(web, email)

    # asking for the company does not widen it
    company = web.company_id("ACME")
    r = web.api("clerk@x.test").get("/api/v1/notifications", params={"company_id": company})
    assert {n["subject"] for n in r.json()["items"]} == {"open is off"}
