"""The readable view's lines, VAT breakdown, totals and payment accounts, taken from the booking
fields the summary reader already filled (``EInvoice.lines``, ``vat_breakdown``, ...), so UBL and
CII are read once: texts collapsed and cut, repeated parts bounded as the view bounds them.
(UBL and CII show their payment terms note by note, so those views read the notes themselves.)"""

from __future__ import annotations

from dataclasses import dataclass

from .booking import InvoiceLine
from .model import EInvoice
from .view_model import MAX_PARTS, Account, InvoiceView, Line, Party, TaxRow, cut, payment_means

# (field of EInvoice, label), in reading order
_TOTALS = (
    ("line_total", "Sum of lines"),
    ("allowance_total", "Allowances"),
    ("charge_total", "Charges"),
    ("tax_basis_total", "Total without VAT"),
    ("tax_total", "VAT"),
    ("total", "Total with VAT"),
    ("prepaid_amount", "Paid in advance"),
    ("rounding_amount", "Rounding"),
    ("amount_due", "Amount due"),
)


@dataclass(frozen=True)
class BookingView:
    """The view's parts that come from the booking core."""

    lines: tuple[Line, ...]
    more_lines: int
    taxes: tuple[TaxRow, ...]
    totals: tuple[tuple[str, str], ...]
    accounts: tuple[Account, ...]
    payment_reference: str | None
    payment_terms: tuple[str, ...]  # the terms text line by line


def booking_view(summary: EInvoice, max_lines: int) -> BookingView:
    """The lines (at most ``max_lines``, the rest counted), taxes, totals and payment to show."""
    shown = summary.lines[: max(max_lines, 0)]
    more = len(summary.lines) - len(shown) + summary.lines_omitted
    payment = summary.payment
    terms = () if payment is None or not payment.terms else payment.terms.splitlines()
    return BookingView(
        lines=tuple(_line(line) for line in shown),
        more_lines=more,
        taxes=tuple(
            TaxRow(
                category=cut(row.category),
                rate=cut(row.rate),
                basis=cut(row.basis),
                amount=cut(row.tax),
                reason=cut(row.exemption_reason),
            )
            for row in summary.vat_breakdown[:MAX_PARTS]
        ),
        totals=tuple(
            (label, value)
            for name, label in _TOTALS
            if (value := cut(getattr(summary, name))) is not None
        ),
        accounts=_accounts(summary),
        payment_reference=None if payment is None else cut(payment.reference),
        payment_terms=tuple(term for line in terms[:MAX_PARTS] if (term := cut(line))),
    )


def invoice_view(
    summary: EInvoice,
    max_lines: int,
    *,
    seller: Party,
    buyer: Party,
    payment_terms: tuple[str, ...],
    notes: tuple[str, ...],
) -> InvoiceView:
    """The whole view: the parties, terms and notes a syntax reader read, the rest from the
    booking fields."""
    booking = booking_view(summary, max_lines)
    return InvoiceView(
        summary=summary,
        currency=summary.currency,
        seller=seller,
        buyer=buyer,
        lines=booking.lines,
        more_lines=booking.more_lines,
        taxes=booking.taxes,
        totals=booking.totals,
        accounts=booking.accounts,
        payment_reference=booking.payment_reference,
        payment_terms=payment_terms,
        notes=notes,
    )


def _line(line: InvoiceLine) -> Line:
    return Line(
        number=cut(line.id),
        name=cut(line.name),
        description=cut(line.description),
        quantity=cut(line.quantity),
        unit=cut(line.unit),
        unit_price=cut(line.unit_price),
        net_amount=cut(line.net_amount),
        vat_rate=cut(line.vat_rate),
        vat_category=cut(line.vat_category),
    )


def _accounts(summary: EInvoice) -> tuple[Account, ...]:
    payment = summary.payment
    if payment is None:
        return ()
    means = payment_means(cut(payment.means_code), cut(payment.means_text))
    if not payment.accounts:
        return () if means is None else (Account(means=means),)
    return tuple(
        Account(
            means=means,
            iban=cut(account.iban or account.account_number),
            bic=cut(account.bic),
            name=cut(account.name),
            bank=cut(account.bank),
        )
        for account in payment.accounts[:MAX_PARTS]
    )
