"""The bounds of rendering a mail body: elements, checked before layout; pages and wall time,
checked while WeasyPrint lays it out.

WeasyPrint reports every step and every page it lays out on its progress logger
("weasyprint.progress"). ``watch_progress`` puts a filter there that checks the bounds of the
render running in this thread (``bounded``) and raises ``LimitExceeded`` through the layout: a
page bomb stops after ``render_pages`` + 1 pages instead of thousands. The filter lets no
progress record through. One page that is slow to lay out cannot be interrupted here; the CPU
limit of the deciding worker bounds that.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from invoice_inbox.pipeline.limits import LimitExceeded

__all__ = ["Bounds", "bounded", "watch_progress"]

_PAGE_STEP = "Step 5 - Creating layout - Page"  # WeasyPrint's message for each page laid out


class Bounds:
    """The limits of one render; the clock starts when it is made."""

    def __init__(self, pages: int, seconds: float, elements: int) -> None:
        self.pages = pages
        self.seconds = seconds
        self.elements = elements
        self.deadline = time.monotonic() + seconds

    def check_elements(self, count: int) -> None:
        """Layout costs about 1 to 2 ms and 10 to 30 KB per element (more for absolutely
        positioned ones, all on one page, where no page report comes to stop it): the count
        is checked before WeasyPrint sees the HTML."""
        if count > self.elements:
            raise LimitExceeded(
                "render_elements",
                f"the mail text has more than {self.elements:,} HTML elements "
                "(limit render_elements)",
            )

    def check_pages(self, count: int) -> None:
        if count > self.pages:
            raise LimitExceeded(
                "render_pages",
                f"the mail text lays out to more than {self.pages} pages (limit render_pages)",
            )

    def check_time(self) -> None:
        if time.monotonic() >= self.deadline:
            raise LimitExceeded(
                "render_seconds",
                f"rendering the mail text took longer than {self.seconds:g} seconds "
                "(limit render_seconds)",
            )


_CURRENT: ContextVar[Bounds | None] = ContextVar("render_bounds", default=None)


@contextmanager
def bounded(bounds: Bounds) -> Iterator[Bounds]:
    """Check *bounds* at WeasyPrint's progress reports made inside this block."""
    token = _CURRENT.set(bounds)
    try:
        yield bounds
    finally:
        _CURRENT.reset(token)


class _ProgressWatch(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        bounds = _CURRENT.get()
        if bounds is not None:
            bounds.check_time()
            if str(record.msg).startswith(_PAGE_STEP) and isinstance(record.args, tuple):
                page = record.args[0] if record.args else None
                if isinstance(page, int):
                    bounds.check_pages(page)
        return False


def watch_progress() -> None:
    """Install the filter on WeasyPrint's progress logger (once) and switch that logger on."""
    progress = logging.getLogger("weasyprint.progress")
    if not any(isinstance(f, _ProgressWatch) for f in progress.filters):
        progress.addFilter(_ProgressWatch())
    progress.setLevel(logging.INFO)  # WeasyPrint builds its progress records only at INFO
