"""The always-on service behind ``invoice-inbox serve`` and ``worker``, assembled in one place.

Threads, each with one job: the scheduler (claims due and woken sources for a worker pool), the
cluster heartbeat (this worker's registry row, ``runtime.registry``, and its share of the IDLE
watches, ``runtime.watches``: one watcher per folder it holds, a wake-up only: the run reads
from the stored cursor), the notifier (delivers the notifications outbox), the rechecker
(re-checks a source's not-imported mail after its allowed senders, rules or filters change:
``runtime.auto_recheck``), the webhooks (fans the event outbox out to subscriptions and
delivers it), the SMTP receiver for the central import addresses, and the HTTP server (the
web admin, the API, ``/metrics``, ``/healthz``: built by the caller from the app and the
scheduler, since the web layer sits above this one). ``stop`` ends them all; running syncs
stop at their next batch boundary, so nothing is half-done.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from invoice_inbox.connectors.idle import IdleWaiter
from invoice_inbox.connectors.smtp_inbound import InboundServer, InboundSettings
from invoice_inbox.delivery import webhooks
from invoice_inbox.delivery.notify import Channels, deliver_due
from invoice_inbox.runtime import registry, runner
from invoice_inbox.runtime.auto_recheck import Rechecker
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.inbound import Inbox
from invoice_inbox.runtime.scheduler import Scheduler
from invoice_inbox.runtime.watch import FolderWatcher
from invoice_inbox.runtime.watches import Held, WatchShare
from invoice_inbox.store import companies, notifications
from invoice_inbox.store.models import Company, utcnow

log = logging.getLogger(__name__)

ENV_IDLE_POLL = "INVOICE_INBOX_IDLE_POLL"


class HttpServer(Protocol):
    @property
    def url(self) -> str: ...

    def start(self) -> None: ...
    def stop(self) -> None: ...


@dataclass(kw_only=True)
class ServiceConfig:
    workers: int = 2  # concurrency: how many sources this process fetches at once
    # False (``serve --no-scheduler``): only the HTTP server and the SMTP receiver; the
    # scheduler, IDLE watches, re-checks and outboxes run in other processes (``worker``)
    scheduler: bool = True
    # how often due sources are claimed (a local wake-up does not wait for it; a wake-up from
    # another worker waits at most this long); INVOICE_INBOX_POLL overrides the default
    poll: float = field(default_factory=registry.poll_every)
    # None: no HTTP server; else it is made (its port bound) when the service starts
    http: Callable[[App, Scheduler], HttpServer] | None = None
    smtp: InboundSettings | None = None  # None: no central import addresses
    channels: Channels = field(default_factory=Channels)
    notify_every: float = 30.0
    webhook_every: float = 5.0  # how often new events are fanned out and due deliveries sent
    recheck_every: float = 5.0  # how often sources whose settings changed are looked up
    # how often this worker heartbeats and takes its share of the watches (the instant sources
    # are looked up again each time); INVOICE_INBOX_HEARTBEAT overrides the default
    watch_refresh: float = field(default_factory=registry.heartbeat_every)
    idle_reissue: float = 540.0
    idle_check: float = 30.0
    # how often a folder whose server does not push new mail during IDLE (or has not shown
    # yet that it does) is checked with DONE + NOOP; INVOICE_INBOX_IDLE_POLL overrides it
    idle_poll: float = field(default_factory=lambda: registry.seconds(ENV_IDLE_POLL, 20.0))
    retry_base: float = 300.0
    grace: float = 30.0


class Service:
    def __init__(
        self, app: App, config: ServiceConfig, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.app, self.config = app, config
        self.stop_event = threading.Event()
        self.scheduler = Scheduler(
            app, clock=clock, workers=config.workers, retry_base=config.retry_base
        )
        self.rechecker = Rechecker(app)
        kind = "worker" if config.http is None and config.smtp is None else "serve"
        self.registry = registry.Registry(app.db, kind=kind, concurrency=config.workers)
        self.share = WatchShare(app.db, self.registry.owner)
        self.watchers: dict[tuple[str, str], tuple[FolderWatcher, threading.Event]] = {}
        self.scheduler.watch_modes = self.watch_modes
        self.http: HttpServer | None = None
        self.smtp: InboundServer | None = None
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        if self.config.smtp is not None:
            for tries_left in (1, 0):
                try:
                    with self.app.db.session() as s:
                        companies.set_setting(s, companies.SMTP_DOMAIN, self.config.smtp.domain)
                        for c in s.scalars(select(Company)):  # every company gets its address
                            companies.import_source(s, c)
                    break
                except IntegrityError:  # another receiver starting at once wrote them first
                    if not tries_left:
                        raise
            inbox = Inbox(self.app, daily_cap=self.config.smtp.daily_cap)
            self.smtp = InboundServer(
                self.config.smtp, inbox.resolve, inbox.deliver, terms=inbox.terms
            )
            self.smtp.start()
        if self.config.http is not None:
            self.http = self.config.http(self.app, self.scheduler)
            self.http.start()
        if not self.config.scheduler:
            return
        self.registry.join()
        self._spawn("scheduler", self._schedule)
        self._spawn("cluster", self._watch)
        self._spawn("notifier", self._notify)
        self._spawn("webhooks", self._webhooks)
        self._spawn("rechecker", self._recheck)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def wait(self) -> None:
        """Block until ``stop`` (e.g. from a signal handler) has been called."""
        while not self.stop_event.wait(1.0):
            pass

    def stop(self) -> None:
        if self.config.scheduler:
            try:
                self.registry.stopping()  # the others stop counting on this one at once
            except Exception:
                log.warning("could not mark this worker as stopping", exc_info=True)
        self.stop_event.set()
        for _, stop in self.watchers.values():
            stop.set()
        if self.smtp is not None:
            self.smtp.stop()  # finishes deliveries in progress: a 250 is never lost
        for t in self._threads:
            t.join(timeout=self.config.grace + 5)
        for watcher, _ in self.watchers.values():
            watcher.join(timeout=5)
        if self.config.scheduler:
            try:  # give the watches back and leave the registry: the others take over now
                self.share.release_all()
                self.registry.leave()
            except Exception:
                log.warning("could not leave the worker registry", exc_info=True)
        if self.http is not None:
            self.http.stop()

    # -- threads --------------------------------------------------------------------------

    def _schedule(self) -> None:
        self.scheduler.serve(self.stop_event, poll=self.config.poll, grace=self.config.grace)

    def _notify(self) -> None:
        try:  # errors kept by older versions named the whole webhook URL
            with self.app.db.session() as s:
                notifications.redact_stored_errors(s)
        except Exception:
            log.exception("could not redact the URLs in stored notification errors")
        while not self.stop_event.is_set():
            try:
                deliver_due(self.app.db, self.config.channels)
            except Exception:
                log.exception("delivering notifications failed")
            self.stop_event.wait(self.config.notify_every)

    def _webhooks(self) -> None:
        while not self.stop_event.is_set():
            try:
                webhooks.dispatch(self.app.db)
                webhooks.deliver_due(self.app.db, self.app.secrets, stop=self.stop_event)
            except Exception:
                log.exception("delivering webhooks failed")
            self.stop_event.wait(self.config.webhook_every)

    def _recheck(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.rechecker.tick()
            except Exception:
                log.exception("re-checking not-imported mail failed")
            self.stop_event.wait(self.config.recheck_every)

    def _watch(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.registry.beat()
            except Exception:
                log.exception("could not renew this worker's heartbeat")
            try:
                self.refresh_watchers()
            except Exception:
                log.exception("could not update the IDLE watchers")
            self.stop_event.wait(self.config.watch_refresh)

    def refresh_watchers(self) -> set[Held]:
        """One IDLE watcher per watch this worker holds (its share of every folder of every
        active, signed-in instant IMAP source: ``runtime.watches``)."""
        held = self.share.refresh()
        wanted = {(h.source, h.folder) for h in held}
        for key in set(self.watchers) - wanted:
            _, stop = self.watchers.pop(key)
            stop.set()
            log.info("source %s: stopped watching %s", *key)
        for key in wanted - set(self.watchers):
            self._start_watcher(*key)
        return held

    def watch_modes(self) -> dict[str, str]:
        """{"source/folder": "push", "poll" or "learning"} of the watches this worker holds:
        whether their servers announce new mail during IDLE (``connectors.idle_push``)."""
        return {
            f"{name}/{folder}": watcher.push.mode
            for (name, folder), (watcher, _) in list(self.watchers.items())
        }

    def _start_watcher(self, name: str, folder: str) -> None:
        stop = threading.Event()

        def make_waiter() -> IdleWaiter:
            return IdleWaiter(
                runner.imap_settings_for(self.app, name),
                folder,
                reissue_after=self.config.idle_reissue,
                check_every=self.config.idle_check,
                poll_every=self.config.idle_poll,
            )

        watcher = FolderWatcher(
            f"idle:{name}:{folder}", make_waiter, lambda: self.scheduler.wake(name), stop
        )
        watcher.start()
        self.watchers[(name, folder)] = (watcher, stop)
        log.info("source %s: watching %s for new mail (IDLE)", name, folder)
