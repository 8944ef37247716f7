"""Inbound SMTP receiver on aiosmtpd: the per-company "central import address".

Its one job is to take mail for ``<source>@<import domain>`` and make the exact received bytes
durable. It is MX-like (no AUTH, not a relay): a recipient is refused at RCPT unless it is at
the import domain and ``resolve`` names its import source. At the end of DATA each distinct
source's ``deliver`` runs in a worker thread, and **250 means stored**: the reply is sent only
after every ``deliver`` returned, so a failure is a 4xx the sender retries and nothing is
acknowledged that was not stored. No pipeline runs inside the SMTP transaction.

Before that, the sender is authenticated (SPF with the client's address, HELO and MAIL FROM,
DKIM, DMARC: ``smtp_arrival``, in a worker thread) and the mail to store gets our
``Authentication-Results`` on top; a mail that fails DMARC with an effective ``p=reject`` is
refused with 550 when every recipient's source requires authenticated senders (a source that
only flags takes it, and its policy files it). Abuse bounds: a client's mails a minute (421,
per process) and a company's mails a day (452, counted on the ledger: the same for every
receiver on the database).

Replies (RFC 5321 §4.2; enhanced codes from RFC 3463 in the text):

    250 2.1.5   recipient accepted
    250 2.0.0   OK: queued as <id>, after every deliver() returned
    421 4.3.2   shutting down (sent to open sessions on stop)
    421 4.7.0   too many unknown recipients (in this session, or from this client lately), or
                too many mails from this client in the last minute: the connection is closed
                (``smtp_throttle``)
    451 4.3.0   resolve() or deliver() raised; the sender tries again later
    452 4.2.2   the company's daily cap of mails is reached (over quota, as RFC 3463 X.2.2)
    452 4.5.3   more than MAX_RECIPIENTS recipients (RFC 5321 §4.5.3.1.8)
    502 5.5.1   AUTH: not offered on this receiver
    530         MAIL before STARTTLS with require_tls (aiosmtpd's reply, RFC 3207 §4)
    550 5.1.1   at the import domain but no such import address
    550 5.7.1   another domain: relaying denied; or, at DATA, the From domain publishes DMARC
                p=reject, the mail fails it and every recipient's source requires
    552 5.3.4   MAIL FROM ... SIZE=n above the limit (RFC 1870 §6.1)
    552         DATA longer than the limit (aiosmtpd's reply, "Error: Too much mail data"); a
                mail line may be as long as the limit (``smtp_session``), not only 1000 octets

ENHANCEDSTATUSCODES (RFC 2034) is not advertised, as aiosmtpd's own replies carry no enhanced
code. SIZE (RFC 1870), 8BITMIME, SMTPUTF8, PIPELINING (RFC 2920) and, with a certificate,
STARTTLS (RFC 3207) are.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Iterator

from invoice_inbox.connectors.smtp_arrival import (
    Arrival,
    Authenticate,
    Terms,
    authenticator,
    forged_removed,
    with_envelope,
    with_results,
)
from invoice_inbox.connectors.smtp_session import Handler, SmtpSession
from invoice_inbox.connectors.smtp_settings import InboundSettings, tls_context
from invoice_inbox.connectors.smtp_throttle import ClientThrottle
from invoice_inbox.pipeline.trust import result

__all__ = ["Arrival", "InboundServer", "InboundSettings", "Terms"]

log = logging.getLogger(__name__)

Resolve = Callable[[str], str | None]
"""A recipient (lower-cased ``local@domain``) -> its import source's name, or None if unknown."""
Deliver = Callable[[str, Arrival], object]
"""(source name, the mail: the bytes received and to store, the envelope with the sender ("" for
the null sender ``<>``), its sender authentication): returns once the message is durably
stored (any return value is ignored), raises otherwise."""
SourceTerms = Callable[[str], Terms]
"""A source name -> its sender policy and whether its company's daily cap is reached."""


