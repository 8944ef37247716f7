"""The description an import source is made with is shown in the reader's language; a
description an administrator wrote is shown as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from invoice_inbox.i18n import use_locale
from invoice_inbox.store.companies import IMPORT_DESCRIPTION
from invoice_inbox.web.words import source_description
from translated import install


def test_the_import_source_description_is_translated(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    install(
        monkeypatch,
        tmp_path,
        "de",
        {IMPORT_DESCRIPTION: "an die zentrale Importadresse von %(company)s gesendete Mails"},
    )
    made = IMPORT_DESCRIPTION % {"company": "ACME"}
    assert made == "mail sent to the central import address of ACME"
    with use_locale("de"):
        assert source_description(made, "ACME") == (
            "an die zentrale Importadresse von ACME gesendete Mails"
        )
        assert source_description("our AP mailbox", "ACME") == "our AP mailbox"
        assert source_description(made, "Other") == made  # not this company's: as written
    assert source_description(made, "ACME") == made


def test_an_unknown_page_says_so_in_the_reader_s_language(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from invoice_inbox.runtime.context import App
    from invoice_inbox.web.app import create_app

    install(monkeypatch, tmp_path, "de", {"There is no such page.": "Diese Seite gibt es nicht."})
    app = App.open(tmp_path / "data")
    with TestClient(create_app(app)) as client:
        german = client.get("/no-such-page", headers={"Accept-Language": "de"})
        english = client.get("/no-such-page")
    assert german.status_code == 404 and "Diese Seite gibt es nicht." in german.text
    assert "Not Found" not in german.text
    assert "There is no such page." in english.text
