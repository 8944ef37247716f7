"""What supplier trust adds per mail, each next to its baseline from the same run:

- decide time of a mail with a plain PDF invoice (one generated page; five typeset pages from
  WeasyPrint), with the IBAN read from the PDF's text layer, and without (the baseline);
- ``lookalike_of`` for one From domain against 10, 100 and 1,000 known domains;
- committing ledger rows with one document each on SQLite (20 mails of five suppliers per
  transaction, as a fetch's batch), with ``suppliers.learn`` (supplier found, IBAN compared) and
  without (the baseline), per mail.

    .venv/bin/python benchmarks/supplier_trust.py [--rounds 200] [--json]

Pure CPU work on this machine; nothing leaves it.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import string
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from weasyprint import HTML

from builders import Attachment, make_mail, make_pdf
from invoice_inbox.pipeline import decide as decide_module
from invoice_inbox.pipeline.trust import iban
from invoice_inbox.pipeline.trust.lookalike import lookalike_of
from invoice_inbox.store import suppliers
from invoice_inbox.store.db import Database
from invoice_inbox.store.models import Company, Document, Message, Run, Source

IBAN = "DE89370400440532013000"
BATCH = 20  # mails per commit transaction


def per_call(fn: Callable[[], object], rounds: int) -> float:
    """Median milliseconds of *fn* over *rounds* calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def alternate(a: Callable[[], object], b: Callable[[], object], rounds: int) -> tuple[float, float]:
    """Median milliseconds of *a* and of *b*, called in turns (the machine's load hits both)."""
    a(), b()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        for fn, out in ((a, times[0]), (b, times[1])):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return statistics.median(times[0]) * 1000, statistics.median(times[1]) * 1000


def typeset_invoice() -> bytes:
    rows = "".join(f"<tr><td>Item {n}</td><td>{n * 7}.00 EUR</td></tr>" for n in range(60))
    html = f"""<html><body><h1>Invoice R-2026-77</h1><table>{rows}{rows}{rows}</table>
    <footer style="position: fixed; bottom: 0">IBAN DE89 3704 0044 0532 0130 00</footer>
    </body></html>"""
    return HTML(string=html).write_pdf()


def decide_costs(rounds: int) -> dict[str, dict[str, float]]:
    mails = {
        "one-page PDF": make_mail(
            attachments=[Attachment("r.pdf", make_pdf(f"Rechnung 1\nIBAN {IBAN}"))]
        ),
        "five typeset pages (dense tables)": make_mail(
            attachments=[Attachment("r.pdf", typeset_invoice())]
        ),
    }
    out: dict[str, dict[str, float]] = {}
    real = iban.document_iban
    for name, raw in mails.items():

        def without(raw: bytes = raw) -> object:
            iban.document_iban = lambda data, invoice, *, pdf, limits=None: iban.einvoice_iban(
                invoice
            )
            try:
                return decide_module.decide(raw)
            finally:
                iban.document_iban = real

        baseline, with_iban = alternate(without, lambda raw=raw: decide_module.decide(raw), rounds)
        found = [d.iban for d in decide_module.decide(raw).documents]
        assert found == [IBAN], found
        out[name] = {"decide_ms": baseline, "decide_with_iban_ms": with_iban}
    return out


def lookalike_costs(rounds: int) -> dict[str, float]:
    rng = random.Random(7)
    words = [
        "".join(rng.choices(string.ascii_lowercase, k=rng.randint(5, 14))) for _ in range(1000)
    ]
    tlds = ["de", "com", "co.uk", "fr", "nl", "test"]
    known = [f"{w}.{rng.choice(tlds)}" for w in words]
    out = {}
    for n in (10, 100, 1000):
        subset = known[:n]
        out[f"{n} known"] = per_call(
            lambda s=subset: lookalike_of("supp1ier-billing.com", s), rounds
        )
    return out


def commit_costs(rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
        with db.session() as s:
            company = Company(name="ACME")
            s.add(company)
            s.flush()
            source = Source(name="ap", company_id=company.id, host="h", port=1, username="u")
            s.add(source)
            s.flush()
            run = Run(source_id=source.id, trigger="manual")
            s.add(run)
            s.flush()
            ids = (company.id, source.id, run.id)
        counter = iter(range(10**9))

        def commit(learn: bool) -> None:
            """One transaction with BATCH mails from five suppliers, as a fetch commits them."""
            with db.session() as s:
                rows = []
                for _ in range(BATCH):
                    n = next(counter)
                    row = Message(
                        source_id=ids[1], run_id=ids[2], folder="INBOX", uidvalidity=1, uid=n,
                        raw_sha256=f"{n:064x}", raw_size=1, sender=f"ar@supplier-{n % 5}.test",
                        subject="Invoice", decision="import", reason="r", hits=[],
                        sender_auth="pass",
                    )  # fmt: skip
                    row.documents = [
                        Document(
                            company_id=ids[0], sha256=f"{n:064x}", size=1, kind="pdf",
                            media_type="application/pdf", filename="r.pdf", iban=IBAN,
                        )
                    ]  # fmt: skip
                    rows.append(row)
                s.add_all(rows)
                s.flush()
                if learn:
                    for row in rows:
                        suppliers.learn(s, row, company_id=ids[0])

        base, learned = alternate(lambda: commit(False), lambda: commit(True), rounds)
        db.close()
        return {"commit_ms": base / BATCH, "commit_with_learn_ms": learned / BATCH}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = {
        "decide": decide_costs(max(args.rounds // 4, 10)),
        "lookalike_ms": lookalike_costs(args.rounds),
        "commit": commit_costs(args.rounds),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for name, d in report["decide"].items():
        extra = d["decide_with_iban_ms"] - d["decide_ms"]
        print(
            f"decide, {name}: {d['decide_ms']:.2f} ms without the IBAN, "
            f"{d['decide_with_iban_ms']:.2f} ms with it (+{extra:.2f} ms)"
        )
    for name, ms in report["lookalike_ms"].items():
        print(f"lookalike_of, {name}: {ms:.3f} ms")
    c = report["commit"]
    print(
        f"commit per mail with one document (SQLite, {BATCH} a transaction): "
        f"{c['commit_ms']:.2f} ms, "
        f"with suppliers.learn {c['commit_with_learn_ms']:.2f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
