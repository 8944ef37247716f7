"""What the UBL and CII booking readers share: allowances and charges read by their tag names
(``ChargeTags``), split by the charge indicator. Tags are in Clark notation (``{ns}name``)."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from .booking import AllowanceCharge
from .values import children, clean


@dataclass(frozen=True)
class ChargeTags:
    """Where one syntax keeps an allowance's or charge's values (BG-20/21, BG-27/28)."""

    element: str  # the repeated allowance/charge element
    indicator: str  # "true" for a charge (CII wraps it in udt:Indicator; its text is read)
    amount: str
    base_amount: str
    percent: str
    reason: str
    reason_code: str
    tax: str  # the VAT category element (document level)
    category: str
    rate: str


def allowances_charges(
    node: etree._Element | None, tags: ChargeTags, document: bool
) -> tuple[tuple[AllowanceCharge, ...], tuple[AllowanceCharge, ...]]:
    """The node's own allowance/charge children, split into (allowances, charges); the VAT
    category and rate are read at document level only."""
    allowances: list[AllowanceCharge] = []
    charges: list[AllowanceCharge] = []
    if node is None:
        return (), ()
    for element in node.iterchildren(tags.element):
        kids = children(element)
        tax = children(kids.get(tags.tax)) if document else {}
        found = AllowanceCharge(
            amount=clean(kids.get(tags.amount)),
            base_amount=clean(kids.get(tags.base_amount)),
            percent=clean(kids.get(tags.percent)),
            reason=clean(kids.get(tags.reason)),
            reason_code=clean(kids.get(tags.reason_code)),
            vat_category=clean(tax.get(tags.category)),
            vat_rate=clean(tax.get(tags.rate)),
        )
        is_charge = (clean(kids.get(tags.indicator)) or "").lower() == "true"
        (charges if is_charge else allowances).append(found)
    return tuple(allowances), tuple(charges)
