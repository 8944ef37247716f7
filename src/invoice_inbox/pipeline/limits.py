"""The limits every decision on untrusted bytes runs under, and the error that names one.

A mail is hostile until proven otherwise: its MIME tree, archives, TNEF, PDFs, XML and the
body rendered to PDF are all handled within these bounds. Exceeding one quarantines that mail
with a reason that says which limit it hit (``LimitExceeded``); nothing else in the run is
affected. The defaults fit a real invoice mail many times over.
"""

from __future__ import annotations

from dataclasses import dataclass

MB = 1024 * 1024


class LimitExceeded(Exception):
    """A mail needed more than a limit allows; ``str()`` is the sentence shown to the user,
    and ``limit`` names the limit (e.g. ``"pdf_embedded_files"``)."""

    def __init__(self, limit: str, reason: str) -> None:
        super().__init__(reason)
        self.limit = limit


@dataclass(frozen=True)
class Limits:
    """Bounds for deciding one mail. Process-wide bounds (memory, CPU) are applied by the
    worker process that decides it (``runtime.workers``: ``RLIMIT_AS``, ``RLIMIT_CPU``); the
    rest by the pipeline step they concern."""

    # the deciding worker process
    memory_bytes: int = 1024 * MB  # address space of a decide worker (RLIMIT_AS)
    cpu_seconds: int = 60  # CPU time for one mail's decision
    # PDFs: embedded files (ZUGFeRD/Factur-X carry one XML file)
    pdf_embedded_files: int = 16  # embedded files looked at in one PDF
    pdf_embedded_bytes: int = 20 * MB  # one embedded file, unpacked
    pdf_object_bytes: int = 32 * MB  # object streams unpacked to find them, in one PDF
    # rendering a mail body to PDF
    render_pages: int = 50  # pages of one rendered body
    render_seconds: float = 20.0  # wall time to lay out and write one body
    render_elements: int = 10_000  # HTML elements of one body (checked before layout)


DEFAULT_LIMITS = Limits()