class InboundServer:
    """The receiver, served by an asyncio loop on a background thread. ``resolve`` and
    ``deliver`` are called from worker threads, possibly at the same time."""

    def __init__(
        self,
        settings: InboundSettings,
        resolve: Resolve,
        deliver: Deliver,
        *,
        terms: SourceTerms | None = None,
        authenticate: Authenticate | None = None,
    ) -> None:
        """*terms*: each source's policy and daily cap (None: flag, no cap). *authenticate*:
        the sender check (None: SPF/DKIM/DMARC with ``settings.dns_server`` when
        ``settings.check_senders``, else none)."""
        self.settings = settings
        self.received = 0  # messages acknowledged with 250
        self._resolve = resolve
        self._deliver = deliver
        self._terms = terms
        self._authenticate = authenticate
        self._domain = settings.domain.lower().rstrip(".")
        self._port = settings.port
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._sessions: set[SmtpSession] = set()
        self._busy: set[asyncio.Future[object]] = set()  # DATA replies and stores under way
        self._closing = False
        self.throttle = ClientThrottle(settings.unknown_per_client, settings.unknown_window)
        self.rate = ClientThrottle(settings.mails_per_client, 60.0)  # mails a minute per client

    @property
    def port(self) -> int:
        """The port listened on (the one picked when settings.port is 0)."""
        return self._port

    @property
    def where(self) -> str:
        return f"{self.settings.host}:{self._port}"

    def start(self) -> None:
        """Bind and serve on a background thread. Raises OSError (errno kept) if the address
        cannot be bound or the certificate cannot be loaded."""
        if self._thread is not None:
            raise RuntimeError("the SMTP receiver is already running")
        tls = tls_context(self.settings)
        if self._authenticate is None and self.settings.check_senders:
            from invoice_inbox.connectors.dns import resolver_for

            lookup = resolver_for(self.settings.dns_server).lookup
            self._authenticate = authenticator(self.settings.authserv, lookup)
        hostname = self.settings.hostname or socket.getfqdn()
        self._closing = False
        self._sessions, self._busy = set(), set()
        self._loop = asyncio.new_event_loop()
        self._executor = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="smtp-store")
        bound: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._run, args=(tls, hostname, bound), name="smtp-inbound", daemon=True
        )
        self._thread.start()
        try:
            self._port = bound.result()
        except Exception as exc:
            self._thread.join()
            self._thread = None
            self._executor.shutdown()
            if not isinstance(exc, OSError):
                raise
            reason = exc.strerror or str(exc)
            raise OSError(exc.errno, f"cannot listen for SMTP on {self.where}: {reason}") from exc
        log.info("SMTP receiver for @%s listening on %s", self._domain, self.where)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop accepting, wait up to *timeout* seconds for stores under way and their replies,
        then say 421 to the sessions still open and close them. Idempotent."""
        if self._thread is None:
            return
        assert self._loop is not None and self._executor is not None
        asyncio.run_coroutine_threadsafe(self._shutdown(timeout), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._thread = None
        # A store still running after the timeout finishes on its own; its reply is lost.
        self._executor.shutdown(wait=False, cancel_futures=True)
        log.info("SMTP receiver on %s stopped", self.where)

    # -- the loop thread -----------------------------------------------------------------

    def _run(
        self, tls: ssl.SSLContext | None, hostname: str, bound: concurrent.futures.Future[int]
    ) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        s = self.settings
        handler = Handler(self)

        def session() -> SmtpSession:
            return SmtpSession(
                handler,
                owner=self,
                loop=loop,
                hostname=hostname,
                ident="ESMTP invoice-inbox",
                data_size_limit=s.max_size,
                enable_SMTPUTF8=True,
                decode_data=False,
                tls_context=tls,
                require_starttls=s.require_tls,
            )

        try:
            self._server = loop.run_until_complete(loop.create_server(session, s.host, s.port))
        except Exception as exc:  # OSError: address in use, unknown host, no permission
            bound.set_exception(exc)
            loop.close()
            return
        bound.set_result(self._server.sockets[0].getsockname()[1])
        loop.run_forever()
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.close()

    async def _shutdown(self, timeout: float) -> None:
        self._closing = True
        assert self._server is not None
        self._server.close()
        if self._busy:
            _, late = await asyncio.wait(set(self._busy), timeout=timeout)
            if late:
                log.warning("stopping while a store still runs after %s s: 421 to it", timeout)
        for smtp in list(self._sessions):
            smtp.say_goodbye()
        for job in list(self._busy):
            job.cancel()  # detach: a late store finishes on its own and nobody hears of it
        await asyncio.sleep(0)  # let connection_lost() run for the closed sessions

    @contextlib.contextmanager
    def _busy_while(self) -> Iterator[None]:
        """Mark a DATA transaction as under way until its reply is about to be sent."""
        assert self._loop is not None
        done: asyncio.Future[object] = self._loop.create_future()
        self._busy.add(done)
        try:
            yield
        finally:
            self._busy.discard(done)
            if not done.done():
                done.set_result(None)

    async def _in_worker(self, fn: Callable[..., object], *args: object) -> object:
        """Run *fn* on a worker thread. It runs to its end even when the client goes away (the
        awaiting session is cancelled), and stop() waits for it."""
        assert self._loop is not None
        job = self._loop.run_in_executor(self._executor, fn, *args)
        self._busy.add(job)
        job.add_done_callback(self._settled)
        return await asyncio.shield(job)

    def _settled(self, job: asyncio.Future[object]) -> None:
        self._busy.discard(job)
        if not job.cancelled():
            job.exception()  # retrieved: the failure was logged by the worker

    def _recipient(self, address: str) -> tuple[str | None, Terms]:
        """The import source of *address* and its terms (a worker thread)."""
        key = self._resolve(address)
        if key is None or self._terms is None:
            return key, Terms()
        return key, self._terms(str(key))

    def _store(self, queue_id: str, keys: list[str], mail: Arrival) -> None:
        for key in keys:
            try:
                self._deliver(key, mail)
            except Exception:
                log.exception(
                    "storing message %s from <%s> for import source %r failed; answering 451",
                    queue_id,
                    mail.mail_from,
                    key,
                )
                raise

    def _arrival(self, received: bytes, envelope: result.Envelope) -> Arrival:
        """The mail to store and who sent it (a worker thread). A check that raises is logged
        and leaves the mail unchecked here (the run authenticates it from the envelope)."""
        if self._authenticate is not None:
            try:
                auth, value = self._authenticate(received, envelope)
            except Exception:
                log.exception("authenticating a mail from <%s> failed", envelope.mail_from)
            else:
                raw = with_results(received, self.settings.authserv, value)
                return Arrival(received, raw, envelope, with_envelope(auth, envelope))
        raw, _ = forged_removed(received, self.settings.authserv)
        return Arrival(received, raw, envelope)
