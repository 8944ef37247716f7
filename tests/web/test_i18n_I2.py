"""The sources, companies, users, account and sign-in pages speak the reader's language
(issue 20): their headings, labels, buttons, code words (roles, statuses), form errors made by
``runtime.configure`` and the pages, and flash messages all go through the catalogue.

A small German catalogue is built here with Babel and put in place of every locale's, so the
pages are translated whatever language the request asks for; a text left in English would show
up below as the English words.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.support import Translations

from invoice_inbox import i18n
from invoice_inbox.store import sources
from web.conftest import PASSWORD, Browser, Web, csrf_of

GERMAN: dict[str | tuple[str, str], str | tuple[str, str]] = {
    "Sources": "Quellen",
    "Other IMAP server": "Anderer IMAP-Server",
    ("every %(n)s minute", "every %(n)s minutes"): ("alle %(n)s Minute", "alle %(n)s Minuten"),
    "New source": "Neue Quelle",
    "Fetch now": "Jetzt abrufen",
    "Import rules": "Importregeln",
    "Add rule": "Regel hinzufügen",
    "Delete this source": "Diese Quelle löschen",
    "not started": "nicht gestartet",
    "Sender authentication": "Absenderprüfung",
    "Flag": "Markieren",
    "import the attachments": "die Anhänge importieren",
    "never": "nie",
    "Save": "Speichern",
    "a source needs a name": "eine Quelle braucht einen Namen",
    "The source was not saved:": "Die Quelle wurde nicht gespeichert:",
    'Source "%(name)s" deleted.': "Quelle „%(name)s“ gelöscht.",
    "Users": "Benutzer",
    "admin": "Administrator",
    "clerk": "Sachbearbeiter",
    "clerk: documents and fetch now": "Sachbearbeiter: Dokumente und Jetzt abrufen",
    "Your account": "Ihr Konto",
    "Change your password": "Passwort ändern",
    (
        "New password (at least %(count)s character)",
        "New password (at least %(count)s characters)",
    ): (
        "Neues Passwort (mindestens %(count)s Zeichen)",
        "Neues Passwort (mindestens %(count)s Zeichen)",
    ),
    "The two passwords differ.": "Die beiden Passwörter sind verschieden.",
    (
        "<strong>%(count)s document</strong>, processed or not, from the queue",
        "<strong>%(count)s documents</strong>, processed or not, from the queue",
    ): (
        "<strong>%(count)s Dokument</strong>, bearbeitet oder nicht, aus der Warteschlange",
        "<strong>%(count)s Dokumente</strong>, bearbeitet oder nicht, aus der Warteschlange",
    ),
    "Delete %(name)s?": "%(name)s löschen?",
    "This cannot be undone.": "Das lässt sich nicht rückgängig machen.",
    "Sign in": "Anmelden",
    "The e-mail address or the password is wrong.": "E-Mail-Adresse oder Passwort ist falsch.",
}


@pytest.fixture
def german(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Every locale speaks the small German catalogue above for the test."""
    cat = Catalog(locale="de")
    for msgid, msgstr in GERMAN.items():
        cat.add(msgid, msgstr)
    path = tmp_path / "de.mo"
    with path.open("wb") as f:
        write_mo(f, cat)
    with path.open("rb") as f:
        found = Translations(f)
    monkeypatch.setattr(i18n, "translations", lambda locale: found)
    yield


def _draft(web: Web, name: str = "acme-ap") -> int:
    """A source that was never started (a draft), added directly."""
    with web.app.db.session() as s:
        src = sources.add(
            s,
            name=name,
            company_name="ACME",
            host="127.0.0.1",
            port=1143,
            security="none",
            username="ap@acme.test",
        )
        src.draft = True
        return src.id


def _admin(web: Web) -> Browser:
    web.user("boss@x.test")
    return web.browser("boss@x.test")


def test_the_sources_pages_speak_german(web: Web, german: None) -> None:
    admin = _admin(web)
    source_id = _draft(web)
    listing = admin.get("/sources").text
    assert "Quellen" in listing and "Neue Quelle" in listing and "Jetzt abrufen" in listing
    assert "nicht gestartet" in listing and ">Sources<" not in listing
    assert "not started" not in listing and ">never<" not in listing
    assert "Anderer IMAP-Server" in listing and "Other IMAP server" not in listing

    page = admin.get(f"/sources/{source_id}").text
    for words in ("Importregeln", "Regel hinzufügen", "Diese Quelle löschen", "Absenderprüfung"):
        assert words in page
    assert "<strong>Markieren</strong>" in page  # the sender-authentication modes
    assert "die Anhänge importieren" in page  # a rule's action in the select
    for english in ("Import rules", "Add rule", "Delete this source", "<strong>Flag</strong>"):
        assert english not in page

    web.user("clerk@x.test", "clerk", ("ACME",))
    settings = web.browser("clerk@x.test").get(f"/sources/{source_id}").text  # read-only view
    assert "alle 60 Minuten" in settings and "every 60m" not in settings


def test_a_refused_form_and_a_flash_speak_german(web: Web, german: None) -> None:
    admin = _admin(web)
    source_id = _draft(web)
    refused = admin.form(f"/sources/{source_id}", {"name": ""})
    assert refused.status_code == 422
    assert "Die Quelle wurde nicht gespeichert:" in refused.text
    assert "Eine Quelle braucht einen Namen." in refused.text  # configure's sentence
    assert "needs a name" not in refused.text

    deleted = admin.form(f"/sources/{source_id}/delete", {"confirm": "yes"})
    assert deleted.status_code == 303
    assert "Quelle „acme-ap“ gelöscht." in admin.get("/sources").text


def test_users_account_and_company_pages_speak_german(web: Web, german: None) -> None:
    admin = _admin(web)
    web.user("clerk@x.test", "clerk", ("ACME",))
    users_page = admin.get("/users").text
    assert "Benutzer" in users_page and ">Administrator<" in users_page
    assert ">Sachbearbeiter<" in users_page and ">clerk<" not in users_page
    new_user = admin.get("/users/new").text
    assert "Sachbearbeiter: Dokumente und Jetzt abrufen" in new_user

    account = admin.get("/account").text
    assert "Ihr Konto" in account and "Passwort ändern" in account
    assert "Neues Passwort (mindestens 10 Zeichen)" in account
    assert "<h1>Your account</h1>" not in account and "characters)" not in account
    differ = admin.form(
        "/account/password",
        {"current": PASSWORD, "password": "a" * 12, "repeat": "b" * 12},
    )
    assert differ.status_code == 422
    assert "Die beiden Passwörter sind verschieden." in differ.text

    company = web.company_id("ACME")
    delete = admin.get(f"/companies/{company}/delete").text
    assert "ACME löschen?" in delete
    assert "<strong>0 Dokumente</strong>, bearbeitet oder nicht" in delete
    assert "Das lässt sich nicht rückgängig machen." in delete and "cannot be undone" not in delete


def test_signing_in_speaks_german(web: Web, german: None) -> None:
    web.user("boss@x.test")
    client = web.client()
    form = client.get("/login").text
    assert "<h1>Anmelden</h1>" in form and "Sign in" not in form
    wrong = client.post(
        "/login",
        data={"email": "boss@x.test", "password": "not it", "csrf_token": csrf_of(form)},
    )
    assert wrong.status_code == 401
    assert "E-Mail-Adresse oder Passwort ist falsch." in wrong.text
