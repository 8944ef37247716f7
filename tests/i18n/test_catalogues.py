"""The message catalogues are whole and current (issue 20).

- every committed ``.mo`` is what ``pybabel compile`` makes of its ``.po`` (a stale ``.mo`` fails);
- ``messages.pot`` holds exactly the strings the sources mark (a string added without
  ``make i18n`` fails), extracted with the Makefile's own keywords and babel.cfg;
- each of de/nl/pl/fr translates every msgid of the ``.pot``, with no fuzzy entry, the same
  placeholders as the English, and every plural form its Plural-Forms header asks for.
"""

from __future__ import annotations

import re
import subprocess
import sys
from io import BytesIO
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from invoice_inbox import i18n

ROOT = Path(__file__).resolve().parents[2]
POT = Path(i18n.__file__).with_name("messages.pot")
TRANSLATED = [lang for lang in i18n.LOCALES if lang != i18n.DEFAULT_LOCALE]
# %(name)s, %s, %d and {name}: what the code or Jinja2 fills in; %% is a literal percent
_PLACEHOLDER = re.compile(r"%\([A-Za-z_][A-Za-z0-9_]*\)[sdfr]|%[sdfr]|\{[A-Za-z_][A-Za-z0-9_]*\}")


def po_path(lang: str) -> Path:
    return i18n.LOCALES_DIR / lang / "LC_MESSAGES" / "messages.po"


def read(path: Path, lang: str | None = None) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale=lang)


def keys(catalog: Catalog) -> set[tuple[str, str | None]]:
    """(msgid, context) of every real entry (the header has msgid "")."""
    return {(m.id if isinstance(m.id, str) else m.id[0], m.context) for m in catalog if m.id}


def placeholders(text: str) -> list[str]:
    return sorted(_PLACEHOLDER.findall(text.replace("%%", "")))


@pytest.mark.parametrize("lang", TRANSLATED)
def test_committed_mo_is_compiled_from_its_po(lang: str) -> None:
    compiled = BytesIO()
    write_mo(compiled, read(po_path(lang), lang), use_fuzzy=False)
    mo = po_path(lang).with_suffix(".mo")
    assert mo.is_file(), f"{mo} is missing: run make i18n"
    assert mo.read_bytes() == compiled.getvalue(), f"{mo} is stale: run make i18n"


def _makefile_keywords() -> list[str]:
    """The extraction keywords `make i18n` uses (I18N_KEYS in the Makefile)."""
    for line in (ROOT / "Makefile").read_text().splitlines():
        if line.startswith("I18N_KEYS"):
            return line.split(":=", 1)[1].split()
    raise AssertionError("the Makefile has no I18N_KEYS")


def test_pot_is_up_to_date_with_the_sources(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.pot"
    pybabel = Path(sys.executable).with_name("pybabel")
    done = subprocess.run(
        [str(pybabel), "extract", "-F", "babel.cfg", *_makefile_keywords(), "-o", str(fresh), "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    committed, extracted = keys(read(POT)), keys(read(fresh))
    missing = sorted(extracted - committed, key=str)
    gone = sorted(committed - extracted, key=str)
    assert not missing and not gone, (
        f"messages.pot is out of date (run make i18n): not in it {missing[:20]}; "
        f"no longer in the sources {gone[:20]}"
    )


def _problems(message: Message, nplurals: int) -> list[str]:
    if message.fuzzy:
        return ["fuzzy"]
    if isinstance(message.id, str):
        if not isinstance(message.string, str) or not message.string.strip():
            return ["untranslated"]
        if placeholders(message.string) != placeholders(message.id):
            return [f"placeholders {placeholders(message.string)} ≠ {placeholders(message.id)}"]
        return []
    forms = list(message.string) if isinstance(message.string, (list, tuple)) else []
    if len(forms) != nplurals or not all(f.strip() for f in forms):
        return [f"{sum(1 for f in forms if f.strip())} of {nplurals} plural forms"]
    english = set(placeholders(message.id[0])) | set(placeholders(message.id[1]))
    found: set[str] = set()
    for form in forms:
        found |= set(placeholders(form))
    if found - english or set(placeholders(message.id[1])) - found:
        return [f"placeholders {sorted(found)} ≠ {sorted(english)}"]
    return []


@pytest.mark.parametrize("lang", TRANSLATED)
def test_catalogue_translates_every_message(lang: str) -> None:
    pot, po = read(POT), read(po_path(lang), lang)
    assert keys(po) == keys(pot), f"{lang}: the .po does not match messages.pot: run make i18n"
    nplurals = po.num_plurals
    wrong = [
        f"{m.context + ' | ' if m.context else ''}{m.id!r}: {', '.join(p)}"
        for m in po
        if m.id and (p := _problems(m, nplurals))
    ]
    assert not wrong, f"{lang}: {len(wrong)} of {len(keys(po))} entries not done:\n" + "\n".join(
        wrong[:40]
    )


def test_polish_has_three_plural_forms() -> None:
    assert read(po_path("pl"), "pl").num_plurals == 3
    for lang in ("de", "nl", "fr"):
        assert read(po_path(lang), lang).num_plurals == 2


@pytest.mark.parametrize("lang", TRANSLATED)
def test_glossary_names_every_term(lang: str) -> None:
    """The glossary (English term, translation, note) gives each product term its one word."""
    path = Path(i18n.__file__).with_name("glossary") / f"{lang}.tsv"
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines() if line]
    assert rows[0] == ["English term", "translation", "note"], f"{path}: header"
    assert all(len(row) == 3 for row in rows), f"{path}: three tab-separated columns per line"
    missing = [row[0] for row in rows[1:] if not row[1].strip()]
    assert not missing, f"{lang}: no translation for the terms {missing}"
