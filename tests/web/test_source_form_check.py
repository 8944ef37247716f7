"""Setting up a source on the screen, against a real Dovecot: the connection check tries what
is typed (not what was saved), a stored password goes only to the server and user it was
stored for, a source made on the screen is a draft until "Start fetching", a private CA is
trusted by pasting its certificate, the port follows the security, wrong ports and wrong
security are named in plain words next to their field, and the folders are checkboxes with
their mail counts.

Each diagnosis's time is measured and recorded in the test report (``record_property``); no
time is asserted."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select

from builders import make_mail
from harness.dovecot import Mailbox
from invoice_inbox.runtime import scheduler as _scheduler  # noqa: F401  (imports cleanly)
from invoice_inbox.store import sources as sources_store
from invoice_inbox.store.models import Source
from web.conftest import Browser, Web
from web.listeners import fake_imap
from web.test_web_sources import (
    ADMIN,
    boxes,
    by_id,
    field_error,
    form_data,
    has_id,
    new_source,
    text,
)

HX = {"HX-Request": "true"}


@pytest.fixture
def admin(web: Web) -> Browser:
    web.user(ADMIN, "admin")
    return web.browser(ADMIN)


def check(admin: Browser, source_id: int, **typed: Any) -> str:
    """Press "Check connection" with *typed* over what the page shows; the form that comes
    back."""
    page = admin.get(f"/sources/{source_id}")
    r = admin.form(f"/sources/{source_id}/check", form_data(page.text, **typed), headers=HX)
    assert r.status_code == 200, r.text
    return r.text


def stored(web: Web, source_id: int) -> Source:
    with web.app.db.session() as s:
        src = s.get(Source, source_id)
        assert src is not None
        s.expunge(src)
        return src


# -- 1. the check tries what is typed ---------------------------------------------------------


def test_a_typo_in_the_host_is_found_by_the_check_before_saving(
    web: Web, admin: Browser, mailbox: Mailbox
) -> None:
    source_id = new_source(admin, mailbox, start=False)
    form = check(admin, source_id, host="127.0.0.l")  # a typo, not saved
    assert "127.0.0.l" in field_error(form, "host")
    assert not has_id(form, "check-result")
    assert by_id(form, "host").get("value") == "127.0.0.l"  # still typed, to be corrected
    assert stored(web, source_id).host == "127.0.0.1"  # nothing was saved

    form = check(admin, source_id, host="127.0.0.1")
    assert "Connected" in text(form, "check-result")


def test_a_typed_password_is_the_one_checked_and_never_comes_back(
    web: Web, admin: Browser, mailbox: Mailbox
) -> None:
    source_id = new_source(admin, mailbox, start=False, password="not-the-password")
    form = check(admin, source_id, password=mailbox.password)
    assert "Connected" in text(form, "check-result")
    assert mailbox.password not in form
    assert by_id(form, "password").get("value") == ""
    assert "stored when you save" in text(form, "typed-secret-note")
    # and the saved (wrong) password is refused next to its field
    form = check(admin, source_id)
    assert "authentication failed" in field_error(form, "password").lower()


def test_the_stored_password_goes_only_to_the_server_it_was_stored_for(
    web: Web, admin: Browser, mailbox: Mailbox
) -> None:
    source_id = new_source(admin, mailbox, start=False)
    with fake_imap() as fake:
        form = check(admin, source_id, host="localhost", port=str(fake.port))
        # the new server is reached (so a wrong host or port is named), but no login is sent
        assert b"LOGIN" not in fake.received.upper()
        words = field_error(form, "password")
        assert "type the password" in words.lower() and "server" in words
        form = check(admin, source_id, username="someone.else")
        assert "user name" in field_error(form, "password")
    assert mailbox.password.encode() not in fake.received
    assert stored(web, source_id).host == "127.0.0.1"


# -- 2. drafts --------------------------------------------------------------------------------


def test_a_source_made_on_the_screen_waits_for_start_fetching(
    web: Web, admin: Browser, mailbox: Mailbox
) -> None:
    source_id = new_source(admin, mailbox, start=False)
    src = stored(web, source_id)
    assert src.draft and not src.active
    with web.app.db.session() as s:  # what the scheduler and fetch --all run
        assert source_id not in [x.id for x in sources_store.all_sources(s, active_only=True)]
    listed = admin.get("/sources")
    assert text(listed.text, f"status-{source_id}") == "not started"
    page = admin.get(f"/sources/{source_id}")
    assert not has_id(page.text, "start-fetching")  # offered after a successful check
    assert not has_id(page.text, "active")

    form = check(admin, source_id)
    assert has_id(form, "start-fetching")
    r = admin.form(f"/sources/{source_id}/start", form_data(form))
    assert r.status_code == 303, r.text
    src = stored(web, source_id)
    assert src.active and not src.draft
    assert text(admin.get("/sources").text, f"status-{source_id}") == "active"


def test_the_api_adds_started_sources_unless_asked_for_a_draft(web: Web, mailbox: Mailbox) -> None:
    web.user(ADMIN, "admin")
    api = web.api(ADMIN)
    settings = {
        "company": "ACME",
        "host": "127.0.0.1",
        "port": mailbox.server.imap_port,
        "security": "none",
        "username": mailbox.user,
        "password": mailbox.password,
    }
    started = api.post("/api/v1/sources", json={"name": "now", **settings}).json()
    assert started["active"] is True and started["draft"] is False
    draft = api.post("/api/v1/sources", json={"name": "later", "draft": True, **settings}).json()
    assert draft["active"] is False and draft["draft"] is True
    assert draft["status"] == "draft" and draft["status_text"] == "not started"
    # a draft can be fetched by hand, and is started by switching it on
    fetched = api.post(f"/api/v1/sources/{draft['id']}/fetch", params={"wait": "true"})
    assert fetched.status_code == 200, fetched.text
    on = api.patch(f"/api/v1/sources/{draft['id']}", json={"active": True}).json()
    assert on["active"] is True and on["draft"] is False


# -- 3. a private CA --------------------------------------------------------------------------


def test_a_private_ca_is_trusted_once_its_certificate_is_pasted(
    web: Web, admin: Browser, mailbox: Mailbox
) -> None:
    srv = mailbox.server
    source_id = new_source(admin, mailbox, start=False, host="localhost")
    # a new port and security: the password is typed again (it was saved for the old ones)
    imaps = {"port": str(srv.imaps_port), "security": "ssl", "password": mailbox.password}
    form = check(admin, source_id, **imaps)
    words = field_error(form, "ca_pem")
    assert "not trusted" in words and "add its CA certificate" in words

    form = check(admin, source_id, ca_pem="-----BEGIN CERTIFICATE-----\nnot base64\n", **imaps)
    assert "cannot be read" in field_error(form, "ca_pem")
    form = check(admin, source_id, ca_pem="just some text", **imaps)
    assert "PEM" in field_error(form, "ca_pem")

    pem = srv.ca_file.read_text()
    form = check(admin, source_id, ca_pem=pem, **imaps)
    assert "Connected" in text(form, "check-result")
    # the page keeps the typed password across the check (source_form.js), never the server
    saved = admin.form(f"/sources/{source_id}", form_data(form, password=mailbox.password))
    assert saved.status_code == 303, saved.text
    src = stored(web, source_id)
    assert src.ca_pem and "BEGIN CERTIFICATE" in src.ca_pem and src.verify_tls
    assert (src.port, src.security) == (srv.imaps_port, "ssl")
    # the saved source fetches with it
    assert "Connected" in text(check(admin, source_id), "check-result")


def test_the_stored_password_stays_with_the_certificates_it_was_given_for(
    web: Web, admin: Browser, mailbox: Mailbox
) -> None:
    srv = mailbox.server
    imaps = {"host": "localhost", "port": str(srv.imaps_port), "security": "ssl"}
    source_id = new_source(admin, mailbox, start=False, **imaps)
    pem = srv.ca_file.read_text()
    # checking with a new CA (or none verified) does not send the saved password
    for trust in ({"ca_pem": pem}, {"verify_tls": ["1", "0"]}):
        form = check(admin, source_id, **trust)
        assert "the certificate settings changed" in field_error(form, "password")
    # saving a new CA without the password clears it; with it, it stays
    page = admin.get(f"/sources/{source_id}")
    r = admin.form(f"/sources/{source_id}", form_data(page.text, ca_pem=pem))
    assert r.status_code == 303, r.text
    assert stored(web, source_id).secret is None
    assert "certificate settings changed" in admin.get(r.headers["location"]).text
    page = admin.get(f"/sources/{source_id}")
    r = admin.form(f"/sources/{source_id}", form_data(page.text, password=mailbox.password))
    assert stored(web, source_id).secret is not None
    assert "Connected" in text(check(admin, source_id), "check-result")
    page = admin.get(f"/sources/{source_id}")
    form = form_data(page.text, ca_pem="", password=mailbox.password)
    assert admin.form(f"/sources/{source_id}", form).status_code == 303
    assert stored(web, source_id).secret is not None and stored(web, source_id).ca_pem is None


def test_not_verifying_is_an_explicit_choice_and_the_api_takes_both(
    web: Web, admin: Browser, mailbox: Mailbox
) -> None:
    srv = mailbox.server
    source_id = new_source(admin, mailbox, start=False, host="localhost")
    page = admin.get(f"/sources/{source_id}")
    assert "test servers only" in text(page.text, "tls-trust")
    assert "can read the password" in text(page.text, "no-verify-warning")
    form = check(
        admin,
        source_id,
        port=str(srv.imaps_port),
        security="ssl",
        password=mailbox.password,
        verify_tls=["1", "0"],  # the hidden 1, then the ticked "do not verify" box
    )
    assert "Connected" in text(form, "check-result")

    api = web.api(ADMIN)
    r = api.patch(f"/api/v1/sources/{source_id}", json={"ca_pem": "no certificate"})
    assert r.status_code == 422 and "ca_pem" in r.text
    r = api.patch(
        f"/api/v1/sources/{source_id}",
        json={"ca_pem": srv.ca_file.read_text(), "port": srv.imaps_port, "security": "ssl"},
    )
    assert r.status_code == 200, r.text
    assert "BEGIN CERTIFICATE" in r.json()["ca_pem"] and r.json()["verify_tls"] is True


# -- 5. the port follows the security ---------------------------------------------------------


def test_an_empty_port_follows_the_security(web: Web, admin: Browser, mailbox: Mailbox) -> None:
    new = admin.get("/sources/new?provider=imap")
    port = by_id(new.text, "port")
    assert port.get("value") == "" and port.get("placeholder") == "993"
    assert (port.get("data-port-ssl"), port.get("data-port-starttls")) == ("993", "143")
    source_id = new_source(admin, mailbox, start=False, port="", security="starttls")
    assert stored(web, source_id).port == 143
    page = admin.get(f"/sources/{source_id}")
    assert by_id(page.text, "port").get("value") == ""  # the usual one: not "typed"
    r = admin.form(f"/sources/{source_id}", form_data(page.text, security="ssl"))
    assert r.status_code == 303, r.text
    assert stored(web, source_id).port == 993
    r = admin.form(
        f"/sources/{source_id}", form_data(page.text, port="10143", password=mailbox.password)
    )
    assert r.status_code == 303, r.text
    assert stored(web, source_id).port == 10143  # a typed port stays


# -- 6. wrong port, wrong security: plain words next to the field, quickly --------------------


@pytest.mark.parametrize(
    ("case", "field", "words"),
    [
        ("plain IMAP on the IMAPS port", "security", "this port expects TLS: choose SSL/TLS"),
        ("STARTTLS on the IMAPS port", "security", "this port expects TLS: choose SSL/TLS"),
        ("SSL/TLS on the plain port", "security", "does not speak TLS: choose STARTTLS or none"),
        ("IMAP on the POP3 port", "port", "not as an IMAP server: it looks like POP3"),
    ],
)
def test_wrong_ports_and_security_are_named_next_to_their_field(
    web: Web,
    admin: Browser,
    mailbox: Mailbox,
    record_property: Any,
    case: str,
    field: str,
    words: str,
) -> None:
    srv = mailbox.server
    typed = {
        "plain IMAP on the IMAPS port": {"port": str(srv.imaps_port), "security": "none"},
        "STARTTLS on the IMAPS port": {"port": str(srv.imaps_port), "security": "starttls"},
        "SSL/TLS on the plain port": {"port": str(srv.imap_port), "security": "ssl"},
        "IMAP on the POP3 port": {"port": str(srv.pop3_port), "security": "none"},
    }[case]
    source_id = new_source(admin, mailbox, start=False)
    started = time.monotonic()
    form = check(admin, source_id, **typed)
    took = time.monotonic() - started
    record_property(f"check seconds: {case}", round(took, 2))
    print(f"\n{case}: {took:.2f} s")  # shown with -s / in the report
    said = field_error(form, field)
    assert words in said, said
    assert "None" not in said and "WRONG_VERSION_NUMBER" not in said and "timed out" not in said


# -- 10. folders as checkboxes with their mail counts ----------------------------------------


def test_folders_are_checkboxes_with_their_mail_counts(
    web: Web, admin: Browser, mailbox: Mailbox
) -> None:
    imap = mailbox.imap()
    imap.create('"Rechnungen"')
    imap.logout()
    for i in range(3):
        mailbox.append("INBOX", make_mail(subject=f"mail {i}"))
    mailbox.append("Rechnungen", make_mail(subject="one"))
    source_id = new_source(admin, mailbox, start=False)
    form = check(admin, source_id)
    assert boxes(form, "folders") == {"INBOX": True, "Rechnungen": False} | {
        k: False for k in boxes(form, "folders") if k not in ("INBOX", "Rechnungen")
    }
    labels = by_id(form, "folders").text_content()
    assert "INBOX (3 mails)" in " ".join(labels.split())
    assert "Rechnungen (1 mail)" in " ".join(labels.split())
    # ticking two and saving keeps both; the counts survive the re-rendered form
    saved = admin.form(
        f"/sources/{source_id}", form_data(form, folders=["", "INBOX", "Rechnungen"])
    )
    assert saved.status_code == 303, saved.text
    with web.app.db.session() as s:
        folders = s.scalar(select(Source.folders).where(Source.id == source_id))
    assert folders == ["INBOX", "Rechnungen"]
    again = admin.form(f"/sources/{source_id}/form", form_data(form), headers=HX)
    assert "(3 mails)" in by_id(again.text, "folders").text_content()


def test_the_api_check_names_a_silent_tls_port_too(
    web: Web, mailbox: Mailbox, record_property: Any
) -> None:
    web.user(ADMIN, "admin")
    api = web.api(ADMIN)
    settings = {
        "name": "imaps-as-plain",
        "company": "ACME",
        "host": "127.0.0.1",
        "port": mailbox.server.imaps_port,
        "security": "none",
        "username": mailbox.user,
        "password": mailbox.password,
    }
    source_id = api.post("/api/v1/sources", json=settings).json()["id"]
    started = time.monotonic()
    r = api.post(f"/api/v1/sources/{source_id}/check")
    record_property("API check seconds: plain IMAP on the IMAPS port", time.monotonic() - started)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "security"
    assert r.json()["detail"].endswith("this port expects TLS: choose SSL/TLS")


@pytest.mark.parametrize(
    ("case", "field", "words"),
    [
        ("plain POP3 on the POP3S port", "security", "this port expects TLS: choose SSL/TLS"),
        ("POP3 on the IMAP port", "port", "not as a POP3 server: it looks like IMAP"),
    ],
)
def test_pop3_ports_are_named_too(
    web: Web, mailbox: Mailbox, record_property: Any, case: str, field: str, words: str
) -> None:
    srv = mailbox.server
    web.user(ADMIN, "admin")
    api = web.api(ADMIN)
    port = srv.pop3s_port if "POP3S" in case else srv.imap_port
    settings = {
        "name": "pop",
        "company": "ACME",
        "provider": "pop3",
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "username": mailbox.user,
        "password": mailbox.password,
    }
    source_id = api.post("/api/v1/sources", json=settings).json()["id"]
    started = time.monotonic()
    r = api.post(f"/api/v1/sources/{source_id}/check")
    record_property(f"API check seconds: {case}", round(time.monotonic() - started, 2))
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field and words in r.json()["detail"], r.text
