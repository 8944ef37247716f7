"""The Sources screens against a real Dovecot mailbox: add an IMAP source through the form,
check the connection and pick folders from the server's list, fetch now, see the run in the
list; every problem a user can cause shown in plain words next to its field; secrets never in a
page; who may see, change and fetch which source."""

from __future__ import annotations

import contextlib
from typing import Any

import lxml.html
import pytest
from sqlalchemy import select

from builders import Attachment, make_mail, make_pdf
from harness.dovecot import Mailbox, free_ports, quote_mailbox
from invoice_inbox.store import companies, sources
from invoice_inbox.store.models import Document, Source
from web.conftest import Browser, Web

ADMIN = "admin@x.test"


# -- reading pages as a browser would -------------------------------------------------------------


def doc(html: str) -> Any:
    return lxml.html.fromstring(html)


def by_id(html: str, element_id: str) -> Any:
    """The element with this id (the test fails when there is none)."""
    found = doc(html).xpath(f'//*[@id="{element_id}"]')
    assert found, f"no element #{element_id} on the page"
    return found[0]


def text(html: str, element_id: str) -> str:
    return " ".join(by_id(html, element_id).text_content().split())


def has_id(html: str, element_id: str) -> bool:
    return bool(doc(html).xpath(f'//*[@id="{element_id}"]'))


def form_data(html: str, form_id: str = "source-form", **changes: Any) -> dict[str, Any]:
    """What the browser sends for the form as shown, with *changes* typed over it (a value of
    None leaves the field out, a list sends it several times)."""
    data: dict[str, Any] = {}
    for name, value in by_id(html, form_id).form_values():
        data.setdefault(name, []).append(value)
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def options(html: str, select_id: str) -> list[str]:
    return [o.get("value") for o in by_id(html, select_id).xpath(".//option")]


def selected(html: str, select_id: str) -> list[str]:
    return [o.get("value") for o in by_id(html, select_id).xpath(".//option[@selected]")]


def boxes(html: str, group_id: str) -> dict[str, bool]:
    """The checkboxes in the element *group_id*: value → ticked."""
    found = by_id(html, group_id).xpath(".//input[@type='checkbox']")
    return {i.get("value"): i.get("checked") is not None for i in found}


def field_error(html: str, field: str) -> str:
    """The problem shown next to *field*; its input (for the schedule: inputs) is marked
    invalid and points to it."""
    words = text(html, f"{field}-error")
    inputs = doc(html).xpath(f'//*[@aria-describedby="{field}-error"]')
    assert inputs, f"no input points to #{field}-error"
    assert all(i.get("aria-invalid") == "true" for i in inputs)
    assert any(i.get("name", "").startswith(field) for i in inputs)
    return words


# -- the world ------------------------------------------------------------------------------------


def invoice(i: int, sender: str = "billing@supplier.example") -> bytes:
    return make_mail(
        from_=sender,
        subject=f"Invoice {i}",
        attachments=[Attachment(f"INV-{i}.pdf", make_pdf(f"invoice {i}"))],
    )


def create_folders(mailbox: Mailbox, *names: str) -> None:
    conn = mailbox.imap()
    try:
        for name in names:
            typ, data = conn.create(quote_mailbox(name))
            assert typ == "OK", data
    finally:
        with contextlib.suppress(Exception):
            conn.logout()


@pytest.fixture
def admin(web: Web) -> Browser:
    web.user(ADMIN, "admin")
    return web.browser(ADMIN)


def imap_form(mailbox: Mailbox, **changes: Any) -> dict[str, Any]:
    """The new-IMAP-source form as an admin fills it in."""
    values: dict[str, Any] = {
        "provider": "imap",
        "name": "acme-ap",
        "description": "AP mailbox of ACME",
        "company": "",
        "new_company": "ACME",
        "used_for": "supplier_invoices",
        "active": ["0", "1"],
        "host": "127.0.0.1",
        "port": str(mailbox.server.imap_port),
        "security": "none",
        "username": mailbox.user,
        "password": mailbox.password,
        "folders": "INBOX",
        "allowed_senders": "*@supplier.example",
        "require_pdf": ["0", "1"],
        "schedule_kind": "every",
        "schedule_minutes": "30",
        "max_failures": "5",
    }
    values.update(changes)
    return values


