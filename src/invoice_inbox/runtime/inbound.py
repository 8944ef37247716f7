"""Mail received at a company's central import address goes through the same sync as a mailbox.

Each accepted message is one run of the company's import source, on a one-message connector:
the same decision, blobs, ledger row and documents in one transaction, the same duplicate
checks (the raw SHA-256 and the documents' hashes). ``deliver`` returns only after that
transaction is committed, so the SMTP receiver answers 250 only for stored mail.

Several receivers may run on one database (``serve --no-scheduler --smtp-port``), and a sender
that did not hear our 250 (a timeout, a dropped connection) delivers the same mail again,
maybe to another receiver, maybe while the first is still storing it. So each delivery first
claims its keys (``store.inbound_claims``): the raw SHA-256, and the Message-ID with the
envelope sender (a copy sent again with a new ``Received:`` line has other bytes). The claim
that loses waits for the winner to be stored, then is recorded on the ledger as a duplicate of
it and answered 250 too, so the sender stops.

The stored mail carries our ``Authentication-Results`` on top, which may differ between two
deliveries of the same mail (another client address, another SPF result). So the keys are
taken from the bytes as received, and a delivery whose received bytes were stored before is
recorded as a copy of that mail whatever header it got this time. The receiver's sender
authentication reaches the run through the connector (``Delivered.sender_auth``), so the run
does not ask DNS again.

Each receiver asks ``terms`` at RCPT: the source's sender policy, and whether its company
took its daily cap of mail today (UTC): its own ``smtp_daily_cap``, else the service's.
The count is today's ledger rows of the import source, so every receiver on the database
sees the same; deliveries under way when the cap is reached may pass it by a few.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from datetime import time as clock_time
from typing import Literal

from sqlalchemy import func, select

from invoice_inbox.connectors.base import Changes
from invoice_inbox.connectors.smtp_arrival import Arrival, Terms
from invoice_inbox.errors import FolderMissing
from invoice_inbox.pipeline import mime
from invoice_inbox.pipeline.trust.result import Envelope, SenderAuth
from invoice_inbox.reasons import english, from_json, part, to_json
from invoice_inbox.runtime import lease
from invoice_inbox.runtime.batch_decide import DUPLICATE
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.run_summary import RunSummary
from invoice_inbox.runtime.sync import TOKEN_EPOCH, sync_source
from invoice_inbox.store import companies, inbound_claims, sources
from invoice_inbox.store.models import Message, MessageState, Run, RunStatus, utcnow

log = logging.getLogger(__name__)

FOLDER = "INBOX"
DAILY_CAP = 5000  # mails a day per company when neither it nor the receiver sets one


class Delivered:
    """A token connector holding one received message and nothing else, with what the receiver
    saw of it: the envelope and the sender authentication it did."""

    cursor_kind: Literal["token"] = "token"

    def __init__(
        self, raw: bytes, *, envelope: Envelope | None = None, auth: SenderAuth | None = None
    ) -> None:
        self.id = f"smtp-{uuid.uuid4().hex}"
        self.raw = raw
        self._envelope, self._auth = envelope, auth

    def envelope(self, key: object) -> Envelope | None:
        """The SMTP envelope of the message *key* (client address, HELO, MAIL FROM)."""
        return self._envelope if key == self.id else None

    def sender_auth(self, key: object) -> SenderAuth | None:
        """The receiver's SPF/DKIM/DMARC result for the message *key* (None: not checked)."""
        return self._auth if key == self.id else None

    def check(self) -> list[str]:
        return [FOLDER]

    def list_folders(self) -> list[str]:
        return [FOLDER]

    def open_folder(self, folder: str) -> None:
        if folder != FOLDER:
            raise FolderMissing(folder, [FOLDER])

    def changes(
        self, cursor: str | None, *, unread_only: bool = False, since: date | None = None
    ) -> Changes:
        return Changes(ids=[self.id], cursor=cursor or "")

    def fetch(self, ids: Iterable[str], *, batch: int = 100) -> Iterator[tuple[str, bytes]]:
        if self.id in ids:
            yield self.id, self.raw

    def ensure_folder(self, folder: str) -> None:
        return None

    def move(self, ids: Iterable[str], target: str) -> None:
        return None  # received mail is in no mailbox: there is nothing to file

    def mark_seen(self, ids: Iterable[str]) -> None:
        return None

    def close(self) -> None:
        return None


