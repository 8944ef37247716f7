"""Sentences made below the web and the CLI (connector errors, user and rule mistakes,
schedules, source health, expiring secrets) come out in the reader's locale when they are made,
and the constants shown later are marked for the catalogues."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file

from invoice_inbox import errors
from invoice_inbox.auth.expiry import secret_expiry_warning
from invoice_inbox.connectors import (
    gmail,
    http,
    imap,
    imap_folders,
    imap_names,
    network,
    pop3_session,
    presets,
)
from invoice_inbox.i18n import use_locale
from invoice_inbox.pipeline import rules, senders
from invoice_inbox.runtime import configure, health, runner, schedules, secret_scope
from invoice_inbox.store import sources, users
from invoice_inbox.store.errors import NotFound
from invoice_inbox.store.models import AuthState, Source
from translated import install
from web.conftest import Web, csrf_of

GERMAN = {
    'folder "%(folder)s" does not exist; folders are: %(folders)s': (
        'Ordner "%(folder)s" gibt es nicht; Ordner sind: %(folders)s'
    ),
    "(none)": "(keine)",
    'the folder "%(name)s" cannot be used on this server: it has no subfolders': (
        'den Ordner "%(name)s" gibt es auf diesem Server nicht: er kennt keine Unterordner'
    ),
    "cannot connect to %(where)s: %(why)s": "keine Verbindung zu %(where)s: %(why)s",
    "nothing answered on that port (connection refused)": (
        "an diesem Port antwortete niemand (Verbindung abgelehnt)"
    ),
    "the password must have at least %(n)s characters": (
        "das Kennwort muss mindestens %(n)s Zeichen haben"
    ),
    "%(email)r is not an e-mail address": "%(email)r ist keine E-Mail-Adresse",
    "allowed sender %(pattern)r is not an address or a *@domain pattern": (
        "zugelassener Absender %(pattern)r ist weder Adresse noch *@domain-Muster"
    ),
    "rule sender %(pattern)r: only *@domain wildcards are supported": (
        "Absender der Regel %(pattern)r: nur *@domain-Platzhalter sind möglich"
    ),
    "a rule needs a name": "eine Regel braucht einen Namen",
    "%(value)s is not a schedule; write %(examples)s": (
        "%(value)s ist kein Zeitplan; schreiben Sie %(examples)s"
    ),
    "'every 30m', 'every 2h', 'at 05:00,12:00 Europe/Warsaw' or 'manual'": (
        "'every 30m', 'every 2h', 'at 05:00,12:00 Europe/Berlin' oder 'manual'"
    ),
    (
        "the client secret expires in %(n)s day (%(date)s): create a new one in the app"
        " registration before then",
        "the client secret expires in %(n)s days (%(date)s): create a new one in the app"
        " registration before then",
    ): (
        "das Client-Geheimnis läuft in %(n)s Tag ab (%(date)s): legen Sie vorher ein neues an",
        "das Client-Geheimnis läuft in %(n)s Tagen ab (%(date)s): legen Sie vorher ein neues an",
    ),
    (
        "connection lost: %(n)s failed run since %(since)s: %(error)s",
        "connection lost: %(n)s failed runs since %(since)s: %(error)s",
    ): (
        "Verbindung verloren: %(n)s fehlgeschlagener Abruf seit %(since)s: %(error)s",
        "Verbindung verloren: %(n)s fehlgeschlagene Abrufe seit %(since)s: %(error)s",
    ),
    "no such run": "kein solcher Abruf",
    'source "%(source)s" has not been signed in yet: run %(fix)s': (
        'Quelle "%(source)s" ist noch nicht angemeldet: führen Sie %(fix)s aus'
    ),
    "invalid request": "ungültige Anfrage",
    "a company needs a name": "eine Firma braucht einen Namen",
    "Other IMAP server": "Anderer IMAP-Server",
    "%(provider)s is reached with %(choices)s": "%(provider)s erreicht man über %(choices)s",
    "inactive: %(why)s; switch it on with: %(command)s": (
        "inaktiv: %(why)s; einschalten mit: %(command)s"
    ),
    (
        "switched off after %(n)s failed run in a row; last error: %(error)s",
        "switched off after %(n)s failed runs in a row; last error: %(error)s",
    ): (
        "nach %(n)s fehlgeschlagenen Abruf abgeschaltet; letzter Fehler: %(error)s",
        "nach %(n)s fehlgeschlagenen Abrufen abgeschaltet; letzter Fehler: %(error)s",
    ),
    'no company "%(name)s"': 'keine Firma "%(name)s"',
    "the password was cleared because %(what)s changed; enter it again": (
        "das Kennwort wurde gelöscht, weil sich %(what)s geändert hat; geben Sie es neu ein"
    ),
    "the server": "der Server",
    'a company named "%(name)s" exists already': 'eine Firma "%(name)s" gibt es schon',
}


@pytest.fixture
def german(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    install(monkeypatch, tmp_path, "de", GERMAN)


def test_connector_errors_speak_the_readers_language(german: None) -> None:
    with use_locale("de"):
        missing = errors.FolderMissing("Rechnungen", [])
        with pytest.raises(network.WrongPort) as refused, network.connect_errors("127.0.0.1:9"):
            raise ConnectionRefusedError
    assert str(missing) == 'Ordner "Rechnungen" gibt es nicht; Ordner sind: (keine)'
    with use_locale("de"), pytest.raises(imap_names.FolderNameInvalid) as flat:
        imap_names.FolderNames(prefix="INBOX.", delimiter=None).to_server("Belege/2026")
    assert str(flat.value) == (
        'den Ordner "Belege/2026" gibt es auf diesem Server nicht: er kennt keine Unterordner'
    )
    assert str(refused.value) == (
        "keine Verbindung zu 127.0.0.1:9: an diesem Port antwortete niemand (Verbindung abgelehnt)"
    )
    # English stays the default
    assert (
        str(errors.FolderMissing("x", ["INBOX"])) == 'folder "x" does not exist; folders are: INBOX'
    )


def test_user_mistakes_are_translated_and_name_their_field(german: None) -> None:
    with use_locale("de"), pytest.raises(users.UserProblem) as short:
        users.check_password("kurz")
    with use_locale("de"), pytest.raises(users.UserProblem) as address:
        users.normalize_email("niemand")
    assert str(short.value) == "das Kennwort muss mindestens 10 Zeichen haben"
    assert short.value.field == "password"  # the form finds its field without reading English
    assert str(address.value) == "'niemand' ist keine E-Mail-Adresse"
    assert address.value.field == "email"


def test_sender_and_rule_mistakes_are_translated(german: None) -> None:
    with use_locale("de"):
        with pytest.raises(senders.InvalidPattern) as pattern:
            senders.normalize_pattern("kein-absender")
        with pytest.raises(rules.InvalidRule) as wildcard:
            rules.Rule.make("r", "a*b@example.com")
        with pytest.raises(rules.InvalidRule) as unnamed:
            rules.Rule.make(" ", "a@example.com")
    assert str(pattern.value) == (
        "zugelassener Absender 'kein-absender' ist weder Adresse noch *@domain-Muster"
    )
    assert str(wildcard.value) == (
        "Absender der Regel 'a*b@example.com': nur *@domain-Platzhalter sind möglich"
    )
    assert str(unnamed.value) == "eine Regel braucht einen Namen"
    with pytest.raises(rules.InvalidRule, match=r"^rule sender 'a\*b@x\.org': only"):
        rules.Rule.make("r", "a*b@x.org")


def test_schedule_errors_are_translated(german: None) -> None:
    with use_locale("de"), pytest.raises(schedules.ScheduleError) as bad:
        schedules.parse("manchmal")
    assert str(bad.value) == (
        "'manchmal' ist kein Zeitplan; schreiben Sie"
        " 'every 30m', 'every 2h', 'at 05:00,12:00 Europe/Berlin' oder 'manual'"
    )


def test_expiry_and_health_warnings_are_translated_with_plurals(german: None) -> None:
    src = Source(
        name="ap",
        active=True,
        inactive_reason=None,
        failures=2,
        failing_since=datetime(2026, 3, 1, 9, 0, tzinfo=UTC),
        last_error="timeout",
        auth_state=AuthState.OK,
        auth_error=None,
    )
    with use_locale("de"):
        one = secret_expiry_warning(date(2026, 3, 2), date(2026, 3, 1))
        ten = secret_expiry_warning(date(2026, 3, 11), date(2026, 3, 1))
        found = health.warnings(src)
    assert (
        one == "das Client-Geheimnis läuft in 1 Tag ab (2026-03-02): legen Sie vorher ein neues an"
    )
    assert ten is not None and ten.startswith("das Client-Geheimnis läuft in 10 Tagen ab")
    assert found == [
        "Verbindung verloren: 2 fehlgeschlagene Abrufe seit 2026-03-01 09:00 UTC: timeout"
    ]


def _extracted(path: str) -> set[str]:
    keywords = {**DEFAULT_KEYWORDS, "N_": None}
    found = set()
    for _line, message, _comments, _context in extract_from_file("python", path, keywords):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_constants_shown_later_are_marked_for_the_catalogues() -> None:
    marked = _extracted(presets.__file__) | _extracted(network.__file__)
    marked |= _extracted(imap.__file__) | _extracted(pop3_session.__file__)
    assert "login refused by server: %(answer)s" in marked
    assert "cannot reach %(service)s: %(why)s" in _extracted(http.__file__)
    assert 'the folder "%(folder)s" cannot be created on this server: %(answer)s' in _extracted(
        imap_folders.__file__
    )
    assert "Gmail refused access to %(user)s (%(request)s): %(answer)s" in _extracted(
        gmail.__file__
    )
    assert "%(where)s does not offer STLS, so the connection cannot be encrypted;" in " ".join(
        marked
    )
    assert presets.MICROSOFT_PASSWORD_WARNING in marked
    assert presets.PRESETS["imap"].label in marked
    assert network.UNTRUSTED in marked
    assert "'every 30m', 'every 2h', 'at 05:00,12:00 Europe/Warsaw' or 'manual'" in _extracted(
        schedules.__file__
    )


def test_the_api_answers_its_mistakes_in_the_requests_language(german: None, web: Web) -> None:
    web.user("admin@x.test")
    api = web.api("admin@x.test")
    de = {"Accept-Language": "de"}
    assert api.get("/api/v1/runs/999999", headers=de).json()["detail"] == "kein solcher Abruf"
    assert api.get("/api/v1/runs/999999").json()["detail"] == "no such run"
    assert api.post("/api/v1/companies", json={"name": "ACME"}).status_code == 201
    taken = api.post("/api/v1/companies", json={"name": "ACME"}, headers=de)
    assert (taken.status_code, taken.json()["detail"]) == (409, 'eine Firma "ACME" gibt es schon')
    unnamed = api.post("/api/v1/companies", json={"name": " "}, headers=de)
    assert unnamed.json() == {
        "detail": "ungültige Anfrage",
        "problems": [{"field": "name", "problem": "eine Firma braucht einen Namen"}],
    }


def test_store_mistakes_and_cleared_secrets_are_translated(german: None, web: Web) -> None:
    with web.app.db.session() as s, use_locale("de"), pytest.raises(NotFound) as missing:
        sources.company(s, "Nix")
    assert str(missing.value) == 'keine Firma "Nix"'
    src = Source(name="ap", auth="password", secret="x", client_secret=None, token=None)
    with use_locale("de"):
        said = secret_scope.forget(
            src, secret_scope.SERVER, auth="password", new_password=False, new_client_secret=False
        )
        again = secret_scope.cleared(src)
    german_sentence = (
        "das Kennwort wurde gelöscht, weil sich der Server geändert hat; geben Sie es neu ein"
    )
    assert said == again == german_sentence
    # stored in English, found again by its English words whatever the reader's language
    assert src.auth_error == "the password was cleared because the server changed; enter it again"
    assert secret_scope.cleared(src) == src.auth_error


def test_the_setup_page_places_a_translated_password_mistake_on_the_password(
    german: None, web: Web
) -> None:
    c = web.client(headers={"Accept-Language": "de"})
    setup = web.setup_token
    page = c.get(f"/setup?token={setup}")
    form = {"email": "a@x.test", "password": "kurz", "repeat": "kurz", "token": setup}
    r = c.post("/setup", data={**form, "csrf_token": csrf_of(page.text)})
    assert r.status_code == 422
    assert (
        '<p class="field-error" id="password-error">'
        "Das Kennwort muss mindestens 10 Zeichen haben.</p>" in r.text
    )


def test_a_switched_off_source_says_why_in_the_readers_language(german: None) -> None:
    reason = health.SWITCHED_OFF % {"n": 5, "error": "timeout"}
    src = Source(name="ap", active=False, inactive_reason=reason, failures=5)
    src.auth_state = AuthState.OK
    with use_locale("de"):
        found = health.warnings(src)
    assert found == [
        "inaktiv: nach 5 fehlgeschlagenen Abrufen abgeschaltet; letzter Fehler: timeout;"
        " einschalten mit: invoice-inbox source activate ap"
    ]
    assert health.inactive_words("switched off by hand") == "switched off by hand"


def test_a_generic_provider_is_named_in_the_readers_language(german: None, web: Web) -> None:
    values = {"name": "x", "company": "ACME", "provider": "imap", "protocol": "graph"}
    with web.app.db.session() as s, use_locale("de"), pytest.raises(configure.Invalid) as bad:
        configure.create(web.app, s, values)
    assert bad.value.errors["protocol"] == "Anderer IMAP-Server erreicht man über imap"


def test_a_fetch_that_waits_for_a_sign_in_says_so_in_the_readers_language(
    german: None, web: Web
) -> None:
    src = Source(name="ap", auth="oauth", auth_state=AuthState.NEEDS_AUTHENTICATION, token=None)
    with use_locale("de"), pytest.raises(runner.NeedsAuthentication) as waiting:
        runner._login(web.app, src)
    assert str(waiting.value) == (
        'Quelle "ap" ist noch nicht angemeldet: führen Sie invoice-inbox source authenticate ap aus'
    )
