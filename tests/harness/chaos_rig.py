"""One fault-injection run, from empty mailboxes to the final check (``run``).

Workers (``harness.chaos.Fleet``) share a PostgreSQL database, a blob store and a data
directory (the secret key); they reach Dovecot only through the cutting proxy. While the killer
SIGKILLs a random worker every 0.5-2 s, PostgreSQL is restarted once (after a third of the
kills) and Dovecot once (after two thirds). Then the faults stop, the rig waits until the check
passes (the time to quiescence, counted from the last kill), stops the workers cleanly and
checks once more.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from harness.chaos import CuttingProxy, Fleet, HookReceiver, Killer
from harness.chaos_check import Report, check, wait_quiescent
from harness.chaos_mail import Corpus, configure, make_corpus
from harness.dovecot import DovecotServer, write_maildir
from harness.postgres import PostgresServer
from invoice_inbox.store.blobs import open_blob_store


@dataclass
class Plan:
    workers: int = 4
    concurrency: int = 2
    mailboxes: int = 20
    invoices: int = 50
    extra: int = 10
    dup_every: int = 10  # every n-th invoice mail repeats an earlier PDF of its company
    waves: int = 4  # the mail arrives in waves: the first before the workers start
    instant: bool = True  # sources watched with IDLE (through the proxy too)
    kills: int = 100
    kill_every: tuple[float, float] = (0.5, 2.0)
    cut_every: tuple[float, float] = (0.5, 3.0)
    restart_postgres: bool = True
    restart_dovecot: bool = True
    # False: the baseline, the same mail at the same times with no kill, restart or cut
    faults: bool = True
    settle_timeout: float = 600.0
    seed: int = 15
    # INVOICE_INBOX_BLOB_URL and AWS_* (``harness.s3.S3Server.env``); none: the data dir's folder
    blob_env: dict[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    report: Report  # after the workers stopped cleanly
    quiescence: float | None  # seconds from the last fault until the check first passed
    chaos_seconds: float  # from the workers' start to the last kill
    kills: int
    cuts: int
    proxy_connections: int
    worker_exits: list[int]  # workers that ended on their own (e.g. while PostgreSQL was down)
    events: list[str]  # what happened when, for the report

    @property
    def ok(self) -> bool:
        return self.report.ok and self.quiescence is not None


def _load(server: DovecotServer, corpus: Corpus, scratch: Path, wave: int, waves: int) -> int:
    """Put wave *wave* (of *waves*) of every mailbox's mail into its INBOX; returns how many."""
    loaded = 0
    for box in corpus.boxes:
        n = len(box.mails)
        mails = box.mails[n * wave // waves : n * (wave + 1) // waves]
        if not mails:
            continue
        folder = scratch / f"load-{box.user}-{wave}"
        write_maildir(folder, mails)
        for d in (folder, folder / "cur", folder / "new", folder / "tmp"):
            d.chmod(0o755)  # doveadm import reads it as the mail user
        server.import_maildir(box.user, folder)
        shutil.rmtree(folder, ignore_errors=True)
        loaded += len(mails)
    return loaded


def run(
    plan: Plan,
    *,
    pg: PostgresServer,
    dovecot: DovecotServer,
    work_dir: Path,
    say: Callable[[str], None] = lambda text: None,
) -> Outcome:
    """One chaos run; *dovecot* must be the rig's alone (it is restarted), *pg* too."""
    began = time.monotonic()
    events: list[str] = []

    def note(text: str) -> None:
        line = f"{time.monotonic() - began:7.1f} s  {text}"
        events.append(line)
        say(line)

    work_dir.mkdir(parents=True, exist_ok=True)
    users = [dovecot.new_user() for _ in range(plan.mailboxes)]
    corpus = make_corpus(users, invoices=plan.invoices, extra=plan.extra, dup_every=plan.dup_every)
    note(f"{corpus.mails} mails for {plan.mailboxes} mailboxes, {corpus.invoices} invoices")
    loaded = _load(dovecot, corpus, work_dir, 0, plan.waves)
    note(f"wave 1 of {plan.waves}: {loaded} mails in the INBOXes")
    dovecot_lock = threading.Lock()  # no mail is loaded while Dovecot restarts

    db_name = f"chaos_{os.getpid()}_{int(time.time())}"
    db_url = pg.create_database(db_name)
    data_dir = work_dir / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    env |= {"INVOICE_INBOX_DATABASE_URL": db_url, "INVOICE_INBOX_HOME": str(data_dir)}
    env |= plan.blob_env
    note(f"blobs in {env.get('INVOICE_INBOX_BLOB_URL') or data_dir / 'blobs'}")

    with (
        _environment(env),  # this process configures and checks the same stores
        HookReceiver() as hooks,
        CuttingProxy(
            lambda: (dovecot.host, dovecot.imap_port), cut_every=plan.cut_every, seed=plan.seed
        ) as proxy,
    ):
        configure(data_dir, corpus, proxy.port, hooks.url, instant=plan.instant)
        if not plan.faults:
            proxy.cutting.clear()
        fleet = Fleet(
            plan.workers, env=env, log_dir=work_dir / "logs", concurrency=plan.concurrency
        )
        restarts: list[threading.Thread] = []
        wave_at = {max(plan.kills * w // plan.waves, 1): w for w in range(1, plan.waves)}

        def on_kill(n: int) -> None:
            if n in wave_at:
                with dovecot_lock:
                    added = _load(dovecot, corpus, work_dir, wave_at[n], plan.waves)
                note(f"wave {wave_at[n] + 1} of {plan.waves}: {added} more mails")
            if not plan.faults:
                return
            if plan.restart_postgres and n == max(plan.kills // 3, 1):
                restarts.append(_in_thread(lambda: _restart_pg(pg, note)))
            if plan.restart_dovecot and n == max(2 * plan.kills // 3, 1):
                restarts.append(_in_thread(lambda: _restart_dovecot(dovecot, dovecot_lock, note)))

        def probe() -> Report:
            fleet.revive()
            return check(db_url, corpus, dovecot, list(hooks.received))

        killer = Killer(
            fleet,
            kills=plan.kills,
            every=plan.kill_every,
            seed=plan.seed,
            on_kill=on_kill,
            dry=not plan.faults,
        )
        fleet.start()
        try:
            chaos_began = time.monotonic()
            note(f"{plan.workers} workers started")
            killer.start()
            killer.join()
            for t in restarts:
                t.join()
            proxy.cutting.clear()
            chaos_seconds = time.monotonic() - chaos_began
            if plan.faults:
                note(f"{killer.done} kills, {proxy.cuts} cuts: the faults stop")
            else:
                note(f"baseline: {killer.done} times without a kill are over")
            with contextlib.suppress(Exception):
                note(f"left at the last fault: {_left(probe())}")
            settled, quiescence = wait_quiescent(probe, timeout=plan.settle_timeout)
            note(
                f"quiescent after {quiescence:.1f} s"
                if quiescence is not None
                else "not quiescent: " + "; ".join(settled.wrong[:3])
            )
            codes = fleet.stop()
            note(f"workers stopped (exit codes {codes})")
        finally:  # also when interrupted: no worker outlives the run
            killer.halt.set()
            fleet.stop(timeout=10)
        blobs = open_blob_store(data_dir)
        report = check(db_url, corpus, dovecot, list(hooks.received), blobs=blobs)
    return Outcome(
        report=report,
        quiescence=quiescence,
        chaos_seconds=chaos_seconds,
        kills=killer.done if plan.faults else 0,
        cuts=proxy.cuts,
        proxy_connections=proxy.connections,
        worker_exits=fleet.exits,
        events=events,
    )


def _left(r: Report) -> str:
    return (
        f"{r.inbox_left} mails in an INBOX, {r.undisposed} ledger rows undisposed, "
        f"{r.runs_running} runs running, {r.events_undelivered} events undelivered"
    )


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _in_thread(target: Callable[[], None]) -> threading.Thread:
    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t


def _restart_pg(pg: PostgresServer, note: Callable[[str], None]) -> None:
    note("PostgreSQL: restarting (pg_ctl stop -m fast, start)")
    pg.restart()
    note("PostgreSQL: up again")


def _restart_dovecot(
    dovecot: DovecotServer, lock: threading.Lock, note: Callable[[str], None]
) -> None:
    with lock:
        note("Dovecot: restarting")
        dovecot.stop()
        dovecot.start(same_ports=True)
        note("Dovecot: up again")
