"""Render HTML this program wrote itself (the printable view of an e-invoice) to a PDF, with the
mail-body renderer's engine and guards (``render_engine``): WeasyPrint loaded once, every URL
refused but ``data:`` (no network, no files), and the same bounds (``pipeline.limits``: elements
before layout, pages and wall time while laying out; past one it raises ``LimitExceeded``).

The HTML's text comes from untrusted documents but was escaped by the template that wrote it;
the markup and its stylesheet are ours, so it is not cleaned again.
"""

from __future__ import annotations

from invoice_inbox.pipeline.limits import DEFAULT_LIMITS, Limits
from invoice_inbox.pipeline.render_bounds import Bounds
from invoice_inbox.pipeline.render_engine import RenderError, engine, rendering, write_pdf

__all__ = ["RenderError", "html_to_pdf"]


def html_to_pdf(markup: str, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """The PDF of *markup* (its own ``@page`` rules apply). Raises :class:`RenderError`, or
    ``LimitExceeded`` when it has more elements or needs more pages or time than *limits*."""
    bounds = Bounds(limits.render_pages, limits.render_seconds, limits.render_elements)
    engine_ = engine()
    with rendering(bounds, "the page"):
        root, _quirks = engine_.parse(markup)
        bounds.check_elements(sum(1 for _ in root.iter()))  # before any layout
        html = engine_.HTML(string=markup, base_url=None, url_fetcher=engine_.fetcher({}))
        return write_pdf(html.render(), bounds, "the page")
