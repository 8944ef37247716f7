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
