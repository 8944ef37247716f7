"""The sender-authentication setting on the source screens (issue 16, item 2): off / flag /
require with a line of help each, flag by default; the trusted authserv-ids filled with the
provider preset's (sent back unchanged they keep following the preset); a wrong value named
next to its field; the read-only view and the summary show them; the import address takes the
policy but no authserv-ids; only admins change it, and only with the CSRF token."""

from __future__ import annotations

from invoice_inbox.runtime import source_trust
from invoice_inbox.store import companies, sources
from invoice_inbox.store.models import Source
from web.conftest import Browser, Web
from web.test_web_sources import by_id, field_error, form_data, has_id, text

ADMIN = "admin@x.test"


def add_source(web: Web, provider: str = "imap") -> int:
    """A saved IMAP source of ACME (nothing connects to its server here)."""
    with web.app.db.session() as s:
        src = sources.add(
            s,
            name=f"ap-{provider}",
            company_name="ACME",
            host="mail.invalid" if provider == "imap" else "outlook.office365.com",
            port=993,
            username="ap@acme.test",
            secret=web.app.secrets.encrypt("pw"),
        )
        src.provider = provider
        return src.id


def stored(web: Web, source_id: int) -> tuple[str, list[str] | None]:
    with web.app.db.session() as s:
        src = s.get(Source, source_id)
        assert src is not None
        return src.sender_auth, src.trusted_authserv_ids


def radios(html: str) -> dict[str, bool]:
    found = by_id(html, "sender-auth").xpath(".//input[@name='sender_auth']")
    return {i.get("value"): i.get("checked") is not None for i in found}


def admin_browser(web: Web) -> Browser:
    web.user(ADMIN, "admin")
    return web.browser(ADMIN)


def test_a_new_source_flags_by_default_and_offers_each_policy_with_its_help(web: Web) -> None:
    admin = admin_browser(web)
    page = admin.get("/sources/new", params={"provider": "microsoft365"})
    assert page.status_code == 200
    assert radios(page.text) == {"off": False, "flag": True, "require": False}
    section = text(page.text, "sender-auth")
    assert "Record the result only" in section
    assert "mark documents whose sender is not authenticated" in section
    assert "Import only mail whose sender is authenticated" in section
    preset_ids = source_trust.preset_authserv_ids("microsoft365")
    assert preset_ids, "Microsoft 365 names its servers"
    assert by_id(page.text, "trusted_authserv_ids").text_content() == "\n".join(preset_ids)
    assert ", ".join(preset_ids) in text(page.text, "sender-auth")  # the hint names them


def test_an_admin_sets_require_and_own_authserv_ids_and_sees_them(web: Web) -> None:
    admin = admin_browser(web)
    source_id = add_source(web)
    page = admin.get(f"/sources/{source_id}")
    assert radios(page.text)["flag"] and "Flag" in text(page.text, "source-sender-auth")
    data = form_data(
        page.text, sender_auth="require", trusted_authserv_ids="MX.Example.test\nmx2.example.test"
    )
    r = admin.form(f"/sources/{source_id}", data)
    assert r.status_code == 303, r.text
    assert stored(web, source_id) == ("require", ["mx.example.test", "mx2.example.test"])
    page = admin.get(f"/sources/{source_id}")
    assert radios(page.text) == {"off": False, "flag": False, "require": True}
    assert "Require" in text(page.text, "source-sender-auth")
    assert by_id(page.text, "trusted_authserv_ids").text_content() == (
        "mx.example.test\nmx2.example.test"
    )

    # a clerk of the company reads them, without a form
    web.user("clerk@acme.test", "clerk", ("ACME",))
    view = web.browser("clerk@acme.test").get(f"/sources/{source_id}")
    assert not has_id(view.text, "source-form")
    assert "Require" in text(view.text, "source-sender-auth")
    assert text(view.text, "trusted-authserv-ids") == "mx.example.test, mx2.example.test"


def test_a_wrong_policy_or_authserv_id_is_named_next_to_its_field(web: Web) -> None:
    admin = admin_browser(web)
    source_id = add_source(web)
    page = admin.get(f"/sources/{source_id}")
    r = admin.form(f"/sources/{source_id}", form_data(page.text, sender_auth="sometimes"))
    assert r.status_code == 422
    assert "Choose off, flag or require" in text(r.text, "sender_auth-error")
    r = admin.form(
        f"/sources/{source_id}", form_data(page.text, trusted_authserv_ids="mx example.test/")
    )
    assert r.status_code == 422
    assert "is not an authserv-id" in field_error(r.text, "trusted_authserv_ids")
    assert by_id(r.text, "trusted_authserv_ids").text_content() == "mx example.test/"
    assert stored(web, source_id) == ("flag", None)


def test_the_preset_ids_sent_back_unchanged_keep_following_the_preset(web: Web) -> None:
    admin = admin_browser(web)
    source_id = add_source(web, "microsoft365")
    page = admin.get(f"/sources/{source_id}")
    shown = by_id(page.text, "trusted_authserv_ids").text_content()
    assert shown == "\n".join(source_trust.preset_authserv_ids("microsoft365"))
    r = admin.form(f"/sources/{source_id}", form_data(page.text, sender_auth="off"))
    assert r.status_code == 303, r.text
    assert stored(web, source_id) == ("off", None)
    # emptied, the field goes back to the preset's too
    r = admin.form(f"/sources/{source_id}", form_data(page.text, trusted_authserv_ids=""))
    assert r.status_code == 303 and stored(web, source_id)[1] is None


def test_the_import_address_takes_the_policy_but_no_authserv_ids(web: Web) -> None:
    admin = admin_browser(web)
    with web.app.db.session() as s:
        company = sources.company(s, "ACME", create=True)
        source_id = companies.import_source(s, company).id
    page = admin.get(f"/sources/{source_id}")
    assert radios(page.text)["flag"]
    assert not has_id(page.text, "trusted_authserv_ids")
    r = admin.form(f"/sources/{source_id}", form_data(page.text, sender_auth="require"))
    assert r.status_code == 303, r.text
    assert stored(web, source_id)[0] == "require"
    r = admin.form(f"/sources/{source_id}", form_data(page.text, sender_auth="always"))
    assert r.status_code == 422
    assert "Choose off, flag or require" in text(r.text, "sender_auth-error")
    assert stored(web, source_id)[0] == "require"


def test_only_admins_change_the_policy_and_only_with_the_csrf_token(web: Web) -> None:
    admin = admin_browser(web)
    source_id = add_source(web)
    page = admin.get(f"/sources/{source_id}")
    data = form_data(page.text, sender_auth="require")
    forged = admin.post(f"/sources/{source_id}", data={**data, "csrf_token": "forged"})
    assert forged.status_code == 403
    web.user("clerk@acme.test", "clerk", ("ACME",))
    clerk = web.browser("clerk@acme.test")
    assert clerk.form(f"/sources/{source_id}", data).status_code == 403
    assert stored(web, source_id) == ("flag", None)
    assert "Flag" in text(clerk.get(f"/sources/{source_id}").text, "source-sender-auth")
