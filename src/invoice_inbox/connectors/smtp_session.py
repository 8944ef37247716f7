"""The SMTP dialogue of the import-address receiver (``smtp_inbound``): aiosmtpd's session with
the changes an MX-like receiver needs, and the hooks that answer each command. The replies and
what they mean are listed in ``smtp_inbound``'s docstring; the work that may block (resolving
a recipient, checking the sender, storing) runs on the server's worker threads.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from typing import TYPE_CHECKING, Any

from aiosmtpd.smtp import SMTP, Envelope, Session, syntax

from invoice_inbox.connectors.smtp_arrival import (
    REQUIRE,
    Arrival,
    Terms,
    client_ip,
    dmarc_rejects,
    refusal,
)
from invoice_inbox.connectors.smtp_throttle import client_of
from invoice_inbox.pipeline.trust import result

if TYPE_CHECKING:
    from invoice_inbox.connectors.smtp_inbound import InboundServer

log = logging.getLogger("invoice_inbox.connectors.smtp_inbound")

MAX_RECIPIENTS = 100  # the minimum a server must buffer, RFC 5321 §4.5.3.1.8

REPLY_RCPT_OK = "250 2.1.5 OK"
REPLY_QUEUED = "250 2.0.0 OK: queued as {id}"
REPLY_SHUTTING_DOWN = "421 4.3.2 service shutting down, try again later"
REPLY_TOO_MANY_UNKNOWN = "421 4.7.0 too many unknown recipients, closing the connection"
REPLY_CLIENT_THROTTLED = "421 4.7.0 too many unknown recipients from your address, try later"
REPLY_TEMP_FAILURE = "451 4.3.0 temporary failure, try again later"
REPLY_TOO_MANY_RCPTS = "452 4.5.3 too many recipients"
REPLY_OVER_CAP = "452 4.2.2 <{address}>: {why}"
REPLY_CLIENT_RATE = "421 4.7.0 too many mails from your address in the last minute, try later"
REPLY_NO_AUTH = "502 5.5.1 AUTH not available"
REPLY_UNKNOWN_ADDRESS = "550 5.1.1 <{address}>: no such import address"
REPLY_RELAY_DENIED = "550 5.7.1 <{address}>: relaying denied"
REPLY_SIZE_DECLARED = "552 5.3.4 message size exceeds fixed maximum message size"

_SIZE_PARAM = re.compile(r"(?:^|\s)SIZE=(\d+)(?=\s|$)", re.IGNORECASE)


class Transaction(Envelope):
    """aiosmtpd's envelope plus the import source of each accepted recipient."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: dict[str, str] = {}
        self.policies: dict[str, str] = {}  # import source -> its sender policy