def new_source(admin: Browser, mailbox: Mailbox, *, start: bool = True, **changes: Any) -> int:
    """A source made on the form (a draft), then started with "Start fetching" unless
    *start* is False."""
    page = admin.get("/sources/new?provider=imap")
    assert page.status_code == 200
    r = admin.form("/sources/new", form_data(page.text, **imap_form(mailbox, **changes)))
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith("/sources/")
    source_id = int(r.headers["location"].rsplit("/", 1)[1])
    if start:
        page = admin.get(f"/sources/{source_id}")
        started = admin.form(f"/sources/{source_id}/start", form_data(page.text))
        assert started.status_code == 303, started.text
    return source_id


# -- the happy path -------------------------------------------------------------------------------


def test_admin_adds_an_imap_source_picks_folders_from_the_server_and_fetches_now(
    web: Web, admin: Browser, mailbox: Mailbox
) -> None:
    create_folders(mailbox, "Invoices", "Not imported")
    mailbox.append("INBOX", invoice(1))
    mailbox.append("INBOX", invoice(2))
    mailbox.append("INBOX", make_mail(from_="billing@supplier.example", subject="Hello"))
    seen = []

    cards = admin.get("/sources/new")
    seen.append(cards.text)
    assert cards.status_code == 200
    for card in ("microsoft365", "gmail", "icloud", "imap", "pop3", "import-address"):
        assert has_id(cards.text, f"preset-{card}")
    assert by_id(cards.text, "preset-import-address").get("href") == "/companies"

    page = admin.get("/sources/new?provider=imap")
    seen.append(page.text)
    r = admin.form("/sources/new", form_data(page.text, **imap_form(mailbox)))
    assert r.status_code == 303, r.text
    source_id = int(r.headers["location"].rsplit("/", 1)[1])
    edit = admin.get(f"/sources/{source_id}")
    seen.append(edit.text)
    assert "Source created, not started yet" in edit.text
    assert text(edit.text, "source-status") == "not started"
    assert by_id(edit.text, "name").get("value") == "acme-ap"
    assert by_id(edit.text, "password").get("value") == ""
    assert "leave empty to keep" in by_id(edit.text, "password").get("placeholder")
    with web.app.db.session() as s:
        src = s.get(Source, source_id)
        assert src is not None
        assert (src.company.name, src.host, src.security, src.schedule) == (
            "ACME",
            "127.0.0.1",
            "none",
            "every 30m",
        )
        assert src.secret is not None and mailbox.password not in src.secret

    # the check connects with the typed settings and fills the checkboxes (htmx swaps the form)
    checked = admin.form(
        f"/sources/{source_id}/check", form_data(edit.text), headers={"HX-Request": "true"}
    )
    seen.append(checked.text)
    assert checked.status_code == 200
    assert checked.text.lstrip().startswith("<form")  # the form alone, for htmx to swap in
    assert "Connected" in text(checked.text, "check-result")
    assert {"INBOX", "Invoices", "Not imported"} <= set(boxes(checked.text, "folders"))
    assert [f for f, ticked in boxes(checked.text, "folders").items() if ticked] == ["INBOX"]
    assert options(checked.text, "move_imported_to")[0] == ""  # leave in place
    assert "Invoices" in options(checked.text, "move_imported_to")
    assert "Not imported" in options(checked.text, "move_not_imported_to")

    saved = admin.form(  # "Start fetching": saved and started
        f"/sources/{source_id}/start",
        form_data(checked.text, move_imported_to="Invoices", move_not_imported_to="Not imported"),
    )
    assert saved.status_code == 303, saved.text
    with web.app.db.session() as s:
        src = s.get(Source, source_id)
        assert src is not None
        assert (src.folders, src.move_imported_to, src.move_not_imported_to) == (
            ["INBOX"],
            "Invoices",
            "Not imported",
        )
        assert src.secret is not None  # the empty password field kept it

    # fetch now from the list, as htmx does: the row comes back with the finished run
    listed = admin.get("/sources")
    seen.append(listed.text)
    assert has_id(listed.text, f"fetch-now-{source_id}")
    row = admin.form(
        f"/sources/{source_id}/fetch", {"back": "/sources"}, headers={"HX-Request": "true"}
    )
    seen.append(row.text)
    assert row.status_code == 200 and row.text.lstrip().startswith("<tr")
    assert web.fetched == ["acme-ap"]
    assert "2 imported" in text(row.text, f"last-run-{source_id}")
    assert "1 not imported" in text(row.text, f"last-run-{source_id}")
    assert "hx-trigger" not in row.text  # the run is done: no more asking
    with web.app.db.session() as s:
        names = sorted(s.scalars(select(Document.filename)))
    assert names == ["INV-1.pdf", "INV-2.pdf"]
    assert mailbox.count("INBOX") == 0
    assert mailbox.count("Invoices") == 2 and mailbox.count("Not imported") == 1

    # the list shows the run and today's documents; without JS, fetch-now redirects
    listed = admin.get("/sources")
    seen.append(listed.text)
    assert "2 imported" in text(listed.text, f"last-run-{source_id}")
    assert text(listed.text, f"documents-today-{source_id}") == "2"
    assert text(listed.text, f"status-{source_id}") == "active"
    assert by_id(listed.text, f"log-{source_id}").get("href") == f"/sources/{source_id}/log"
    plain = admin.form(f"/sources/{source_id}/fetch", {"back": f"/sources/{source_id}"})
    assert plain.status_code == 303 and plain.headers["location"] == f"/sources/{source_id}"
    assert "Fetching" in admin.get(f"/sources/{source_id}").text

    assert not any(mailbox.password in html for html in seen)


