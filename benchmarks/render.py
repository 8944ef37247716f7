"""Mail-body rendering benchmark: how long does ``body_to_pdf`` take per message, compared with
parsing the same mail with the standard library, and what does the first render cost?

One run, all in this process, nothing on the network:

1. build two typical one-page invoice mails as raw RFC 5322 bytes: an HTML one
   (multipart/related: a table of 10 invoice lines plus a ``cid:`` PNG logo) and a plain-text one;
2. one-time costs: ``import weasyprint`` (``body_to_pdf`` does it on its first call), then the
   first render (it also parses the renderer's own stylesheet and sets up fonts);
3. baseline, per mail: ``email.message_from_bytes`` with ``policy.default`` and reading the
   body and inline parts, the work the pipeline does before it can render;
4. render, per mail: ``body_to_pdf`` on the already parsed body, ``--runs`` times (30);
5. print median and p95 for both, the ratio, and the PDF size and page count.

Run it from the repository root::

    .venv/bin/python benchmarks/render.py [--runs 30] [--json]
"""

from __future__ import annotations

import argparse
import email
import email.policy
import io
import json
import os
import platform
import statistics
import struct
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from invoice_inbox.pipeline.render import Body, body_to_pdf  # noqa: E402

LINES = (
    ("Kopierpapier A4, 80 g, 500 Blatt", 20, 4.95),
    ("Ordner breit, blau", 12, 2.79),
    ("Kugelschreiber, schwarz, 10 Stück", 5, 6.49),
    ("Haftnotizen 76×76 mm, gelb", 8, 3.15),
    ("Toner HL-L2350, schwarz", 2, 48.90),
    ("Briefumschläge DIN lang, 1000 Stück", 1, 27.40),
    ("Textmarker, 4 Farben", 6, 4.20),
    ("Heftklammern 24/6, 5000 Stück", 4, 1.99),
    ("Schreibblock A4 kariert", 10, 1.25),
    ("Versandkosten (Müllerstraße → Lager)", 1, 5.90),
)


