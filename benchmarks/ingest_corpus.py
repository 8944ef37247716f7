"""The benchmark mailbox for ``ingest.py`` and friends: N invoice-like mails (multipart/mixed,
a short text body plus a PDF attachment, about ``size_kb`` each), written once as a Maildir under
``benchmarks/.cache/`` and reused by later runs. The PDF is random bytes behind a ``%PDF-1.4``
header (the default, as the figures so far), or with ``valid_pdf`` a well-formed one-page PDF
padded with random bytes, which a PDF reader opens at once instead of searching it for its end."""

from __future__ import annotations

import base64
import email.utils
import os
import random
import shutil
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE_DIR = REPO / "benchmarks" / ".cache"
sys.path.insert(0, str(REPO / "tests"))

from builders import make_sized_pdf  # noqa: E402
from harness.dovecot import write_maildir  # noqa: E402

SUPPLIERS = (
    ("Acme Office Supplies", "billing@acme-office.example"),
    ("Nordwind Logistik GmbH", "rechnung@nordwind-logistik.example"),
    ("Blue River Hosting", "invoices@blueriver-hosting.example"),
    ("Café Lumière SARL", "factures@cafe-lumiere.example"),
    ("Stadtwerke Beispielstadt", "kundenservice@stadtwerke-beispiel.example"),
    ("Papierfabrik Müller KG", "buchhaltung@papier-mueller.example"),
)

_HEAD = """\
From: "{name}" <{addr}>
To: Accounts Payable <ap@bench-company.example>
Subject: Invoice {number}
Date: {date}
Message-ID: <{number}.{token}@{domain}>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="{boundary}"

This is a multi-part message in MIME format.

--{boundary}
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: 7bit

Dear customer,

please find attached our invoice {number} dated {day}.
The amount is due within 30 days. Thank you for your business.

Kind regards
{addr}

--{boundary}
Content-Type: application/pdf; name="{number}.pdf"
Content-Disposition: attachment; filename="{number}.pdf"
Content-Transfer-Encoding: base64

"""
_TAIL = "--{boundary}--\n"


# -- corpus -------------------------------------------------------------------------------


def _render(i: int, rng: random.Random, pdf_len: int, valid_pdf: bool = False) -> bytes:
    name, addr = SUPPLIERS[i % len(SUPPLIERS)]
    when = datetime(2025, 1, 1, 8, 0, tzinfo=UTC) + timedelta(minutes=37 * i)
    fields = {
        "name": name,
        "addr": addr,
        "domain": addr.split("@", 1)[1],
        "number": f"INV-2025-{i + 1:06d}",
        "token": f"{rng.getrandbits(64):016x}",
        "boundary": f"=_bench_{rng.getrandbits(64):016x}",
        "date": email.utils.format_datetime(when),
        "day": when.date().isoformat(),
    }
    if valid_pdf:  # a well-formed one-page PDF (xref, trailer, %%EOF) padded with random bytes
        pdf = make_sized_pdf(max(pdf_len, 400), seed=rng.getrandbits(32))
    else:  # random bytes behind a PDF header: no xref, no trailer, no %%EOF
        pdf = b"%PDF-1.4\n" + rng.randbytes(max(pdf_len - 9, 0))
    return b"".join(
        (
            _HEAD.format(**fields).encode("utf-8"),
            base64.encodebytes(pdf),
            _TAIL.format(**fields).encode("ascii"),
        )
    )


def _pdf_len_for(size_kb: float) -> int:
    """PDF size so that the whole message (LF line ends) is about ``size_kb`` KiB."""
    target = int(size_kb * 1024)
    overhead = len(_render(0, random.Random(0), 0))
    # base64 with 76-character lines: 57 input bytes become 77 output bytes
    return max(int((target - overhead) * 57 / 77), 16)


def _messages(count: int, size_kb: float, valid_pdf: bool = False) -> Iterator[bytes]:
    rng = random.Random(20250101)
    pdf_len = _pdf_len_for(size_kb)
    for i in range(count):
        yield _render(i, rng, pdf_len, valid_pdf)


def _maildir_count(path: Path) -> int:
    return sum(len(os.listdir(path / sub)) for sub in ("cur", "new") if (path / sub).is_dir())


def corpus(count: int, size_kb: float, valid_pdf: bool = False) -> tuple[Path, bool, float]:
    """The cached Maildir for (count, size); returns (path, reused, seconds spent)."""
    began = time.perf_counter()
    path = CACHE_DIR / f"maildir-{count}x{size_kb:g}k{'-validpdf' if valid_pdf else ''}"
    if path.is_dir() and _maildir_count(path) == count:
        return path, True, time.perf_counter() - began
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(path, ignore_errors=True)
    tmp = CACHE_DIR / f"{path.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        write_maildir(tmp, _messages(count, size_kb, valid_pdf))
        for d in (tmp, tmp / "cur", tmp / "new", tmp / "tmp"):
            d.chmod(0o755)  # doveadm import reads it as the mail user
        tmp.rename(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path, False, time.perf_counter() - began
