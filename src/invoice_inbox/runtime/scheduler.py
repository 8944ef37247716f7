"""The scheduler: run each active source when its schedule says, or at once when woken.

A source's ``next_run_at`` is when it is due: its schedule's next time after the start of its
last run (``runtime.schedules``), or sooner after a transient failure (exponential backoff
with jitter, never later than the schedule). Sources that need someone to sign in again are
not run; a manual-only source runs only when asked (``fetch``) or woken.

``tick`` runs what is due in the calling thread (the tests drive it with a fake clock);
``serve`` runs due and woken sources on a pool of worker threads until told to stop. Both
*claim* what they run (``runtime.claims``): at most as many due sources as they have free
slots, oldest due first, each with its lease taken in the same transaction and kept alive by a
heartbeat while it runs; so any number of schedulers in any number of processes share the
sources and each due time is run once. A wake-up is written to the database
(``wake_requested``) and reaches whichever worker claims the source next; one for a source
that is running is kept and runs it again once the current run ends, so mail that arrived
mid-run is not left waiting.

A POP3 server that allows a login only every so many seconds (``[LOGIN-DELAY]``: Cyrus's
``popminpoll``) and refuses one is not a failure: the source runs again once the delay it
advertises has passed, and from then on its scheduled runs start at least that long after the
previous one (a run woken sooner is refused by the server and put off the same way).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from invoice_inbox.errors import ConnectorError, LoginDelayed
from invoice_inbox.runtime import claims, lease, runner, schedules
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.logs import log_context
from invoice_inbox.runtime.run_summary import RunPartial, RunSummary
from invoice_inbox.runtime.sync_steps import RunCancelled
from invoice_inbox.store import sources
from invoice_inbox.store.blobs import BlobStoreError
from invoice_inbox.store.models import AuthState, Run, Source, utcnow

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# seconds added to a server's login delay: our run starts a little before its login
LOGIN_DELAY_MARGIN = 1.0
FetchFn = Callable[..., RunSummary]


@dataclass
class _State:
    running: dict[str, int] = field(default_factory=dict)  # source name -> id
    poked: bool = False  # a wake-up or a finished run: look for work at once


class Scheduler:
    def __init__(
        self,
        app: App,
        *,
        clock: Clock = utcnow,
        fetch: FetchFn = runner.fetch,
        retry_base: float = 300.0,
        workers: int = 2,
    ) -> None:
        self.app, self.clock, self.fetch = app, clock, fetch
        self.retry_base = retry_base
        self.workers = workers
        self.cancel = threading.Event()  # set on shutdown: running syncs stop between batches
        self.last_tick: datetime | None = None
        # the service's IDLE watches and how each one learns of new mail, for /healthz
        self.watch_modes: Callable[[], dict[str, str]] | None = None
        self._state = _State()
        self._cv = threading.Condition()
        # source name -> seconds its server wants between logins (learnt from a refusal)
        self._login_delays: dict[str, float] = {}

    # -- what is due ----------------------------------------------------------------------

    def due(self, *, every_scheduled: bool = False) -> list[tuple[str, str]]:
        """(name, trigger) of the sources due now, oldest due first; the trigger is "retry"
        after a failed run, else "schedule". Fills in missing due times. With
        *every_scheduled*, every source with a schedule (not manual-only) counts as due."""
        now = self.clock()
        found: list[tuple[datetime, str, str]] = []
        with self.app.db.session() as s:
            for src in sources.all_sources(s, active_only=True):
                if src.protocol == "smtp" or src.auth_state != AuthState.OK:
                    continue
                trigger = "retry" if src.failures else "schedule"
                if every_scheduled and src.schedule != "manual":
                    found.append((now, src.name, trigger))
                    continue
                if src.next_run_at is None:
                    src.next_run_at = self._next(s, src, now)
                if src.next_run_at is not None and src.next_run_at <= now:
                    found.append((src.next_run_at, src.name, trigger))
        return [(name, trigger) for _, name, trigger in sorted(found)]

    def _next(self, s: Session, src: Source, now: datetime) -> datetime | None:
        last = s.scalar(select(func.max(Run.started_at)).where(Run.source_id == src.id))
        return schedules.next_run(_schedule(src), last_started=last, now=now)

    # -- running --------------------------------------------------------------------------

    def claim(
        self, limit: int, *, exclude: set[int] | frozenset[int] = frozenset()
    ) -> list[claims.Claim]:
        """Take the leases of at most *limit* due sources (``runtime.claims``)."""
        now = self.clock()
        claims.fill_due_times(self.app.db, now, self._next)
        return claims.claim(self.app.db, now, limit, exclude=exclude)

    def run_claimed(self, c: claims.Claim) -> RunSummary | None:
        """Run a claimed source under its lease (renewed by a heartbeat, given back after the
        next due time is set)."""
        try:
            with lease.held(self.app.db, c.source_id, c.owner, taken=True):
                return self.run(c.name, c.trigger, owner=c.owner)
        except lease.SourceBusy as exc:
            log.info("source %s skipped: %s", c.name, exc)
            return None

    def run(
        self, name: str, trigger: str = "schedule", *, owner: str | None = None
    ) -> RunSummary | None:
        """Run one source now and set its next due time. Errors are logged, not raised.
        *owner*: the source's lease is held (claimed) under that name."""
        started = self.clock()
        summary: RunSummary | None = None
        failed_transient = False
        not_before: datetime | None = None
        extra = {} if owner is None else {"owner": owner}
        with log_context(source=name):
            try:
                summary = self.fetch(self.app, name, trigger=trigger, cancel=self.cancel, **extra)
                log.info(
                    "source %s: %d seen, %d imported, %d not imported, %d documents (run %d, %s)",
                    name,
                    summary.messages_seen,
                    summary.imported,
                    summary.not_imported,
                    summary.documents_created,
                    summary.run_id,
                    trigger,
                )
            except lease.SourceBusy as exc:
                log.info("skipped: %s", exc)
                return None
            except RunCancelled:
                log.info("run stopped: the service is shutting down")
                return None
            except LoginDelayed as exc:  # not counted as a failure by runner.fetch
                not_before = self._delayed(name, exc)
            except RunPartial as exc:  # counted as a failure by runner.fetch already
                if isinstance(exc.cause, LoginDelayed):  # (unless the login came too soon)
                    not_before = self._delayed(name, exc.cause)
                summary, failed_transient = exc.summary, exc.transient
                log.warning(
                    "run partial: %d seen, %d imported, then: %s",
                    summary.messages_seen,
                    summary.imported,
                    exc,
                )
            except (ConnectorError, BlobStoreError) as exc:
                failed_transient = exc.transient
                log.warning("run failed: %s", exc)
            except Exception:  # one broken source must not stop the scheduler
                log.exception("run failed unexpectedly")
            self._reschedule(name, started, failed_transient, not_before)
        return summary

    def _delayed(self, name: str, exc: LoginDelayed) -> datetime:
        """The server refused a login as too soon after the last one: when to try again."""
        self._login_delays[name] = exc.retry_after
        again = self.clock() + timedelta(seconds=exc.retry_after + LOGIN_DELAY_MARGIN)
        log.info("login put off: %s; next attempt at %s", exc, again.strftime("%H:%M:%S UTC"))
        return again

    def _reschedule(
        self,
        name: str,
        started: datetime,
        failed_transient: bool,
        not_before: datetime | None = None,
    ) -> None:
        """Set the next due time. *not_before*: the server refused the login as too soon, so
        the source runs again then."""
        now = self.clock()
        with self.app.db.session() as s:
            src = sources.get(s, name)
            if not_before is not None:
                src.next_run_at = not_before
                return
            nxt = schedules.next_run(_schedule(src), last_started=started, now=now)
            delay = self._login_delays.get(name)
            if nxt is not None and delay is not None:  # the server's minimum between logins
                nxt = max(nxt, started + timedelta(seconds=delay + LOGIN_DELAY_MARGIN))
            if failed_transient and src.active and src.failures:
                cap = _interval(src) or 3600.0
                retry = now + timedelta(
                    seconds=schedules.backoff(src.failures, base=self.retry_base, cap=cap)
                )
                nxt = retry if nxt is None else min(nxt, retry)
            if src.wake_requested:  # woken while it ran: once more, as soon as it is free
                nxt = now if nxt is None else min(nxt, now)
            src.next_run_at = nxt

    def tick(self, *, every_scheduled: bool = False) -> list[str]:
        """Run every due source, one after another, in this thread; returns their names.
        Each is claimed just before it runs, so other workers share the rest meanwhile."""
        self.last_tick = self.clock()
        if every_scheduled:
            due = self.due(every_scheduled=True)
            for name, trigger in due:
                self.run(name, trigger)
            return [name for name, _ in due]
        ran: list[str] = []
        done: set[int] = set()
        while taken := self.claim(1, exclude=done):
            c = taken[0]
            done.add(c.source_id)
            self.run_claimed(c)
            ran.append(c.name)
        return ran

    # -- the service ----------------------------------------------------------------------

    def wake(self, name: str, trigger: str = "instant") -> None:
        """Run *name* as soon as a worker is free (IDLE watchers, "fetch now"): the request is
        written to the database, so whichever worker claims the source runs it; this one is
        poked to look at once."""
        try:
            claims.request_wake(self.app.db, name, trigger, self.clock())
        except Exception:  # the database is away: the watcher's next wake-up or poll catches up
            log.exception("source %s: could not record the wake-up", name)
        self.poke()

    def poke(self) -> None:
        with self._cv:
            self._state.poked = True
            self._cv.notify()

    def serve(self, stop: threading.Event, *, poll: float = 1.0, grace: float = 30.0) -> None:
        """Claim and run due and woken sources on worker threads until *stop* is set; then let
        running syncs stop at their next batch boundary (at most *grace* seconds). Looks for
        work every *poll* seconds, and at once after a local wake-up or a finished run."""
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="sync")
        try:
            while not stop.is_set():
                self.last_tick = self.clock()
                with self._cv:
                    self._state.poked = False
                    busy = set(self._state.running.values())
                taken: list[claims.Claim] = []
                try:
                    taken = self.claim(self.workers - len(busy), exclude=busy)
                except Exception:  # e.g. the database is locked for longer than its timeout
                    log.exception("could not claim the due sources")
                with self._cv:
                    for c in taken:
                        self._state.running[c.name] = c.source_id
                        pool.submit(self._job, c)
                    if not self._state.poked:
                        self._cv.wait(timeout=poll)
        finally:
            self.cancel.set()
            _shutdown(pool, grace)

    def _job(self, c: claims.Claim) -> None:
        try:
            self.run_claimed(c)
        except Exception:
            log.exception("source %s: the scheduler job failed", c.name)
        finally:
            with self._cv:  # after the lease is given back, so a new claim sees it free
                self._state.running.pop(c.name, None)
                self._state.poked = True
                self._cv.notify()

    def health(self) -> tuple[bool, dict[str, object]]:
        """For /healthz: alive when the loop ticked recently."""
        last = self.last_tick
        ok = last is not None and (self.clock() - last).total_seconds() < 120
        with self._cv:
            running = sorted(self._state.running)
        details: dict[str, object] = {
            "scheduler": "running" if ok else "stalled",
            "last_tick": last.isoformat() if last else None,
            "running": running,
        }
        if self.watch_modes is not None:  # "source/folder": push, poll or learning
            details["idle_watches"] = self.watch_modes()
        return ok, details


def _shutdown(pool: ThreadPoolExecutor, grace: float) -> None:
    done = threading.Event()

    def wait() -> None:
        pool.shutdown(wait=True, cancel_futures=True)
        done.set()

    threading.Thread(target=wait, daemon=True).start()
    if not done.wait(grace):
        log.warning(
            "runs still going after %.0f s; leaving them (the next start re-runs them)", grace
        )


def _schedule(src: Source) -> schedules.Schedule:
    try:
        return schedules.parse(src.schedule)
    except schedules.ScheduleError:
        log.warning(
            "source %s has an invalid schedule %r; using the default", src.name, src.schedule
        )
        return schedules.DEFAULT


def _interval(src: Source) -> float | None:
    sched = _schedule(src)
    return sched.minutes * 60.0 if isinstance(sched, schedules.Every) else None