def test_schedule_choices_become_schedule_text_and_come_back(
    web: Web, admin: Browser, mailbox: Mailbox
) -> None:
    source_id = new_source(admin, mailbox)
    page = admin.get(f"/sources/{source_id}")
    r = admin.form(
        f"/sources/{source_id}",
        form_data(
            page.text,
            schedule_kind="at",
            schedule_times="12:00, 05:00",
            schedule_zone="europe/warsaw",
            instant=["0", "1"],
        ),
    )
    assert r.status_code == 303, r.text
    with web.app.db.session() as s:
        src = s.get(Source, source_id)
        assert src is not None and src.schedule == "at 05:00,12:00 Europe/Warsaw" and src.instant
    page = admin.get(f"/sources/{source_id}")
    assert by_id(page.text, "schedule-at").get("checked") is not None
    assert by_id(page.text, "schedule_times").get("value") == "05:00, 12:00"
    assert by_id(page.text, "schedule_zone").get("value") == "Europe/Warsaw"
    r = admin.form(
        f"/sources/{source_id}", form_data(page.text, schedule_kind="manual", active=["0"])
    )
    assert r.status_code == 303
    with web.app.db.session() as s:
        src = s.get(Source, source_id)
        assert src is not None and src.schedule == "manual" and not src.active
    listed = admin.get("/sources")
    assert text(listed.text, f"status-{source_id}") == "inactive"


# -- problems, in plain words, next to their field ------------------------------------------------