class SmtpSession(SMTP):
    """aiosmtpd's SMTP session with the changes an MX-like receiver needs: no AUTH, a declared
    SIZE refused with an enhanced code, lines of any length in a mail, and a list of open
    sessions for a clean stop."""

    def __init__(
        self,
        handler: Handler,
        *,
        owner: InboundServer,
        **kwargs: Any,  # aiosmtpd's SMTP options
    ) -> None:
        # aiosmtpd answers a mail line over 1000 octets with a permanent 500, and the sender's
        # MTA bounces the mail; senders' software writes such lines (HTML on one line, base64
        # not wrapped), and Postfix, Exchange and Gmail take them. So a line may be as long as
        # the mail: memory stays bounded by the size limit. Set before aiosmtpd sizes its
        # stream reader with it; commands keep their own limits (512 octets and extensions).
        size = kwargs.get("data_size_limit") or 0
        self.line_length_limit = max(SMTP.line_length_limit, size + 2)
        super().__init__(handler, **kwargs)
        self._owner = owner
        self.unknown = 0  # recipients refused in this session
        self.hang_up = False  # close the connection after the reply being sent

    def _create_envelope(self) -> Envelope:
        return Transaction()

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
        self._hang_up_if_asked()

    @syntax("RCPT TO: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_RCPT(self, arg: str | None) -> None:
        """aiosmtpd's RCPT, then the connection is closed if the reply was a 421."""
        await super().smtp_RCPT(arg)
        self._hang_up_if_asked()

    def _hang_up_if_asked(self) -> None:
        if self.hang_up and self.transport is not None:
            self.transport.close()

    async def smtp_AUTH(self, arg: str) -> None:
        """No AUTH: mail for the import domain is accepted from anyone, like an MX."""
        await self.push(REPLY_NO_AUTH)


class Handler:
    """The aiosmtpd hooks: EHLO (drop AUTH, offer PIPELINING), MAIL (the client's rate), RCPT
    (known import address? its company under its daily cap?), DATA (authenticate, maybe refuse,
    store)."""

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
        kept = [line for line in responses if not line[4:].upper().startswith("AUTH")]
        # aiosmtpd reads commands one by one from its buffer and answers each in turn, which is
        # all RFC 2920 asks; it just does not say so, and MTAs then wait for every reply.
        return [*kept[:-1], "250-PIPELINING", kept[-1]]

    async def handle_MAIL(
        self,
        server: SmtpSession,
        session: Session,
        envelope: Transaction,
        address: str,
        mail_options: list[str],
    ) -> str:
        client = client_of(session.peer)
        if self.owner.rate.blocked(client):
            log.warning("refused MAIL from %s: more than its mails a minute", client)
            server.hang_up = True
            return REPLY_CLIENT_RATE
        self.owner.rate.add(client)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SmtpSession,
        session: Session,
        envelope: Transaction,
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
        key, terms = None, Terms()
        if at:
            try:
                # _in_worker hands back its function's result typed as object
                key, terms = await self.owner._in_worker(self.owner._recipient, address)  # type: ignore[misc]
            except Exception:
                log.exception("resolving <%s> failed; answering 451", address)
                return REPLY_TEMP_FAILURE
        if key is None:
            log.info("refused <%s> from %r: no such import address", address, session.peer)
            return self._unknown(server, client, REPLY_UNKNOWN_ADDRESS.format(address=address))
        if terms.over_cap:
            log.warning("refused <%s> from %s: %s", address, client, terms.over_cap)
            return REPLY_OVER_CAP.format(address=address, why=terms.over_cap)
        if address not in envelope.keys:
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
            envelope.keys[address] = str(key)
            envelope.policies[str(key)] = terms.sender_auth
        return REPLY_RCPT_OK

    def _unknown(self, server: SmtpSession, client: str, reply: str) -> str:
        """A refused recipient: *reply*, or 421 and hang up once the session had too many."""
        self.owner.throttle.refused(client)
        server.unknown += 1
        if server.unknown > self.owner.settings.unknown_per_session:
            log.warning("closing the session of %s: %d unknown recipients", client, server.unknown)
            server.hang_up = True
            return REPLY_TOO_MANY_UNKNOWN
        return reply

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Transaction) -> str:
        owner = self.owner
        if owner._closing:
            return REPLY_SHUTTING_DOWN
        raw = envelope.original_content
        assert raw is not None
        mail_from = "" if envelope.mail_from in (None, "<>") else str(envelope.mail_from)
        keys = list(dict.fromkeys(envelope.keys.values()))
        seen = result.Envelope(client_ip(session.peer), session.host_name or "", mail_from)
        queue_id = secrets.token_hex(6).upper()
        with owner._busy_while():
            try:
                mail = await owner._in_worker(owner._arrival, raw, seen)
                assert isinstance(mail, Arrival)
            except Exception:
                log.exception("checking a mail from <%s> failed; answering 451", mail_from)
                return REPLY_TEMP_FAILURE
            auth = mail.auth
            if (
                auth
                and dmarc_rejects(auth)
                and all(envelope.policies.get(k) == REQUIRE for k in keys)
            ):
                log.info(
                    "refused a mail from <%s> at %s for %s: %s",
                    mail_from,
                    seen.client_ip,
                    keys,
                    auth.reason,
                )
                return refusal(auth)
            try:
                await owner._in_worker(owner._store, queue_id, keys, mail)
            except Exception:
                return REPLY_TEMP_FAILURE  # logged with its traceback by _store
            owner.received += 1
        log.info("queued as %s: %d bytes from <%s> for %s", queue_id, len(raw), mail_from, keys)
        return REPLY_QUEUED.format(id=queue_id)
