"""What the fetch process's database work costs per mail: one batch of N ledger rows (one PDF
document each, from a few suppliers, as ``benchmarks/ingest_corpus.py`` writes them) committed
the way ``runtime.sync`` commits a batch, and the attempts ``runtime.decider`` records around the
deciding of each group of mails, with the single-mail store functions and the flush check as
they were (``old``: a copy of the old ``check_lengths`` and ``begin_attempts`` here) and the bulk
ones (``new``), in the same process and run.

Cases, taking turns round after round on the same database (SQLite in WAL with
``synchronous=FULL`` in a temporary directory; with ``--postgresql`` a private cluster made
durable as ``scale_common.py`` makes it (fsync, synchronous commit); or ``--url``):

1. ``commit``: the batch's rows and documents, queue marking, supplier learning, one
   ``document.created`` event per document, the folder cursor, in one transaction;
2. ``attempts``: for groups of 8 mails, begin (commit) then end (commit) their attempts; ``new``
   ends a group's and begins the next one's in one transaction (``ledger.switch_attempts``).

A first round warms up and is not counted. Prints the median milliseconds per mail of each
case, old and new: wall time, and the CPU time of this process (SQLite's work included, not
PostgreSQL's server). Run it from the repository root::

    .venv/bin/python benchmarks/store_batch.py [--mails 100] [--rounds 8] [--postgresql | --url URL]
    .venv/bin/python benchmarks/store_batch.py --profile commit-old  # cProfile, top 25
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

from sqlalchemy import String, inspect, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from invoice_inbox.store import bounded, events, ledger  # noqa: E402
from invoice_inbox.store import supplier_learning as learning  # noqa: E402
from invoice_inbox.store.db import Database  # noqa: E402
from invoice_inbox.store.documents import QueueOriginals  # noqa: E402
from invoice_inbox.store.errors import TooLong  # noqa: E402
from invoice_inbox.store.models import (  # noqa: E402
    Company,
    DecideAttempt,
    Document,
    Message,
    MessageState,
    Run,
    Source,
)

SUPPLIERS = (  # as benchmarks/ingest_corpus.py
    ("Acme Office Supplies", "billing@acme-office.example"),
    ("Nordwind Logistik GmbH", "rechnung@nordwind-logistik.example"),
    ("Blue River Hosting", "invoices@blueriver-hosting.example"),
    ("Café Lumière SARL", "factures@cafe-lumiere.example"),
    ("Stadtwerke Beispielstadt", "kundenservice@stadtwerke-beispiel.example"),
    ("Papierfabrik Müller KG", "buchhaltung@papier-mueller.example"),
)
GROUP = 8  # runtime.decider.GROUP
_uid = itertools.count(1)


# -- the single-mail code as it was (commit c146a7c), for the old cases -------------------


def old_check_lengths(objects: Iterable[object]) -> None:
    for obj in objects:
        state = inspect(obj)
        for attr in state.mapper.column_attrs:
            value = state.dict.get(attr.key)
            if not isinstance(value, str):
                continue
            for column in attr.columns:
                length = getattr(column.type, "length", None)
                if isinstance(column.type, String) and length and len(value) > length:
                    raise TooLong(f"{column.name} is too long")


def old_begin_attempts(s: Session, source_id: int, raw_sha256s: Iterable[str]) -> None:
    wanted = set(raw_sha256s)
    rows = {
        row.raw_sha256: row
        for row in s.scalars(
            select(DecideAttempt).where(
                DecideAttempt.source_id == source_id, DecideAttempt.raw_sha256.in_(wanted)
            )
        )
    }
    for sha in wanted:
        row = rows.get(sha)
        if row is None:
            s.add(DecideAttempt(source_id=source_id, raw_sha256=sha, attempts=1))
        else:
            row.attempts += 1


@contextmanager
def old_code() -> Iterator[None]:
    """``store.bounded.check_lengths`` (the flush listener's) as it was, for the block."""
    new = bounded.check_lengths
    bounded.check_lengths = old_check_lengths
    try:
        yield
    finally:
        bounded.check_lengths = new


@dataclass(frozen=True)
class Ids:
    company: int
    source: int
    run: int


def setup(db: Database) -> Ids:
    with db.session() as s:
        company = Company(name="ACME")
        s.add(company)
        s.flush()
        source = Source(name="ap", company_id=company.id, host="h", port=993, username="u")
        s.add(source)
        s.flush()
        run = Run(source_id=source.id, trigger="manual")
        s.add(run)
        s.flush()
        return Ids(company.id, source.id, run.id)


def rows(ids: Ids, n: int) -> list[tuple[Message, str | None]]:
    """*n* new ledger rows like ``runtime.sync.FolderSync._row`` makes, with their senders'
    display names."""
    made = []
    for _ in range(n):
        uid = next(_uid)
        name, sender = SUPPLIERS[uid % len(SUPPLIERS)]
        row = Message(
            source_id=ids.source,
            run_id=ids.run,
            folder="INBOX",
            uidvalidity=1,
            uid=uid,
            remote_id=None,
            raw_sha256=f"{uid:064x}",
            raw_size=51_200,
            message_id=f"<INV-{uid}@example>",
            sender=sender,
            subject=f"Invoice INV-2025-{uid:06d}",
            sent_at=None,
            decision="import",
            reason="attachment INV.pdf is a PDF",
            hits=["pdf"],
            sender_auth="none",
            sender_auth_reason="no DKIM signature, no SPF record",
            auth_results={"dkim": [], "spf": "none", "dmarc": "none"},
            lookalike_of=None,
            state=MessageState.DECIDED,
            filed_to="imported",
            duplicate_of_id=None,
        )
        row.documents = [
            Document(
                company_id=ids.company,
                sha256=f"{uid:032x}{0:032x}",
                size=48_000,
                media_type="application/pdf",
                filename=f"INV-2025-{uid:06d}.pdf",
                kind="pdf",
                einvoice=None,
                einvoice_key=None,
                rule=None,
                origin_sender=None,
                origin_date=None,
                iban=None,
            )
        ]
        made.append((row, name))
    return made


def commit(db: Database, ids: Ids, n: int, *, bulk: bool) -> None:
    """One batch committed as ``runtime.sync.FolderSync._commit`` does."""
    batch = rows(ids, n)
    with old_code() if not bulk else nullcontext(), db.session() as s:
        made = [row for row, _ in batch]
        originals = QueueOriginals.for_rows(s, ids.company, made)
        s.add_all(made)
        ledger.end_attempts(s, ids.source, [row.raw_sha256 for row in made])
        s.flush()
        for row in made:
            originals.mark(row)
        if bulk:
            announced = events.DocumentsCreated(company="ACME", source="ap")
            learning.learn_many(s, batch, company_id=ids.company, then=announced.add)
            announced.write(s)
        else:
            for row, name in batch:
                learning.learn(s, row, company_id=ids.company, sender_name=name)
                events.documents_created(s, row, company="ACME", source="ap")
        st = ledger.folder_state(s, ids.source, "INBOX")
        st.uidvalidity = 1
        st.last_uid = max(st.last_uid, *(row.uid or 0 for row in made))
        st.uidnext = st.last_uid + 1
        run = s.get(Run, ids.run)
        assert run is not None
        run.imported = (run.imported or 0) + len(made)


def attempts(db: Database, ids: Ids, n: int, *, bulk: bool) -> None:
    """The attempts ``runtime.decider.Decider.decide_recorded`` records around *n* fresh mails
    (the deciding itself left out)."""
    shas = [f"{next(_uid):064x}" for _ in range(n)]
    groups = [shas[i : i + GROUP] for i in range(0, n, GROUP)]
    if not bulk:
        for group in groups:
            with old_code(), db.session() as s:
                old_begin_attempts(s, ids.source, group)
            with old_code(), db.session() as s:
                ledger.end_attempts(s, ids.source, group)
        return
    with db.session() as s:
        ledger.begin_attempts(s, ids.source, groups[0])
    for ended, begun in itertools.pairwise([*groups, []]):
        with db.session() as s:
            ledger.switch_attempts(s, ids.source, ended, begun)


CASES: dict[str, Callable[[Database, Ids, int], None]] = {
    "commit-old": lambda db, ids, n: commit(db, ids, n, bulk=False),
    "commit-new": lambda db, ids, n: commit(db, ids, n, bulk=True),
    "attempts-old": lambda db, ids, n: attempts(db, ids, n, bulk=False),
    "attempts-new": lambda db, ids, n: attempts(db, ids, n, bulk=True),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mails", type=int, default=100, help="mails per batch (100)")
    p.add_argument("--rounds", type=int, default=8, help="rounds of the cases (8)")
    p.add_argument("--url", help="a database URL (default: SQLite in a temporary directory)")
    p.add_argument(
        "--postgresql", action="store_true", help="on a private PostgreSQL cluster (initdb)"
    )
    p.add_argument("--profile", choices=sorted(CASES), help="profile this case instead")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(dir=ROOT / "benchmarks") as tmp, ExitStack() as stack:
        url = args.url
        if args.postgresql:
            from scale_common import Postgres

            Path(tmp).chmod(0o755)  # initdb runs as the postgres user
            pg = Postgres(Path(tmp) / "pg", max_connections=20)
            pg.start()
            stack.callback(pg.stop)
            url = pg.create("store_batch")
        db = Database(url) if url else Database.in_data_dir(Path(tmp))
        ids = setup(db)
        warm = [args.profile] if args.profile else list(CASES)
        for name in warm:  # the suppliers exist, the code is loaded
            CASES[name](db, ids, args.mails)
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(args.rounds):
                CASES[args.profile](db, ids, args.mails)
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
            db.close()
            return
        times: dict[str, list[float]] = {c: [] for c in CASES}
        cpu: dict[str, list[float]] = {c: [] for c in CASES}
        for _ in range(args.rounds):
            for name, case in CASES.items():
                began, began_cpu = time.perf_counter(), time.process_time()
                case(db, ids, args.mails)
                times[name].append((time.perf_counter() - began) * 1000 / args.mails)
                cpu[name].append((time.process_time() - began_cpu) * 1000 / args.mails)
        db.close()
    print(f"{args.mails} mails per batch, {args.rounds} rounds, {db.engine.dialect.name}")
    for name in CASES:
        wall, used = statistics.median(times[name]), statistics.median(cpu[name])
        print(f"{name:>13}: {wall:6.3f} ms per mail, {used:6.3f} ms CPU of this process")


if __name__ == "__main__":
    main()
