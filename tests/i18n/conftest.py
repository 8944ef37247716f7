"""Fixtures of the language checks: the web app (tests/web's ``web``), Chromium (tests/browser's)
and the pseudo-locale."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pseudo
import pytest

from browser.conftest import chromium  # noqa: F401 (Chromium for a module)
from invoice_inbox import i18n
from web.conftest import web  # noqa: F401 (the web app fixture)


@pytest.fixture
def pseudo_locale(tmp_path: Path) -> Iterator[str]:
    """The pseudo catalogue installed as the slot's for the test; the real ones after."""
    saved = i18n.LOCALES_DIR
    pseudo.install(tmp_path / "pseudo-locales", pseudo.SLOT)
    try:
        yield pseudo.SLOT
    finally:
        i18n.LOCALES_DIR = saved
        i18n.translations.cache_clear()
