"""What the fetch process's database work costs per mail: one batch of N ledger rows (one PDF
document each, from a few suppliers, as ``benchmarks/ingest_corpus.py`` writes them) committed
the way ``runtime.sync`` commits a batch, and the attempts ``runtime.decider`` records around the
deciding of each group of mails; the code as it was (``old``) and as it is (``new``), in the same
process and run.

Cases, taking turns round after round on the same database (SQLite in WAL with
``synchronous=FULL`` in a temporary directory; with ``--postgresql`` a private cluster made
durable as ``scale_common.py`` makes it (fsync, synchronous commit); or ``--url``):

1. ``commit``: the batch's rows and documents, queue marking, supplier learning, one
   ``document.created`` event per document, the folder cursor, in one transaction: ``old``
   with ORM rows added to the session (a copy of the old ``message_row`` and ``_commit``
   here), ``new`` as ``runtime.sync`` commits now: ``runtime.batch_rows.write_batch`` (plain
   rows written at the driver's level, one statement per table), ``advance_folder`` and
   ``store_run`` (one UPDATE each);
2. ``attempts``: for groups of 8 mails, begin (commit) then end (commit) their attempts; ``old``
   with a copy of the old ``begin_attempts`` and ``check_lengths``; ``new`` ends a group's and
   begins the next one's in one transaction (``ledger.switch_attempts``).

A first round warms up and is not counted. Prints the median milliseconds per mail of each
case, old and new: wall time, and the CPU time of this process (SQLite's work included, not
PostgreSQL's server). Run it from the repository root::

    .venv/bin/python benchmarks/store_batch.py [--mails 100] [--rounds 8] [--postgresql | --url URL]
    .venv/bin/python benchmarks/store_batch.py --profile commit-new  # cProfile, top 25
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
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

from sqlalchemy import String, inspect, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from invoice_inbox.pipeline import mime  # noqa: E402
from invoice_inbox.pipeline.extract import Document as Extracted  # noqa: E402
from invoice_inbox.pipeline.trust.result import AuthStatus, SenderAuth  # noqa: E402
from invoice_inbox.reasons import to_json  # noqa: E402
from invoice_inbox.runtime.batch_decide import SAME_BATCH, BatchItem  # noqa: E402
from invoice_inbox.runtime.batch_rows import (  # noqa: E402
    advance_folder,
    document_rows,
    new_row,
    store_run,
    write_batch,
)
from invoice_inbox.runtime.run_summary import RunSummary  # noqa: E402
from invoice_inbox.runtime.source_plan import SourcePlan  # noqa: E402
from invoice_inbox.store import bounded, events, ledger, suppliers  # noqa: E402
from invoice_inbox.store.db import Database  # noqa: E402
from invoice_inbox.store.documents import QueueOriginals  # noqa: E402
from invoice_inbox.store.errors import TooLong  # noqa: E402
from invoice_inbox.store.models import (  # noqa: E402
    Company,
    DecideAttempt,
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


# -- the code as it was, for the old cases ------------------------------------------------


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
    plan: SourcePlan


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
        return Ids(company.id, source.id, run.id, SourcePlan.of(source))


def items(n: int) -> list[BatchItem]:
    """*n* decided mails of a batch, as ``runtime.batch_decide`` hands them to the commit."""
    made = []
    for _ in range(n):
        uid = next(_uid)
        name, sender = SUPPLIERS[uid % len(SUPPLIERS)]
        headers = mime.Headers(
            sender=sender,
            sender_name=name,
            to="ap@acme.example",
            subject=f"Invoice INV-2025-{uid:06d}",
            message_id=f"<INV-{uid}@example>",
            date=None,
        )
        pdf = Extracted(
            f"INV-2025-{uid:06d}.pdf",
            "application/pdf",
            b"",
            stored_size=48_000,
            iban=None,
        )
        pdf.__dict__["sha256"] = f"{uid:032x}{0:032x}"  # its cached_property: no bytes to hash
        made.append(
            BatchItem(
                uid,
                b"x" * 64,
                f"{uid:064x}",
                headers,
                (pdf,),
                "import",
                "attachment INV.pdf is a PDF",
                "imported",
                hits=("pdf",),
                sender_auth=SenderAuth(AuthStatus.NONE, "no DKIM signature, no SPF record"),
            )
        )
    return made


def old_row(plan: SourcePlan, run_id: int, it: BatchItem) -> Message:
    """``runtime.batch_rows.message_row`` as it was: an ORM row with its documents."""
    h, auth = it.headers, it.sender_auth
    row = Message(
        source_id=plan.id,
        run_id=run_id,
        folder="INBOX",
        uidvalidity=1,
        uid=it.uid if isinstance(it.uid, int) else None,
        remote_id=it.uid if isinstance(it.uid, str) else None,
        raw_sha256=it.sha256,
        raw_size=len(it.raw),
        message_id=h.message_id if h else None,
        sender=h.sender if h else None,
        subject=(h.subject if h else "")[:1000],
        sent_at=h.date if h else None,
        decision=it.verdict,
        reason=it.reason,
        reason_parts=to_json(it.reason_parts) if it.reason_parts else None,
        hits=list(it.hits),
        sender_auth=str(auth.status) if auth else None,
        sender_auth_reason=auth.reason if auth else None,
        auth_results=auth.to_json() if auth else None,
        lookalike_of=it.lookalike_of,
        state=MessageState.DECIDED,
        filed_to=it.target,
        duplicate_of_id=None if it.duplicate_of == SAME_BATCH else it.duplicate_of,
    )
    row.documents = document_rows(it.documents, plan.company_id)
    return row


def commit(db: Database, ids: Ids, n: int, *, core: bool) -> None:
    """One batch committed as ``runtime.sync.FolderSync._commit`` does (*core*) or did."""
    batch, plan = items(n), ids.plan
    counted = RunSummary(run_id=ids.run, source=plan.name)
    if core:
        new = [new_row(plan, ids.run, "INBOX", 1, it) for it in batch]
    else:
        old = [old_row(plan, ids.run, it) for it in batch]
    with db.session() as s:
        if core:
            write_batch(s, plan, batch, new, count=counted.count)
        else:
            originals = QueueOriginals.for_rows(s, plan.company_id, old)
            s.add_all(old)
            ledger.end_attempts(s, plan.id, [it.sha256 for it in batch])
            s.flush()
            pairs = list(zip(batch, old, strict=True))
            for it, row in pairs:
                it.row_id = row.id
            for it, row in pairs:
                counted.count(it.verdict, originals.mark(row))
            created = events.DocumentsCreated(company=plan.company, source=plan.name)
            suppliers.learn_many(
                s,
                [(row, it.headers.sender_name if it.headers else None) for it, row in pairs],
                company_id=plan.company_id,
                then=created.add,
            )
            created.write(s)
        last_uid = max(int(it.uid) for it in batch)
        if core:
            advance_folder(s, ids.source, "INBOX", 1, last_uid, last_uid + 1)
            store_run(s, ids.run, counted)
            return
        st = ledger.folder_state(s, ids.source, "INBOX")
        st.uidvalidity = 1
        st.last_uid = max(st.last_uid, last_uid)
        st.uidnext = st.last_uid + 1
        run = s.get(Run, ids.run)
        assert run is not None
        counted.store_into(run)


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
    "commit-old": lambda db, ids, n: commit(db, ids, n, core=False),
    "commit-new": lambda db, ids, n: commit(db, ids, n, core=True),
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