def test_a_wrong_password_is_shown_next_to_the_password_field(
    web: Web, admin: Browser, mailbox: Mailbox
) -> None:
    source_id = new_source(admin, mailbox, password="not-the-password")
    page = admin.get(f"/sources/{source_id}")
    r = admin.form(
        f"/sources/{source_id}/check", form_data(page.text), headers={"HX-Request": "true"}
    )
    assert r.status_code == 200
    words = field_error(r.text, "password")
    assert "refused" in words.lower() or "authentication" in words.lower(), words
    assert not has_id(r.text, "check-result")
    assert mailbox.password not in r.text and "not-the-password" not in r.text
    # without JS the whole page comes back, with the same words in the same place
    r = admin.form(f"/sources/{source_id}/check", form_data(page.text))
    assert r.status_code == 200 and "<html" in r.text
    assert field_error(r.text, "password") == words
    # the right password, saved, then the check passes
    ok = admin.form(f"/sources/{source_id}", form_data(page.text, password=mailbox.password))
    assert ok.status_code == 303
    r = admin.form(f"/sources/{source_id}/check", form_data(page.text))
    assert has_id(r.text, "check-result") and not has_id(r.text, "password-error")
    assert mailbox.password not in r.text


def test_an_unknown_host_and_a_missing_folder_are_shown_next_to_their_fields(
    admin: Browser, mailbox: Mailbox
) -> None:
    source_id = new_source(admin, mailbox, host="no-such-host.invalid")
    page = admin.get(f"/sources/{source_id}")
    r = admin.form(f"/sources/{source_id}/check", form_data(page.text))
    words = field_error(r.text, "host")
    assert "no-such-host.invalid" in words

    closed = free_ports(1)[0]  # nobody listens there
    other = new_source(admin, mailbox, name="closed-port", port=str(closed))
    r = admin.form(f"/sources/{other}/check", form_data(admin.get(f"/sources/{other}").text))
    assert str(closed) in field_error(r.text, "port")

    missing = new_source(admin, mailbox, name="missing-folder", folders="Rechnungen")
    r = admin.form(f"/sources/{missing}/check", form_data(admin.get(f"/sources/{missing}").text))
    words = field_error(r.text, "folders")
    assert '"Rechnungen" does not exist' in words and "INBOX" in words
    assert boxes(r.text, "folders")["Rechnungen"]  # still chosen, marked as not there


def test_invalid_values_are_refused_next_to_each_field_and_the_typed_values_stay(
    web: Web, admin: Browser, mailbox: Mailbox
) -> None:
    page = admin.get("/sources/new?provider=imap")
    typed = imap_form(
        mailbox,
        name="acme <b>ap</b>",
        port="99999",
        schedule_minutes="often",
        allowed_senders="*@supplier.example\nnot a pattern",
    )
    r = admin.form("/sources/new", form_data(page.text, **typed))
    assert r.status_code == 422
    assert "between 1 and 65535" in field_error(r.text, "port")
    assert "'often' is not a number of minutes" in field_error(r.text, "schedule_minutes")
    assert "'not a pattern'" in field_error(r.text, "allowed_senders")
    assert has_id(r.text, "form-errors")
    # what was typed is still there, except the password
    assert by_id(r.text, "name").get("value") == "acme <b>ap</b>"
    assert by_id(r.text, "port").get("value") == "99999"
    assert by_id(r.text, "schedule_minutes").get("value") == "often"
    assert by_id(r.text, "new_company").get("value") == "ACME"
    assert by_id(r.text, "allowed_senders").text == "*@supplier.example\nnot a pattern"
    assert by_id(r.text, "password").get("value") == ""
    assert mailbox.password not in r.text
    with web.app.db.session() as s:
        assert s.scalar(select(Source.id)) is None  # nothing was stored

    # on an existing source: a bad schedule alone keeps everything else unsaved too
    source_id = new_source(admin, mailbox)
    edit = admin.get(f"/sources/{source_id}")
    r = admin.form(
        f"/sources/{source_id}",
        form_data(
            edit.text,
            description="changed",
            schedule_kind="at",
            schedule_times="25:00",
            max_failures="0",
            password="a-new-secret-password",
        ),
    )
    assert r.status_code == 422
    assert "'25:00' is not a time of day" in field_error(r.text, "schedule_times")
    assert "between 1 and 1000" in field_error(r.text, "max_failures")
    assert by_id(r.text, "description").text == "changed"
    assert "a-new-secret-password" not in r.text and mailbox.password not in r.text
    with web.app.db.session() as s:
        src = s.get(Source, source_id)
        assert src is not None and src.description == "AP mailbox of ACME"
        assert web.app.secrets.decrypt(src.secret or "") == mailbox.password


