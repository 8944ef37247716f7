"""A pseudo-locale made from ``messages.pot``: every message accented, 40 % longer and bracketed
("Sources" → "[Šóúŕćéš~~~]"), placeholders and HTML tags kept, so a page rendered in it shows
at a glance (and to a test) which text did not come from the catalogue, and whether the layout
holds longer words.

``install(tmp_path, slot)`` writes it as the catalogue of *slot* (one of the product's locales,
whose Babel formats it borrows) and points :mod:`invoice_inbox.i18n` at it; ``leftovers(html,
allowed)`` lists the visible texts of a page that are not pseudo-translated.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from invoice_inbox import i18n

POT = Path(i18n.__file__).with_name("messages.pot")
_ACCENTED = str.maketrans(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "áƀćđéƒĝĥíĵķĺɱńóṕʠŕšťúṽŵẋýžÁƁĆĐÉƑĜĤÍĴĶĹṀŃÓṔɊŔŠŤÚṼŴẊÝŽ",
)
# kept as they are: placeholders (%(n)s, %s, {name}), HTML tags and entities
_KEEP = re.compile(
    r"%\([A-Za-z_][A-Za-z0-9_]*\)[sdfr]|%[sdfr%]|\{[A-Za-z_][A-Za-z0-9_]*\}|<[^>]*>|&[#A-Za-z0-9]+;"
)
OPEN, CLOSE = "[", "]"
# the product's locale whose slot the pseudo catalogue takes in tests (its Babel formats are used)
SLOT = "fr"


def pseudo(text: str) -> str:
    """*text* accented, padded to 140 % of its letters with ``~``, in brackets."""
    if not text:
        return text
    out, last, letters = [], 0, 0
    for m in _KEEP.finditer(text):
        plain = text[last : m.start()]
        letters += sum(c.isalpha() for c in plain)
        out += [plain.translate(_ACCENTED), m.group(0)]
        last = m.end()
    plain = text[last:]
    letters += sum(c.isalpha() for c in plain)
    out.append(plain.translate(_ACCENTED))
    return OPEN + "".join(out) + "~" * max(1, round(letters * 0.4)) + CLOSE


def catalogue() -> Catalog:
    with POT.open("rb") as f:
        template = read_po(f)
    cat = Catalog(locale="fr")  # two plural forms, n > 1
    for m in template:
        if not m.id:
            continue
        if isinstance(m.id, str):
            cat.add(m.id, pseudo(m.id), context=m.context)
        else:
            cat.add(m.id, (pseudo(m.id[0]), pseudo(m.id[1])), context=m.context)
    return cat


def install(root: Path, slot: str) -> None:
    """Write the pseudo catalogue as *slot*'s under *root*, and let i18n read catalogues there
    (the caller restores ``i18n.LOCALES_DIR`` and clears the cache afterwards)."""
    folder = root / slot / "LC_MESSAGES"
    folder.mkdir(parents=True, exist_ok=True)
    buffer = BytesIO()
    write_mo(buffer, catalogue())
    (folder / f"{i18n.DOMAIN}.mo").write_bytes(buffer.getvalue())
    i18n.LOCALES_DIR = root
    i18n.translations.cache_clear()


class _Visible(HTMLParser):
    """The texts a reader sees: text nodes (not scripts, styles, nor code: commands, headers
    and examples are not translated) and the attributes read aloud or shown (title,
    placeholder, alt, aria-label, a button's value)."""

    SHOWN_ATTRIBUTES = ("title", "placeholder", "alt", "aria-label")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "template", "code", "pre", "kbd", "samp"):
            self._hidden += 1
        values = dict(attrs)
        for name in self.SHOWN_ATTRIBUTES:
            if values.get(name):
                self.texts.append(values[name] or "")
        if tag == "input" and values.get("type") in ("submit", "button") and values.get("value"):
            self.texts.append(values["value"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "template", "code", "pre", "kbd", "samp") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.texts.append(data)


_PSEUDO = re.compile(r"\[[^\[\]]*~\]")  # an innermost pseudo-translation
_WORD = re.compile(r"[^\W\d_][\w'’-]*[^\W\d_]")  # a word of two letters or more
# an address, domain, URL, file or code name: not prose, never translated
_TECHNICAL = re.compile(r"\S*[@/_.:]\S*[A-Za-z0-9]|--\S+|\b[0-9a-f]{16,}\b")


def visible_texts(html: str) -> list[str]:
    parser = _Visible()
    parser.feed(html)
    return parser.texts


def _allowed(word: str, allowed: set[str]) -> bool:
    parts = [p for p in re.split(r"[-'’_/]", word) if p]
    return word in allowed or word.lower() in allowed or all(p in allowed for p in parts)


def leftovers(html: str, allowed: set[str], data: list[str]) -> list[str]:
    """The visible texts of *html* with English words that are neither pseudo-translated, nor
    seeded *data* (names, addresses, numbers), nor in *allowed* (product and format names)."""
    # a translation may span several text nodes (a <code> inside a sentence): join them first
    rest = "\x00".join(visible_texts(html))
    for item in sorted(data, key=len, reverse=True):  # first: data may hold brackets
        rest = rest.replace(item, " ")
    while True:  # translations nest (a link's text inside a sentence): innermost first
        shorter = _PSEUDO.sub(" ", rest)
        if shorter == rest:
            break
        rest = shorter
    found = []
    for text in rest.split("\x00"):
        text = _TECHNICAL.sub(" ", text)
        words = [w for w in _WORD.findall(text) if not _allowed(w, allowed)]
        if words:
            found.append(" ".join(text.split()))
    return found
