"""Inbound SMTP receiver on aiosmtpd: the per-company "central import address".

Its one job is to take mail for ``<source>@<import domain>`` and make the exact received bytes
durable. It is MX-like (no AUTH, not a relay): a recipient is refused at RCPT unless it is at
the import domain and ``resolve`` names its import source. At the end of DATA each distinct
source's ``deliver`` runs in a worker thread, and **250 means stored**: the reply is sent only
after every ``deliver`` returned, so a failure is a 4xx the sender retries and nothing is
acknowledged that was not stored. No pipeline runs inside the SMTP transaction.

Replies (RFC 5321 §4.2; enhanced codes from RFC 3463 in the text):

    250 2.1.5   recipient accepted
    250 2.0.0   OK: queued as <id>, after every deliver() returned
    421 4.3.2   shutting down (sent to open sessions on stop)
    421 4.7.0   too many unknown recipients (in this session, or from this client lately): the
                connection is closed (``smtp_throttle``)
    451 4.3.0   resolve() or deliver() raised; the sender tries again later
    452 4.5.3   more than MAX_RECIPIENTS recipients (RFC 5321 §4.5.3.1.8)
    502 5.5.1   AUTH: not offered on this receiver
    530         MAIL before STARTTLS with require_tls (aiosmtpd's reply, RFC 3207 §4)
    550 5.1.1   at the import domain but no such import address
    550 5.7.1   another domain: relaying denied
    552 5.3.4   MAIL FROM ... SIZE=n above the limit (RFC 1870 §6.1)
    552         DATA longer than the limit (aiosmtpd's reply, "Error: Too much mail data")

ENHANCEDSTATUSCODES (RFC 2034) is not advertised, as aiosmtpd's own replies carry no enhanced
code. SIZE (RFC 1870), 8BITMIME, SMTPUTF8 and, with a certificate, STARTTLS (RFC 3207) are.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import re
import secrets
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session, syntax

from invoice_inbox.connectors.smtp_settings import InboundSettings, tls_context
from invoice_inbox.connectors.smtp_throttle import ClientThrottle, client_of

__all__ = ["InboundServer", "InboundSettings"]

log = logging.getLogger(__name__)

Resolve = Callable[[str], str | None]
"""A recipient (lower-cased ``local@domain``) -> its import source's name, or None if unknown."""
Deliver = Callable[[str, bytes, str], object]
"""(source name, raw bytes as received, envelope sender; "" for the null sender ``<>``):
returns once the message is durably stored (any return value is ignored), raises otherwise."""

MAX_RECIPIENTS = 100  # the minimum a server must buffer, RFC 5321 §4.5.3.1.8

REPLY_RCPT_OK = "250 2.1.5 OK"
REPLY_QUEUED = "250 2.0.0 OK: queued as {id}"
REPLY_SHUTTING_DOWN = "421 4.3.2 service shutting down, try again later"
REPLY_TOO_MANY_UNKNOWN = "421 4.7.0 too many unknown recipients, closing the connection"
REPLY_CLIENT_THROTTLED = "421 4.7.0 too many unknown recipients from your address, try later"
REPLY_TEMP_FAILURE = "451 4.3.0 temporary failure, try again later"
REPLY_TOO_MANY_RCPTS = "452 4.5.3 too many recipients"
REPLY_NO_AUTH = "502 5.5.1 AUTH not available"
REPLY_UNKNOWN_ADDRESS = "550 5.1.1 <{address}>: no such import address"
REPLY_RELAY_DENIED = "550 5.7.1 <{address}>: relaying denied"
REPLY_SIZE_DECLARED = "552 5.3.4 message size exceeds fixed maximum message size"

_SIZE_PARAM = re.compile(r"(?:^|\s)SIZE=(\d+)(?=\s|$)", re.IGNORECASE)