def test_names_and_descriptions_are_escaped(web: Web, admin: Browser, mailbox: Mailbox) -> None:
    evil = '<script>alert("x")</script>'
    source_id = new_source(admin, mailbox, name=f"evil {evil}", description=evil)
    for url in ("/sources", f"/sources/{source_id}"):
        html = admin.get(url).text
        assert "<script>alert" not in html
        assert "&lt;script&gt;alert" in html
    listed = admin.get("/sources").text
    assert evil in text(listed, f"source-{source_id}")


def test_rules_are_added_and_removed_with_problems_next_to_their_fields(
    web: Web, admin: Browser, mailbox: Mailbox
) -> None:
    source_id = new_source(admin, mailbox)
    r = admin.form(
        f"/sources/{source_id}/rules",
        {"rule_name": "telekom", "rule_sender": "*@telekom.example", "rule_action": "body"},
    )
    assert r.status_code == 303
    page = admin.get(f"/sources/{source_id}")
    assert "*@telekom.example" in text(page.text, "rules-table")
    bad = admin.form(
        f"/sources/{source_id}/rules",
        {"rule_name": "broken", "rule_sender": "nobody", "rule_action": "body"},
    )
    assert bad.status_code == 422
    assert "'nobody'" in field_error(bad.text, "rule_sender")
    assert by_id(bad.text, "rule_name").get("value") == "broken"
    again = admin.form(
        f"/sources/{source_id}/rules",
        {"rule_name": "telekom", "rule_sender": "*@x.example", "rule_action": "skip"},
    )
    assert again.status_code == 422 and "already" in field_error(again.text, "rule_name")
    with web.app.db.session() as s:
        src = s.get(Source, source_id)
        assert src is not None and [r.name for r in src.rules] == ["telekom"]
        rule_id = src.rules[0].id
    assert admin.form(f"/sources/{source_id}/rules/{rule_id}/remove").status_code == 303
    assert has_id(admin.get(f"/sources/{source_id}").text, "no-rules")


def test_deleting_a_source_needs_the_confirmation(
    web: Web, admin: Browser, mailbox: Mailbox
) -> None:
    source_id = new_source(admin, mailbox)
    r = admin.form(f"/sources/{source_id}/delete")
    assert r.status_code == 303 and r.headers["location"] == f"/sources/{source_id}#delete"
    assert admin.get(f"/sources/{source_id}").status_code == 200
    r = admin.form(f"/sources/{source_id}/delete", {"confirm": "yes"})
    assert r.status_code == 303 and r.headers["location"] == "/sources"
    assert admin.get(f"/sources/{source_id}").status_code == 404


def test_the_central_import_address_source_keeps_its_senders_and_has_nothing_to_fetch(
    web: Web, admin: Browser
) -> None:
    with web.app.db.session() as s:
        company = sources.company(s, "ACME", create=True)
        companies.set_setting(s, companies.SMTP_DOMAIN, "invoices.example.com")
        src = companies.import_source(s, company)
        source_id, token = src.id, company.import_token
    page = admin.get(f"/sources/{source_id}")
    assert text(page.text, "import-address-value") == f"{token}@invoices.example.com"
    assert not has_id(page.text, f"fetch-now-{source_id}") and not has_id(page.text, "delete")
    assert not has_id(admin.get("/sources").text, f"fetch-now-{source_id}")
    bad = admin.form(f"/sources/{source_id}", form_data(page.text, allowed_senders="nobody"))
    assert bad.status_code == 422 and "'nobody'" in field_error(bad.text, "allowed_senders")
    ok = admin.form(
        f"/sources/{source_id}", form_data(page.text, allowed_senders="*@Supplier.example")
    )
    assert ok.status_code == 303
    with web.app.db.session() as s:
        found = s.get(Source, source_id)
        assert found is not None and found.allowed_senders == ["*@supplier.example"]
    assert admin.form(f"/sources/{source_id}/fetch").status_code == 303
    assert web.fetched == []