class Inbox:
    """Stores received mail for the SMTP receiver: ``resolve`` and ``deliver`` callbacks."""

    def __init__(self, app: App, *, busy_wait: float = 60.0, daily_cap: int = DAILY_CAP) -> None:
        """*daily_cap*: a company's mails a day when it has no ``smtp_daily_cap`` (0: none)."""
        self.app = app
        self.busy_wait = busy_wait
        self.daily_cap = daily_cap
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def resolve(self, address: str) -> str | None:
        local, _, _ = address.rpartition("@")
        with self.app.db.session() as s:
            return companies.resolve(s, local)

    def terms(self, source_name: str) -> Terms:
        """The source's sender policy, and a sentence when its company's cap is reached."""
        with self.app.db.session() as s:
            source = sources.get(s, source_name)
            cap = source.company.smtp_daily_cap
            cap = self.daily_cap if cap is None else cap
            policy = source.sender_auth or "flag"
            if cap <= 0:
                return Terms(policy)
            midnight = datetime.combine(utcnow().date(), clock_time(), tzinfo=UTC)
            today = s.scalar(
                select(func.count())
                .select_from(Message)
                .where(Message.source_id == source.id, Message.received_at >= midnight)
            )
        if (today or 0) < cap:
            return Terms(policy)
        return Terms(policy, f"this import address took its {cap} mails for today, try tomorrow")

    def deliver(self, source_name: str, mail: Arrival) -> RunSummary:
        """Decide and commit one received message, or record it as a duplicate of the same
        mail delivered before; raises when it could not be stored."""
        with self._guard:
            lock = self._locks.setdefault(source_name, threading.Lock())
        with self.app.db.session() as s:
            source_id = sources.get(s, source_name).id
        raw = mail.raw
        sha = hashlib.sha256(raw).hexdigest()
        received_sha = sha if mail.received is raw else hashlib.sha256(mail.received).hexdigest()
        raw_key, keys = delivery_keys(mail.received, received_sha, mail.mail_from)
        owner = lease.new_owner()
        deadline = time.monotonic() + self.busy_wait
        with lock:  # deliveries to one company take turns in this process
            inbound_claims.purge(self.app.db)
            while (held := inbound_claims.claim(self.app.db, source_id, keys, owner)) is not None:
                if held.message_id is not None:
                    if held.key == raw_key and self._stored_as(held.message_id, sha):
                        # the same bytes stored: the ledger knows them (sync)
                        again = Delivered(raw, envelope=mail.envelope, auth=mail.auth)
                        return self._store(source_name, again, deadline)
                    return self._record_copy(source_id, source_name, raw, sha, held.message_id)
                if held.stale(utcnow()):
                    inbound_claims.drop_stale(self.app.db, held)
                elif time.monotonic() > deadline:
                    raise lease.SourceBusy("the same mail is still being stored by another process")
                else:
                    time.sleep(0.05)  # the same mail, being stored by another delivery
            delivered = Delivered(raw, envelope=mail.envelope, auth=mail.auth)
            try:
                summary = self._store(source_name, delivered, deadline)
            except BaseException:
                inbound_claims.give_back(self.app.db, source_id, keys, owner)
                raise
            try:
                inbound_claims.complete(self.app.db, source_id, keys, owner, delivered.id)
            except Exception:  # stored all the same: a later copy waits for the claim to go stale
                log.exception("could not complete the claim of a stored mail")
            return summary

    def _stored_as(self, message_id: int, sha: str) -> bool:
        """Whether the ledger row *message_id* holds exactly these bytes."""
        with self.app.db.session() as s:
            return s.scalar(select(Message.raw_sha256).where(Message.id == message_id)) == sha

    def _store(self, source_name: str, delivered: Delivered, deadline: float) -> RunSummary:
        while True:
            try:
                return sync_source(self.app, source_name, delivered, trigger="smtp")
            except lease.SourceBusy:  # a recheck in another process; wait for it
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _record_copy(
        self, source_id: int, source_name: str, raw: bytes, sha: str, original_id: int
    ) -> RunSummary:
        """Record a copy of a stored mail (its Message-ID and sender, other bytes) as a
        duplicate: its own run and ledger row, its bytes kept, nothing queued."""
        self.app.blobs.put_many([(sha, raw)])
        h = mime.parse_headers(raw)
        now = utcnow()
        with self.app.db.session() as s:
            original = s.get(Message, original_id)
            assert original is not None  # a claim is deleted with its ledger row
            said = from_json(original.reason_parts) or original.reason
            copy = (
                part("received_again_id", message_id=h.message_id, original=said)
                if h.message_id
                else part("received_again", original=said),
            )
            run = Run(
                source_id=source_id,
                trigger="smtp",
                status=RunStatus.SUCCEEDED,
                started_at=now,
                finished_at=now,
                messages_seen=1,
                duplicates=1,
            )
            s.add(run)
            s.flush()
            s.add(
                Message(
                    source_id=source_id,
                    run_id=run.id,
                    folder=FOLDER,
                    uidvalidity=TOKEN_EPOCH,
                    remote_id=Delivered(raw).id,
                    raw_sha256=sha,
                    raw_size=len(raw),
                    message_id=h.message_id,
                    sender=h.sender,
                    subject=h.subject[:1000],
                    sent_at=h.date,
                    decision=DUPLICATE,
                    reason=english(copy),
                    reason_parts=to_json(copy),
                    hits=[],
                    state=MessageState.DISPOSED,  # received mail is in no mailbox to file
                    duplicate_of_id=original.duplicate_of_id or original.id,
                )
            )
        return RunSummary(
            run_id=run.id,
            source=source_name,
            status=RunStatus.SUCCEEDED,
            messages_seen=1,
            duplicates=1,
        )


def delivery_keys(raw: bytes, sha: str, mail_from: str) -> tuple[str, list[str]]:
    """The raw key and every key of a delivery: the raw SHA-256, and (when the mail has one)
    the Message-ID with the envelope sender (the recipient is the claim's import source)."""
    raw_key = hashlib.sha256(f"raw\0{sha}".encode()).hexdigest()
    message_id = mime.parse_headers(raw).message_id
    if not message_id:
        return raw_key, [raw_key]
    mid = f"mid\0{message_id.strip()}\0{mail_from.lower()}"
    return raw_key, [raw_key, hashlib.sha256(mid.encode("utf-8", "surrogatepass")).hexdigest()]