def _png(width: int = 120, height: int = 40) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(
        b"\x00" + b"".join(bytes((20 + x, 60 + y, 160)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _money(value: float) -> str:
    return f"{value:,.2f} €".replace(",", "X").replace(".", ",").replace("X", ".")


def invoice_html() -> str:
    rows = "\n".join(
        f"<tr><td>{i}</td><td>{name}</td><td class=n>{qty}</td><td class=n>{_money(price)}</td>"
        f"<td class=n>{_money(qty * price)}</td></tr>"
        for i, (name, qty, price) in enumerate(LINES, 1)
    )
    net = sum(qty * price for _, qty, price in LINES)
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><style>
body {{ font-family: Arial, sans-serif; font-size: 10pt; color: #222; }}
table.items {{ width: 100%; border-collapse: collapse; margin: 12px 0; }}
table.items th, table.items td {{ border-bottom: 1px solid #ccc; padding: 4px 6px; }}
table.items th {{ background: #eef; text-align: left; }}
td.n {{ text-align: right; white-space: nowrap; }}
</style></head><body>
<table width="100%"><tr><td><img src="cid:logo@acme.example" width="120" height="40"
  alt="Acme"></td><td align="right">Papierfabrik Müller KG<br>Müllerstraße 5<br>
  12345 Beispielstadt</td></tr></table>
<h2>Rechnung RE-2025-004711</h2>
<p>Rechnungsdatum: 04.05.2025 · Kundennummer: 10042 · Lieferdatum: 02.05.2025</p>
<table class="items"><tr><th>Pos.</th><th>Artikel</th><th>Menge</th><th>Einzelpreis</th>
<th>Gesamt</th></tr>
{rows}
<tr><td></td><td>Netto</td><td></td><td></td><td class=n>{_money(net)}</td></tr>
<tr><td></td><td>USt. 19 %</td><td></td><td></td><td class=n>{_money(net * 0.19)}</td></tr>
<tr><td></td><td><b>Gesamtbetrag</b></td><td></td><td></td>
<td class=n><b>{_money(net * 1.19)}</b></td></tr></table>
<p>Zahlbar innerhalb von 14 Tagen ohne Abzug auf IBAN DE02 1203 0000 0000 2020 51.</p>
<p>Mit freundlichen Grüßen<br>Ihr Team der Papierfabrik Müller KG</p>
</body></html>"""


def invoice_text() -> str:
    lines = [
        "Papierfabrik Müller KG, Müllerstraße 5, 12345 Beispielstadt",
        "",
        "Rechnung RE-2025-004712 vom 04.05.2025, Kundennummer 10042",
        "",
        f"{'Pos':>3}  {'Artikel':<40} {'Menge':>5} {'Einzel':>11} {'Gesamt':>11}",
    ]
    for i, (name, qty, price) in enumerate(LINES, 1):
        lines.append(f"{i:>3}  {name:<40} {qty:>5} {_money(price):>11} {_money(qty * price):>11}")
    net = sum(qty * price for _, qty, price in LINES)
    lines += [
        "",
        f"{'Gesamtbetrag inkl. 19 % USt.':<62} {_money(net * 1.19):>11}",
        "",
        "Zahlbar innerhalb von 14 Tagen auf IBAN DE02 1203 0000 0000 2020 51.",
        "Mit freundlichen Grüßen, Ihr Team der Papierfabrik Müller KG",
    ]
    return "\n".join(lines) + "\n"


def _headers(msg: EmailMessage, number: str) -> None:
    msg["From"] = "Papierfabrik Müller KG <buchhaltung@papier-mueller.example>"
    msg["To"] = "Accounts Payable <ap@buyer.example>"
    msg["Date"] = "Sun, 04 May 2025 10:00:00 +0200"
    msg["Subject"] = f"Rechnung {number}"


def html_mail() -> bytes:
    msg = EmailMessage()
    _headers(msg, "RE-2025-004711")
    msg.set_content("Ihre Rechnung finden Sie in der HTML-Ansicht.")
    msg.add_alternative(invoice_html(), subtype="html")
    html_part = msg.get_payload()[1]
    html_part.add_related(_png(), "image", "png", cid="<logo@acme.example>")
    return msg.as_bytes()


def text_mail() -> bytes:
    msg = EmailMessage()
    _headers(msg, "RE-2025-004712")
    msg.set_content(invoice_text())
    return msg.as_bytes()


def parse(raw: bytes) -> Body:
    """The baseline: what the pipeline does before rendering (stdlib parsing, policy.default)."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    html_part = msg.get_body(("html",))
    text_part = msg.get_body(("plain",))
    inline: dict[str, tuple[str, bytes]] = {}
    for part in msg.walk():
        cid = part.get("Content-ID")
        if cid and part.get_content_maintype() == "image":
            inline[cid.strip("<> ")] = (part.get_content_type(), part.get_content())
    return Body(
        sender=str(msg["From"]),
        to=str(msg["To"]),
        date=str(msg["Date"]),
        subject=str(msg["Subject"]),
        html=html_part.get_content() if html_part else None,
        text=text_part.get_content() if text_part else None,
        inline=inline,
    )


# -- measuring ----------------------------------------------------------------------------


def _times(fn: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        out.append(time.perf_counter() - began)
    return out


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


@dataclass
class Case:
    name: str
    mail_bytes: int
    pdf_bytes: int = 0
    pages: int = 0
    baseline_median_ms: float = 0.0
    baseline_p95_ms: float = 0.0
    render_median_ms: float = 0.0
    render_p95_ms: float = 0.0
    renders_per_s: float = 0.0
    ratio: float = 0.0  # render median / baseline median


@dataclass
class Report:
    runs: int
    nproc: int
    python: str
    platform: str
    weasyprint: str = ""
    import_ms: float = 0.0  # import weasyprint (done by the first body_to_pdf call)
    first_render_ms: float = 0.0  # the first render after the import
    cases: list[Case] = field(default_factory=list)


def run(runs: int) -> Report:
    from pypdf import PdfReader

    report = Report(
        runs=runs,
        nproc=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0,
        python=platform.python_version(),
        platform=f"{platform.system()} {platform.release()} {platform.machine()}",
    )
    mails = {"html + cid logo": html_mail(), "plain text": text_mail()}
    bodies = {name: parse(raw) for name, raw in mails.items()}

    began = time.perf_counter()
    import weasyprint

    report.import_ms = (time.perf_counter() - began) * 1000
    report.weasyprint = weasyprint.__version__
    began = time.perf_counter()
    body_to_pdf(bodies["html + cid logo"])
    report.first_render_ms = (time.perf_counter() - began) * 1000

    for name, raw in mails.items():
        b = bodies[name]
        pdf = body_to_pdf(b)  # warm-up of this kind of mail
        case = Case(name=name, mail_bytes=len(raw), pdf_bytes=len(pdf))
        case.pages = len(PdfReader(io.BytesIO(pdf)).pages)
        base = _times(lambda raw=raw: parse(raw), runs)
        rend = _times(lambda b=b: body_to_pdf(b), runs)
        case.baseline_median_ms = statistics.median(base) * 1000
        case.baseline_p95_ms = _p95(base) * 1000
        case.render_median_ms = statistics.median(rend) * 1000
        case.render_p95_ms = _p95(rend) * 1000
        case.renders_per_s = 1000 / case.render_median_ms
        case.ratio = case.render_median_ms / case.baseline_median_ms
        report.cases.append(case)
    return report


def print_report(r: Report) -> None:
    lines = [
        "invoice-inbox mail-body rendering benchmark",
        f"machine   : {r.nproc} CPUs, Python {r.python}, {r.platform}, WeasyPrint {r.weasyprint}",
        f"once      : import weasyprint {r.import_ms:.0f} ms, then first render "
        f"{r.first_render_ms:.0f} ms (once per process)",
        f"runs      : {r.runs} per figure; baseline = email.message_from_bytes(policy.default)"
        " + reading body and inline parts",
    ]
    for c in r.cases:
        lines += [
            f"{c.name:<16}: mail {c.mail_bytes / 1024:.1f} KB -> PDF {c.pdf_bytes / 1024:.1f} KB, "
            f"{c.pages} page(s)",
            f"  baseline : median {c.baseline_median_ms:7.2f} ms, p95 {c.baseline_p95_ms:7.2f} ms",
            f"  render   : median {c.render_median_ms:7.2f} ms, p95 {c.render_p95_ms:7.2f} ms "
            f"({c.renders_per_s:.0f} mails/s on one core, {c.ratio:.0f}x the baseline)",
        ]
    print("\n".join(lines), flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--runs", type=int, default=30, help="renders per mail (30)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args(argv)
    if args.runs < 2:
        p.error("--runs must be at least 2")
    report = run(args.runs)
    if args.json:
        print(json.dumps(asdict(report), indent=2))
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
