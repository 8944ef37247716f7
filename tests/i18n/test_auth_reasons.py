"""A stored sender-authentication sentence is shown in the reader's language: each of its
phrases, as ``pipeline.trust.authenticate`` writes them, is found and translated with its values
(domains and results stay as they are); an unknown phrase stays as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from invoice_inbox import auth_reasons
from invoice_inbox.auth_reasons import _PHRASES, localized
from invoice_inbox.i18n import use_locale
from translated import install

# every phrase the module writes, as it writes them (authenticate.py, sender_check.py)
SENTENCES = [
    "DNS did not answer (timeout after 5 s); try again later",
    "the mail has no From address with a domain to check",
    "the mail has From addresses in several domains (a.test, b.test)",
    "DKIM signature by supplier.test verified; DMARC pass",
    "SPF pass for supplier.test; supplier.test publishes no DMARC record",
    "DNS did not answer for the DMARC record of supplier.test; try again later",
    "DNS did not answer for the DKIM key of supplier.test; try again later",
    "DNS did not answer for the SPF record of supplier.test; try again later",
    "From domain supplier.test publishes DMARC p=reject pct=50; no aligned SPF or DKIM; "
    "DKIM signature by evil.test verified but not aligned with supplier.test",
    "DKIM signature by supplier.test failed: body hash mismatch; SPF softfail for supplier.test",
    "SPF pass for evil.test but not aligned with supplier.test",
    "mx.google.com reports a DKIM pass for supplier.test",
    "ARC chain sealed by forwarder.test (mx.google.com) reports DMARC pass for supplier.test",
    "protection.outlook.com reports DMARC fail for supplier.test",
    "no DKIM signature and supplier.test publishes no DMARC record; "
    "Authentication-Results by mx.evil.test ignored (not from a trusted server)",
    "no aligned DKIM signature, SPF neutral and supplier.test publishes no DMARC record",
    "sender authentication could not read the message (UnicodeError)",
    "sender authentication could not read the message: ValueError",
    "not checked: the message is too big",
]


@pytest.fixture
def pseudo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every phrase template "translated" as «…» around it, placeholders kept."""
    templates = [t for _, t in _PHRASES if t] + [
        auth_reasons._NO_DKIM,
        auth_reasons._NO_ALIGNED_DKIM,
        auth_reasons._NONE_AND,
        auth_reasons._NONE_SPF_AND,
    ]
    install(monkeypatch, tmp_path, "de", {t: f"«{t}»" for t in templates})


@pytest.mark.parametrize("sentence", SENTENCES)
def test_every_phrase_is_translated_with_its_values(pseudo: None, sentence: str) -> None:
    with use_locale("de"):
        shown = localized(sentence)
    phrases = shown.split("; ")
    assert len(phrases) == len(sentence.split("; "))
    assert all(p.startswith("«") and p.endswith("»") for p in phrases), shown
    for value in ("supplier.test", "evil.test", "mx.google.com", "body hash mismatch"):
        assert (value in sentence) == (value in shown), value


def test_english_and_unknown_phrases_are_left_as_they_are(pseudo: None) -> None:
    assert localized(SENTENCES[3]) == SENTENCES[3]  # English: unchanged
    with use_locale("de"):
        assert localized("something an older version wrote") == "something an older version wrote"
        assert localized(None) == ""


def test_a_decision_reason_translates_the_sentence_it_quotes(pseudo: None) -> None:
    from invoice_inbox.reasons import localized as reason
    from invoice_inbox.reasons import part

    parts = (part("sender_not_authenticated", why=SENTENCES[14]),)
    with use_locale("de"):
        shown = reason(parts)
    assert "«%(missing)s and" not in shown and "«no DKIM signature»" in shown, shown
    assert reason(parts).endswith(SENTENCES[14])  # English: the sentence as stored