class InboundServer:
    """The receiver, served by an asyncio loop on a background thread. ``resolve`` and
    ``deliver`` are called from worker threads, possibly at the same time."""

    def __init__(self, settings: InboundSettings, resolve: Resolve, deliver: Deliver) -> None:
        self.settings = settings
        self.received = 0  # messages acknowledged with 250
        self._resolve = resolve
        self._deliver = deliver
        self._domain = settings.domain.lower().rstrip(".")
        self._port = settings.port
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._sessions: set[_Smtp] = set()
        self._busy: set[asyncio.Future[object]] = set()  # DATA replies and stores under way
        self._closing = False
        self.throttle = ClientThrottle(settings.unknown_per_client, settings.unknown_window)

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
        handler = _Handler(self)

        def session() -> _Smtp:
            return _Smtp(
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

    def _store(self, queue_id: str, keys: list[str], raw: bytes, mail_from: str) -> None:
        for key in keys:
            try:
                self._deliver(key, raw, mail_from)
            except Exception:
                log.exception(
                    "storing message %s from <%s> for import source %r failed; answering 451",
                    queue_id,
                    mail_from,
                    key,
                )
                raise


class _Envelope(Envelope):
    """aiosmtpd's envelope plus the import source of each accepted recipient."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: dict[str, str] = {}


class _Smtp(SMTP):
    """aiosmtpd's SMTP session with the changes an MX-like receiver needs: no AUTH, a declared
    SIZE refused with an enhanced code, and a list of open sessions for a clean stop."""

    def __init__(self, handler: _Handler, *, owner: InboundServer, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._owner = owner
        self.unknown = 0  # recipients refused in this session
        self.hang_up = False  # close the connection after the reply being sent

    def _create_envelope(self) -> Envelope:
        return _Envelope()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._owner._sessions.add(self)

    def connection_lost(self, error: Exception | None) -> None:
        self._owner._sessions.discard(self)
        super().connection_lost(error)

    def say_goodbye(self) -> None:
        """421 and close (RFC 5321 §3.8): the server is going away."""
        if self.transport is None or self.transport.is_closing():
            return
        self._writer.write(REPLY_SHUTTING_DOWN.encode() + b"\r\n")
        self.transport.close()

    @syntax("MAIL FROM: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_MAIL(self, arg: str | None) -> None:
        """aiosmtpd refuses a declared SIZE over the limit with a bare 552; answer 552 5.3.4."""
        if self.session is not None and self.session.extended_smtp and arg:
            declared = _SIZE_PARAM.search(arg.rpartition(">")[2])
            if declared and self.data_size_limit and int(declared[1]) > self.data_size_limit:
                await self.push(REPLY_SIZE_DECLARED)
                return
        await super().smtp_MAIL(arg)

    @syntax("RCPT TO: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_RCPT(self, arg: str | None) -> None:
        """aiosmtpd's RCPT, then the connection is closed if the reply was a 421."""
        await super().smtp_RCPT(arg)
        if self.hang_up and self.transport is not None:
            self.transport.close()

    async def smtp_AUTH(self, arg: str) -> None:
        """No AUTH: mail for the import domain is accepted from anyone, like an MX."""
        await self.push(REPLY_NO_AUTH)


class _Handler:
    """The aiosmtpd hooks: EHLO (drop AUTH), RCPT (known import address?), DATA (store)."""

    def __init__(self, owner: InboundServer) -> None:
        self.owner = owner

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        return [line for line in responses if not line[4:].upper().startswith("AUTH")]

    async def handle_RCPT(
        self,
        server: _Smtp,
        session: Session,
        envelope: _Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        client = client_of(session.peer)
        if self.owner.throttle.blocked(client):
            log.warning("refused RCPT from %s: too many unknown recipients lately", client)
            server.hang_up = True
            return REPLY_CLIENT_THROTTLED
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return REPLY_TOO_MANY_RCPTS
        address = address.lower()
        _local, at, domain = address.rpartition("@")
        if at and domain.rstrip(".") != self.owner._domain:
            log.info("refused <%s> from %r: not our domain", address, session.peer)
            return self._unknown(server, client, REPLY_RELAY_DENIED.format(address=address))
        key = None
        if at:
            try:
                key = await self.owner._in_worker(self.owner._resolve, address)
            except Exception:
                log.exception("resolving <%s> failed; answering 451", address)
                return REPLY_TEMP_FAILURE
        if key is None:
            log.info("refused <%s> from %r: no such import address", address, session.peer)
            return self._unknown(server, client, REPLY_UNKNOWN_ADDRESS.format(address=address))
        if address not in envelope.keys:
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
            envelope.keys[address] = str(key)
        return REPLY_RCPT_OK

    def _unknown(self, server: _Smtp, client: str, reply: str) -> str:
        """A refused recipient: *reply*, or 421 and hang up once the session had too many."""
        self.owner.throttle.refused(client)
        server.unknown += 1
        if server.unknown > self.owner.settings.unknown_per_session:
            log.warning("closing the session of %s: %d unknown recipients", client, server.unknown)
            server.hang_up = True
            return REPLY_TOO_MANY_UNKNOWN
        return reply

    async def handle_DATA(self, server: SMTP, session: Session, envelope: _Envelope) -> str:
        owner = self.owner
        if owner._closing:
            return REPLY_SHUTTING_DOWN
        raw = envelope.original_content
        assert raw is not None
        mail_from = "" if envelope.mail_from in (None, "<>") else str(envelope.mail_from)
        keys = list(dict.fromkeys(envelope.keys.values()))
        queue_id = secrets.token_hex(6).upper()
        with owner._busy_while():
            try:
                await owner._in_worker(owner._store, queue_id, keys, raw, mail_from)
            except Exception:
                return REPLY_TEMP_FAILURE  # logged with its traceback by _store
            owner.received += 1
        log.info("queued as %s: %d bytes from <%s> for %s", queue_id, len(raw), mail_from, keys)
        return REPLY_QUEUED.format(id=queue_id)
