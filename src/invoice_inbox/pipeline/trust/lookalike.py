"""Look-alike sender domains: the known (allowed or supplier) domain a From domain imitates.

``lookalike_of("supp1ier.test", {"supplier.test"})`` is ``"supplier.test"``. A domain is never a
look-alike of itself, of a domain it is a subdomain of, of one under the same registrable domain,
or when it is a free-mail provider's. What counts, on the registrable part (``publicsuffixlist``):

- the same name behind another public suffix: ``supplier.com``, ``supplier.co.uk``;
- confusable characters: ``1``/``l``/``I``, ``0``/``o``, ``rn``/``m``, ``vv``/``w``, ``cl``/``d``,
  accents, and Cyrillic or Greek letters that look Latin (IDN homographs, also as ``xn--``);
- a typo: edit distance 1 (names of 5-7 characters) or 2 (8 and more), swaps included;
- hyphen and dot games: ``supplier-test.com``, ``suppliertest.com``, ``supplier.test.com``,
  ``supplier.test-billing.com``;
- extra words: ``supplier-invoices.test``, ``invoices-supplier.com``, ``billing.supplier.evil``.

Names of 4 characters or fewer (``sap``, ``dhl``, ``ibm``) match only through another suffix,
confusable characters or the hyphen and dot games: a one-letter change of a short name is most
often a real, unrelated company (``sas.com``, ``dpd.de``).
"""

from __future__ import annotations

import codecs
import contextlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from publicsuffixlist import PublicSuffixList

from invoice_inbox.freemail import is_freemail

SHORT = 4  # names this long or shorter: no edit distance

# Cyrillic, Greek and other letters that look like a Latin one (after lower-casing)
_HOMOGLYPHS = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "з": "3", "һ": "h", "і": "i", "ї": "i", "ј": "j",
    "к": "k", "ӏ": "l", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t", "у": "y",
    "х": "x", "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ь": "b", "ғ": "f", "ү": "y", "ո": "n",
    # Greek
    "α": "a", "β": "b", "γ": "y", "ε": "e", "η": "n", "ι": "i", "κ": "k", "μ": "u", "ν": "v",
    "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ϲ": "c", "ϳ": "j",
    # Latin letters NFKD does not take apart
    "ı": "i", "ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ŀ": "l", "ɡ": "g", "ɩ": "i", "ɑ": "a",
    "ß": "ss", "æ": "ae", "œ": "oe",
}  # fmt: skip
# sequences that read as another letter in most fonts, applied after the characters above
_STRONG = (("rn", "m"), ("vv", "w"), ("cl", "d"), ("0", "o"), ("1", "l"), ("|", "l"))
_WEAK = (("i", "l"),)  # an upper-case I looks like l; only for names longer than SHORT
_SEPARATORS = re.compile(r"[.\-_]+")


@lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


def _unicode(domain: str) -> str:
    """Lower case, without the final dot, ``xn--`` labels decoded (kept when not decodable)."""
    labels = []
    for label in domain.strip().rstrip(".").lower().split("."):
        if label.startswith("xn--"):
            with contextlib.suppress(UnicodeError, ValueError):
                label = codecs.decode(label[4:].encode("ascii"), "punycode").lower()
        labels.append(label)
    return ".".join(labels)


@lru_cache(maxsize=65536)
def _skeleton(text: str, *, weak: bool) -> str:
    """What *text* looks like, in plain Latin letters."""
    out = []
    for ch in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(ch):
            continue  # accents: supplïer -> supplier
        out.append(_HOMOGLYPHS.get(ch, ch))
    shown = "".join(out)
    for seq, rep in _STRONG + (_WEAK if weak else ()):
        shown = shown.replace(seq, rep)
    return shown


@dataclass(frozen=True)
class _Name:
    domain: str  # unicode, lower case
    registrable: str  # e.g. supplier.co.uk
    label: str  # the registrable part without its public suffix: supplier
    suffix: str  # co.uk
    tokens: tuple[str, ...]  # every label split at hyphens: supplier, test, billing, com

    @staticmethod
    @lru_cache(maxsize=16384)  # the same known domains are compared with every mail
    def of(domain: str) -> _Name | None:
        d = _unicode(domain)
        if not d or "." not in d:
            return None
        try:
            ascii_d = d if d.isascii() else d.encode("idna").decode("ascii")
            registrable = _psl().privatesuffix(ascii_d) or ascii_d
            suffix = _psl().publicsuffix(ascii_d) or ""
        except (UnicodeError, ValueError):
            return None
        reg_u = _unicode(registrable)
        suffix_u = _unicode(suffix)
        label = reg_u[: -len(suffix_u) - 1] if suffix_u and reg_u != suffix_u else reg_u
        return _Name(d, reg_u, label, suffix_u, tuple(t for t in _SEPARATORS.split(d) if t))


def _distance(a: str, b: str, limit: int) -> int:
    """Edit distance with swaps of neighbours (optimal string alignment); > limit when further."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def _contains(tokens: tuple[str, ...], part: tuple[str, ...]) -> bool:
    n = len(part)
    return n > 0 and any(tokens[i : i + n] == part for i in range(len(tokens) - n + 1))


@dataclass(frozen=True)
class _Shown:
    """What a name looks like, for one skeleton level: its registrable label, every token,
    the label's own words, and the label without separators."""

    label: str
    tokens: tuple[str, ...]
    words: tuple[str, ...]
    squashed: str

    @staticmethod
    @lru_cache(maxsize=32768)
    def of(name: _Name, weak: bool) -> _Shown:
        words = tuple(_skeleton(t, weak=weak) for t in _SEPARATORS.split(name.label) if t)
        return _Shown(
            label=_skeleton(name.label, weak=weak),
            tokens=tuple(_skeleton(t, weak=weak) for t in name.tokens),
            words=words,
            squashed="".join(words),
        )


def _score(cand: _Name, known: _Name) -> int | None:
    """How closely *cand* imitates *known* (lower is closer), or None when it does not."""
    short = len(known.label) <= SHORT
    c, k = _Shown.of(cand, not short), _Shown.of(known, not short)
    if c.label == k.label:
        return 0  # another suffix, or confusable characters
    if _contains(c.tokens, k.tokens):
        return 1  # supplier-test.com, supplier.test.com, supplier.test-billing.com
    if c.squashed == "".join(k.tokens):
        return 1  # suppliertest.com
    if short:
        return None
    limit = 1 if len(k.label) < 8 else 2
    if _distance(c.label, k.label, limit) <= limit:
        return 2  # a typo
    if _contains(c.tokens, k.words):
        return 3  # extra words: supplier-invoices.test, billing.supplier.evil
    if len(k.squashed) >= 6 and k.squashed in c.label.replace("-", ""):
        return 3  # supplierinvoices.test
    return None


def lookalike_of(domain: str, known: Iterable[str]) -> str | None:
    """The known domain *domain* imitates, or None (see the module's docstring)."""
    cand = _Name.of(domain)
    if cand is None or is_freemail(cand.domain):
        return None
    names = []
    for k in known:
        name = _Name.of(k)
        if name is None:
            continue
        if cand.registrable == name.registrable or cand.domain.endswith("." + name.domain):
            return None  # itself, its own subdomain, or the same organisation
        names.append((k.strip().rstrip(".").lower(), name))
    best: tuple[int, str] | None = None
    for shown, name in names:
        score = _score(cand, name)
        if score is not None and (best is None or (score, shown) < best):
            best = (score, shown)
    return best[1] if best else None