# -- who may see, change and fetch what -----------------------------------------------------------


def test_other_companies_sources_do_not_exist_for_a_clerk(
    web: Web, admin: Browser, mailbox: Mailbox
) -> None:
    source_id = new_source(admin, mailbox)  # company ACME
    web.user("clerk@other.test", "clerk", ("OTHER",))
    clerk = web.browser("clerk@other.test")
    assert clerk.get(f"/sources/{source_id}").status_code == 404
    assert clerk.form(f"/sources/{source_id}/check").status_code == 404
    assert clerk.form(f"/sources/{source_id}/fetch").status_code == 404
    assert clerk.get(f"/sources/{source_id}/row").status_code == 404
    assert f"source-{source_id}" not in clerk.get("/sources").text
    assert web.fetched == []


def test_clerks_fetch_and_read_viewers_only_read_nobody_but_admins_change(
    web: Web, admin: Browser, mailbox: Mailbox
) -> None:
    source_id = new_source(admin, mailbox)
    web.user("clerk@acme.test", "clerk", ("ACME",))
    web.user("viewer@acme.test", "viewer", ("ACME",))
    clerk, viewer = web.browser("clerk@acme.test"), web.browser("viewer@acme.test")

    page = clerk.get(f"/sources/{source_id}")
    assert page.status_code == 200
    assert has_id(page.text, "source-settings") and not has_id(page.text, "source-form")
    assert mailbox.user in text(page.text, "source-settings")
    assert mailbox.password not in page.text
    assert not has_id(clerk.get("/sources").text, "new-source")
    assert clerk.get("/sources/new").status_code == 403
    assert clerk.form(f"/sources/{source_id}", {"name": "taken-over"}).status_code == 403
    assert clerk.form(f"/sources/{source_id}/check").status_code == 403
    assert clerk.form(f"/sources/{source_id}/delete", {"confirm": "yes"}).status_code == 403
    rule = {"rule_name": "x", "rule_sender": "*@x.example"}
    assert clerk.form(f"/sources/{source_id}/rules", rule).status_code == 403
    assert clerk.form(f"/sources/{source_id}/fetch").status_code == 303
    assert web.fetched == ["acme-ap"]

    assert viewer.get(f"/sources/{source_id}").status_code == 200
    assert not has_id(viewer.get("/sources").text, f"fetch-now-{source_id}")
    assert viewer.form(f"/sources/{source_id}/fetch").status_code == 403
    assert web.fetched == ["acme-ap"]
    with web.app.db.session() as s:
        src = s.get(Source, source_id)
        assert src is not None and src.name == "acme-ap"


def test_a_source_restricted_to_admins_is_invisible_to_a_clerk_of_its_company(
    web: Web, admin: Browser, mailbox: Mailbox
) -> None:
    open_id = new_source(admin, mailbox)
    page = admin.get("/sources/new?provider=imap")
    secret_id = new_source(admin, mailbox, name="boss-only", restricted_to_role="admin")
    assert "admin" in options(page.text, "restricted_to_role")
    web.user("clerk@acme.test", "clerk", ("ACME",))
    clerk = web.browser("clerk@acme.test")
    listed = clerk.get("/sources").text
    assert has_id(listed, f"source-{open_id}") and not has_id(listed, f"source-{secret_id}")
    assert clerk.get(f"/sources/{secret_id}").status_code == 404
    assert clerk.form(f"/sources/{secret_id}/fetch").status_code == 404
    assert has_id(admin.get("/sources").text, f"source-{secret_id}")


def test_csrf_is_needed_for_every_change(web: Web, admin: Browser, mailbox: Mailbox) -> None:
    source_id = new_source(admin, mailbox)
    for url in (f"/sources/{source_id}/fetch", f"/sources/{source_id}/check", "/sources/new"):
        assert admin.post(url, data={"csrf_token": "forged"}).status_code == 403
    assert web.fetched == []
