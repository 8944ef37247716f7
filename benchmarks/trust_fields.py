"""What the trust fields cost the documents API: walk the whole queue through
``GET /api/v1/documents`` (pages of 200, in-process) over a database whose documents all carry
a sender authentication result, a supplier (20 of them) and an IBAN, one in 97 a bank-detail
alert; alternately with the real trust fields and with ``store.trust_flags.trust`` stubbed to
constants (the baseline: everything else the same), in one process on one database.

    .venv/bin/python benchmarks/trust_fields.py [--documents 20000] [--walks 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import web_listing  # the queue benchmark's bulk fill and users
from fastapi.testclient import TestClient
from sqlalchemy import update

from invoice_inbox.runtime.context import App
from invoice_inbox.store import trust_flags
from invoice_inbox.store.models import Document, Message
from invoice_inbox.store.models_trust import Supplier
from invoice_inbox.web.api import schemas_documents
from invoice_inbox.web.app import create_app

SUPPLIERS = 20


def _mark(app: App) -> None:
    """Every mail authenticated, every document a supplier's with an IBAN, some alerts."""
    with app.db.session() as s:
        suppliers = [Supplier(company_id=1, name=f"Supplier {i}") for i in range(SUPPLIERS)]
        s.add_all(suppliers)
        s.flush()
        s.execute(
            update(Message).values(
                sender_auth="pass",
                sender_auth_reason="DKIM signature by supplier.example verified; DMARC pass",
            )
        )
        for k, supplier in enumerate(suppliers):
            s.execute(
                update(Document)
                .where(Document.id % SUPPLIERS == k)
                .values(supplier_id=supplier.id, iban="DE89370400440532013000")
            )
        s.execute(
            update(Document)
            .where(Document.id % 97 == 0)
            .values(bank_alert="changed", bank_alert_known=["DE02120300000000202051"])
        )


def _stub(doc: Any, msg: Any, *, mode: str | None, names: Any = None) -> dict[str, Any]:
    return {
        "sender_auth": None,
        "lookalike_of": None,
        "iban": None,
        "bank_alert": None,
        "supplier": None,
        "flags": [],
    }


def _walk(client: TestClient, expected: int) -> float:
    t0, cursor, seen = time.perf_counter(), None, 0
    while True:
        params: dict[str, Any] = {"limit": 200, "status": "all"}
        if cursor:
            params["cursor"] = cursor
        body = client.get("/api/v1/documents", params=params).json()
        seen += len(body["items"])
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == expected, seen
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--documents", type=int, default=20_000)
    p.add_argument("--walks", type=int, default=5)
    args = p.parse_args(argv)
    app = App.open(Path(tempfile.mkdtemp(prefix="trust-fields-")) / "data")
    try:
        web_listing._fill(app, args.documents)
        _mark(app)
        admin, _ = web_listing._people(app)
        client = TestClient(create_app(app), headers={"Authorization": f"Bearer {admin}"})
        real = trust_flags.trust
        _walk(client, args.documents)  # warm-up
        times: dict[str, list[float]] = {"trust fields": [], "stubbed (baseline)": []}
        for _ in range(args.walks):
            for label, fn in (("trust fields", real), ("stubbed (baseline)", _stub)):
                schemas_documents.trust_flags.trust = fn  # type: ignore[assignment]
                times[label].append(_walk(client, args.documents))
        schemas_documents.trust_flags.trust = real
    finally:
        app.close()
    print(f"GET /api/v1/documents, whole queue of {args.documents:,} in pages of 200, in-process")
    for label, runs in times.items():
        median = statistics.median(runs)
        print(
            f"  {label:19} median {median:6.3f} s  min {min(runs):6.3f} s"
            f"  ({args.documents / median:,.0f} documents/s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
