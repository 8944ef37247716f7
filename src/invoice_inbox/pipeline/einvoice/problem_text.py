"""A calculation problem (``checks``) as a sentence in the reader's language.

``checks`` stores each broken rule with an English ``message`` and its ``figures``; the API and
webhooks keep that message. Pages and the CLI show ``text(rule, message, figures)`` instead: the
rule's sentence from the catalogue below (marked with ``N_``, translated when called), its figures
written as the reader writes numbers ("1.234,50" in German). English readers get the stored
message itself; a rule the catalogue does not know, or figures that do not fit its sentence, also
give the stored message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, localcontext

from babel.numbers import format_decimal

from invoice_inbox.i18n import DEFAULT_LOCALE, N_, current_locale, gettext, ngettext

from .checks_base import amount

_TOTALS = {
    # Translators: the calculation problems of an e-invoice, shown after the rule's id
    # ("BR-CO-15: "). Keep the symbols (≠ − + × Σ) and the KSeF field names (P_13, P_15) as is.
    "BR-CO-10": N_("sum of line net amounts %(sum_of_lines)s ≠ line total %(line_total)s"),
    "BR-CO-11": N_("sum of allowances %(sum_of_allowances)s ≠ allowance total %(allowance_total)s"),
    "BR-CO-12": N_("sum of charges %(sum_of_charges)s ≠ charge total %(charge_total)s"),
    "BR-CO-13": N_(
        "line total %(line_total)s − allowances %(allowance_total)s"
        " + charges %(charge_total)s ≠ tax basis %(tax_basis_total)s"
    ),
    "BR-CO-14": N_("sum of VAT category taxes %(sum_of_category_taxes)s ≠ tax total %(tax_total)s"),
    "BR-CO-15": N_("tax basis %(tax_basis_total)s + tax %(tax_total)s ≠ total %(total)s"),
    "BR-CO-16": N_(
        "total %(total)s − prepaid %(prepaid_amount)s + rounding %(rounding_amount)s"
        " ≠ amount due %(amount_due)s"
    ),
    "KSEF-P15": N_("ΣP_13 %(tax_basis_total)s + ΣP_14 %(tax_total)s ≠ P_15 %(total)s"),
}
_CATEGORY_08 = N_(
    "%(label)s: lines, allowances and charges %(expected)s ≠ taxable amount %(basis)s"
)
_CATEGORY_09 = N_("%(label)s: taxable amount %(basis)s × rate gives %(expected)s ≠ tax %(tax)s")
# Translators: a VAT category of an e-invoice with its rate: "VAT S 19 %" (S: the category code)
_VAT_RATE = N_("VAT %(category)s %(rate)s %%")
_VAT = N_("VAT %(category)s")
# Translators: %(terms)s is " / base quantity − allowances + charges", numbers and symbols only
_LINE = N_(
    "line %(line)s: quantity %(quantity)s × price %(price)s%(terms)s = %(expected)s"
    " ≠ net amount %(net_amount)s"
)
_P13 = N_("%(label)s: sum of line amounts (P_11) %(sum_of_lines)s ≠ P_13 %(P_13)s")
_P13_CATEGORY = N_("category %(category)s")
_P14 = N_("P_13 %(P_13)s × %(rate)s %% = %(expected)s ≠ P_14 %(P_14)s")
_NOT_A_NUMBER = N_("%(figure)s %(value)s is not a number")

_CATEGORY_RULE = re.compile(r"^BR-[A-Z]+-0[89]$")
_LINE_RULES = frozenset({"PEPPOL-EN16931-R120", "KSEF-P11"})
_VAT_LABEL = re.compile(r"^[^:]+: VAT (\S+)(?: (\S+) %)?: ")
_P13_LABEL = re.compile(r"^KSEF-P13: (?:(\S+) %|category (\S+)): ")
_P14_RATE = re.compile(r" × (\S+) % = ")


def text(rule: str, message: str, figures: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    """The problem in the current locale: "BR-CO-15: Steuerbasis 100,00 + …" (German)."""
    if current_locale() == DEFAULT_LOCALE:
        return message
    found = dict(figures.items() if isinstance(figures, Mapping) else figures)
    try:
        sentence = _sentence(rule, message, found)
    except (
        KeyError,
        ValueError,
        TypeError,
        ArithmeticError,
    ):  # figures that do not fit the rule's sentence
        return message
    return message if sentence is None else f"{rule}: {sentence}"


def _sentence(rule: str, message: str, figures: dict[str, str]) -> str | None:
    shown = {name: _number(value) for name, value in figures.items()}
    if rule in _TOTALS:
        return gettext(_TOTALS[rule]) % shown
    if rule in _LINE_RULES:
        return _line(figures, shown)
    if _CATEGORY_RULE.match(rule):
        label = _VAT_LABEL.match(message)
        if label is None:
            return None
        category, rate = label.groups()
        shown["label"] = (
            gettext(_VAT_RATE) % {"category": category, "rate": _number(rate)}
            if rate
            else gettext(_VAT) % {"category": category}
        )
        return gettext(_CATEGORY_08 if rule.endswith("-08") else _CATEGORY_09) % shown
    if rule == "KSEF-P13":
        label = _P13_LABEL.match(message)
        if label is None:
            return None
        rate, category = label.groups()
        shown["label"] = (
            f"{_number(rate)} %" if rate else gettext(_P13_CATEGORY) % {"category": category}
        )
        return gettext(_P13) % shown
    if rule == "KSEF-P14":
        rate = _P14_RATE.search(message)
        if rate is None:
            return None
        return gettext(_P14) % {**shown, "rate": _number(rate.group(1))}
    if rule == "NOT-A-NUMBER" and len(figures) == 1:
        ((name, value),) = figures.items()
        return gettext(_NOT_A_NUMBER) % {"figure": name.replace("_", " "), "value": repr(value)}
    return None


def _line(figures: dict[str, str], shown: dict[str, str]) -> str:
    if "more_lines" in figures:
        more = int(figures["more_lines"])
        return ngettext(
            "%(n)s more line does not multiply out", "%(n)s more lines do not multiply out", more
        ) % {"n": shown["more_lines"]}
    terms = ""
    if Decimal(figures["price_base_quantity"]) != 1:
        terms += f" / {shown['price_base_quantity']}"
    if Decimal(figures["allowances"]):
        terms += f" − {shown['allowances']}"
    if Decimal(figures["charges"]):
        terms += f" + {shown['charges']}"
    return gettext(_LINE) % {**shown, "line": figures["line"], "terms": terms}


def _number(value: str) -> str:
    """A decimal figure as the reader writes it, every decimal kept; other text as it is."""
    number = amount(value)
    if number is None:
        return value
    exponent = number.as_tuple().exponent
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    pattern = "#,##0" + ("." + "0" * places if places else "")
    with localcontext() as context:
        context.prec = 200  # figures have at most MAX_DIGITS characters
        return format_decimal(
            number, format=pattern, locale=current_locale(), decimal_quantization=False
        )


def of(problem: object) -> str:
    """``text`` of a ``Problem`` or of its JSON form (``{"rule", "message", "figures"}``)."""
    if isinstance(problem, Mapping):
        rule, message, figures = (problem.get(k) for k in ("rule", "message", "figures"))
    else:
        rule, message, figures = (getattr(problem, k, None) for k in ("rule", "message", "figures"))
    if not isinstance(message, str):
        return ""
    if not isinstance(rule, str) or not isinstance(figures, Mapping | tuple | list):
        return message
    return text(rule, message, figures)
