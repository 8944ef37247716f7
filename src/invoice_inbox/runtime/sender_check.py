"""Sender authentication in a run: who each freshly fetched mail proves its sender is, and what
the source's sender policy makes of it.

``SenderCheck.begin`` starts authenticating a batch's mails on a small thread pool (their DNS
lookups overlap, and overlap with the deciding, which runs in worker processes meanwhile);
``Pending.apply`` waits for the results and applies the policy (``pipeline.trust.policy``) to
each mail's decision, with its look-alike domain and the company's blocked domains. A mail's
DKIM is verified here; its SPF and DMARC results come from the ``Authentication-Results`` of
the authserv-ids the source trusts, or, for the import address, from what the receiver saw
(its connector's ``sender_auth(key)`` or ``envelope(key)``). A recheck passes the results
stored on the ledger instead, so only mail without any, or whose DNS failed, is asked again.

Nothing here fails a run: a mail whose authentication raises is "none" with the reason, one
that takes longer than ``deadline`` seconds is "temperror" (a recheck tries it again), and a
mail too big to be decided is not checked. Checking a DKIM body hash copies nothing of the
mail (``pipeline.trust.dkim_body`` reads it in pieces), so big mails are checked side by side.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from invoice_inbox.connectors.dns import resolver_for
from invoice_inbox.pipeline.decide import Decision
from invoice_inbox.pipeline.trust import policy
from invoice_inbox.pipeline.trust.authenticate import authenticate
from invoice_inbox.pipeline.trust.lookalike import lookalike_of
from invoice_inbox.pipeline.trust.result import (
    AuthStatus,
    DnsTempError,
    Envelope,
    Lookup,
    SenderAuth,
)
from invoice_inbox.runtime.source_plan import SourcePlan
from invoice_inbox.store import supplier_views
from invoice_inbox.store.db import Database
from invoice_inbox.store.models import Message

THREADS = 8  # mails authenticated at the same time: their DNS waits overlap
DEADLINE = 60.0  # seconds a batch's authentication may take beyond its deciding
GRACE = 5.0
DOWN_AFTER = 3  # lookups in a row that waited SLOW seconds and failed: DNS counts as down ...
SLOW = 1.0
DOWN_FOR = 30.0  # ... and is not asked for this many seconds (each lookup fails at once)

Key = int | str | None  # a mail's key on its connector (None: not on one, a recheck)


@dataclass(frozen=True)
class Mail:
    """One mail to check: its key, raw bytes, and the results stored for it (a recheck)."""

    key: Key
    raw: bytes
    stored: SenderAuth | None = None
    envelope: Envelope | None = None  # what the import address saw (a recheck: as stored)


@dataclass(frozen=True)
class Company:
    """What the policy needs to know of the source's company: its known sender domains (its
    suppliers' and every source's allowed senders') and its blocked domains, with why."""

    known: frozenset[str]
    blocked: dict[str, str]
    # each From domain's answer, once asked: a batch has few senders, and comparing one with
    # every known domain costs more than authenticating its mail
    _lookalikes: dict[str, str | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def load(cls, db: Database, company_id: int) -> Company:
        with db.session() as s:
            known, blocked = supplier_views.sender_domains(s, company_id)
        return cls(frozenset(d.lower().rstrip(".") for d in known if d), blocked)

    def lookalike(self, domain: str | None) -> str | None:
        """The known domain *domain* imitates, or None (never for a known domain itself)."""
        if not domain or domain in self.known or not self.known:
            return None
        if domain in self._lookalikes:
            return self._lookalikes[domain]
        try:
            found = lookalike_of(domain, self.known)
        except Exception:  # an odd name (bad IDNA): not a look-alike we can tell
            found = None
        self._lookalikes[domain] = found
        return found


class Breaker:
    """A lookup that stops asking a DNS that does not answer: after ``DOWN_AFTER`` lookups in a
    row that waited and failed (a quick SERVFAIL is one domain's trouble, not counted), every
    lookup fails at once for ``DOWN_FOR`` seconds, so a run with DNS down takes a few timeouts,
    not a few for every mail."""

    def __init__(
        self,
        lookup: Lookup,
        *,
        slow: float = SLOW,
        after: int = DOWN_AFTER,
        down_for: float = DOWN_FOR,
    ) -> None:
        self._lookup = lookup
        self.slow, self.after, self.down_for = slow, after, down_for
        self._lock = threading.Lock()
        self._failures = 0
        self._down_until = 0.0
        self._why = ""

    def __call__(self, name: str, rdtype: str) -> list[str]:
        with self._lock:
            if time.monotonic() < self._down_until:
                raise DnsTempError(f"DNS is not answering ({self._why})")
        started = time.monotonic()
        try:
            found = self._lookup(name, rdtype)
        except DnsTempError as exc:
            if time.monotonic() - started < self.slow:
                raise
            with self._lock:
                self._failures += 1
                if self._failures >= self.after:
                    self._down_until, self._why = time.monotonic() + self.down_for, str(exc)
            raise
        with self._lock:
            self._failures = 0
        return found


def _failing(sentence: str) -> Lookup:
    def lookup(name: str, rdtype: str) -> list[str]:
        raise DnsTempError(sentence)

    return lookup


class SenderCheck:
    """The sender authentication of one run of a source (see the module docstring).

    *connector*: the run's connector; one that received the mail itself (the import address)
    may offer ``sender_auth(key)`` and ``envelope(key)``. *lookup*: the DNS lookup (default:
    the shared resolver for ``INVOICE_INBOX_DNS_SERVER``, else the system's)."""

    def __init__(
        self,
        plan: SourcePlan,
        connector: object | None = None,
        *,
        lookup: Lookup | None = None,
        threads: int = THREADS,
        deadline: float = DEADLINE,
    ) -> None:
        self.plan = plan
        self.connector = connector
        self._lookup = lookup
        self.threads = threads
        self.deadline = deadline
        # the run's threads, kept from batch to batch (starting threads for each batch made
        # the deciding wait for them); a batch whose DNS outlived the deadline leaves them to
        # finish on their own, and the next batch gets new ones
        self._pool: cf.ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()  # a sync begins the next batch on a thread of its own

    @property
    def lookup(self) -> Lookup:
        if self._lookup is None:
            try:  # INVOICE_INBOX_DNS_SERVER, else the system's (serve and worker check it)
                self._lookup = Breaker(resolver_for(None).lookup)
            except ValueError as exc:  # a wrong setting: every mail says so, none fails
                self._lookup = _failing(str(exc))
        return self._lookup

    def begin(self, db: Database, mails: Sequence[Mail]) -> Pending:
        """Start checking *mails*; the company's domains are read now."""
        company = Company.load(db, self.plan.company_id) if mails else Company(frozenset(), {})
        lookup = self.lookup  # made here, not by the pool's threads at once
        ready: list[SenderAuth | None] = []
        for mail in mails:
            given = mail.stored or self._given(mail.key)
            if given is None and len(mail.raw) > self.plan.policy.max_message_bytes:
                given = SenderAuth(AuthStatus.NONE, "not checked: the message is too big")
            ready.append(given)
        work = _Work(self, mails, lookup, ready)
        pool: cf.ThreadPoolExecutor | None = None
        if work.left:
            with self._pool_lock:
                if self._pool is None:
                    self._pool = cf.ThreadPoolExecutor(
                        self.threads, thread_name_prefix="sender-auth"
                    )
                pool = self._pool
                for _ in range(min(self.threads, len(work.left))):
                    pool.submit(work.run)
        return Pending(self, company, work, pool)

    def _abandon(self, pool: cf.ThreadPoolExecutor) -> None:
        """*pool*'s threads wait on DNS past a deadline: they finish on their own, unwaited."""
        with self._pool_lock:
            if self._pool is pool:
                self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """The run is over: its threads end once idle (one waiting on DNS, when it is done)."""
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None

    def _given(self, key: Key) -> SenderAuth | None:
        """The result the connector computed when it received the mail, if it did."""
        given = getattr(self.connector, "sender_auth", None)
        if key is None or not callable(given):
            return None
        try:
            found = given(key)
        except Exception:
            return None
        return found if isinstance(found, SenderAuth) else None

    def _envelope(self, key: Key) -> Envelope | None:
        envelope = getattr(self.connector, "envelope", None)
        if key is None or not callable(envelope):
            return None
        try:
            found = envelope(key)
        except Exception:
            return None
        return found if isinstance(found, Envelope) else None

    def _authenticate(self, mail: Mail, lookup: Lookup) -> SenderAuth:
        try:
            return authenticate(
                mail.raw,
                lookup=lookup,
                envelope=mail.envelope or self._envelope(mail.key),
                trusted_authserv_ids=self.plan.trusted_authserv_ids,
            )
        except Exception as exc:  # hostile or odd mail: recorded, never a failed run
            return SenderAuth(
                AuthStatus.NONE,
                f"sender authentication could not read the message: {type(exc).__name__}",
            )


class _Work:
    """A batch's mails to authenticate, taken one at a time by the pool's threads (a task per
    thread, not per mail: submitting and waiting for a future cost as much as a mail whose DNS
    answers are cached); each result is put in its mail's slot."""

    def __init__(
        self,
        check: SenderCheck,
        mails: Sequence[Mail],
        lookup: Lookup,
        ready: list[SenderAuth | None],
    ) -> None:
        self.check, self.mails, self.lookup = check, mails, lookup
        self.slots = ready  # a mail's result once known (given, or authenticated here)
        self.left = collections.deque(i for i, r in enumerate(ready) if r is None)
        self.stopped = False  # the batch ended or is late: what has not started never starts
        self.changed = threading.Condition()

    def run(self) -> None:
        """Authenticate mails until none are left (or the batch is stopped)."""
        while not self.stopped:
            try:
                i = self.left.popleft()
            except IndexError:
                return
            try:
                found = self.check._authenticate(self.mails[i], self.lookup)
            except BaseException as exc:  # _authenticate catches; this is an interrupt
                found = SenderAuth(AuthStatus.NONE, f"not checked: {type(exc).__name__}")
            with self.changed:
                self.slots[i] = found
                self.changed.notify_all()

    def wait(self, i: int, until: float) -> SenderAuth | None:
        """Mail *i*'s result, waiting for it until the monotonic time *until*; None if late."""
        found = self.slots[i]
        if found is not None:
            return found
        with self.changed:
            while (found := self.slots[i]) is None:
                left = until - time.monotonic()
                if left <= 0:
                    return None
                self.changed.wait(left)
        return found


class Pending:
    """A batch's sender authentication under way."""

    def __init__(
        self,
        check: SenderCheck,
        company: Company,
        work: _Work,
        pool: cf.ThreadPoolExecutor | None,
    ) -> None:
        self.check, self.company = check, company
        self._work, self._pool = work, pool
        self._done: list[SenderAuth] | None = None
        self._until = time.monotonic() + check.deadline

    def results(self) -> list[SenderAuth]:
        """Each mail's result, in order; waits for them (up to the deadline)."""
        if self._done is not None:
            return list(self._done)
        # a few seconds at least once the deciding is done, however long that took
        until = max(self._until, time.monotonic() + min(GRACE, self.check.deadline))
        done: list[SenderAuth] = []
        late = False
        for i in range(len(self._work.slots)):
            found = self._work.wait(i, until)
            if found is None:
                self._work.stopped = True  # the mails not started yet are not started
                late = True
                found = SenderAuth(
                    AuthStatus.TEMPERROR,
                    f"DNS answers took longer than {self.check.deadline:.0f} s",
                )
            done.append(found)
        self._done = done
        if late and self._pool is not None:  # threads still waiting on DNS finish on their own
            self.check._abandon(self._pool)
        self._pool = None
        return list(done)

    def apply(self, decisions: Sequence[Decision]) -> list[Decision]:
        """*decisions* (one per mail, in order) under the source's sender policy."""
        mode = self.check.plan.sender_auth
        out: list[Decision] = []
        for decision, auth in zip(decisions, self.results(), strict=True):
            domain = policy.from_domain(decision, auth)
            out.append(
                policy.apply(
                    decision,
                    auth,
                    mode=mode,
                    lookalike_of=self.company.lookalike(domain),
                    blocked=self.company.blocked,
                )
            )
        return out

    def close(self) -> None:
        """Stop what has not started (the batch ended without its decisions)."""
        self._work.stopped = True
        self._pool = None


def stored_auth(row: Message) -> SenderAuth | None:
    """The sender authentication stored on a ledger row, unless it has none or its DNS failed
    (then the mail is authenticated again)."""
    if not row.auth_results or row.sender_auth == AuthStatus.TEMPERROR:
        return None
    try:
        auth = SenderAuth.from_json(dict(row.auth_results))
    except (ValueError, TypeError):  # not a result this version can read: ask again
        return None
    return None if auth.status is AuthStatus.TEMPERROR else auth


def stored_envelope(row: Message) -> Envelope | None:
    """The envelope the import address saw for a ledger row's mail (kept with its results), so
    a mail whose DNS failed is authenticated again with its SPF; None for other mail."""
    results = (row.auth_results or {}).get("results")
    seen = results.get("envelope") if isinstance(results, dict) else None
    if not isinstance(seen, dict):
        return None
    try:
        return Envelope(str(seen["client_ip"]), str(seen["helo"]), str(seen["mail_from"]))
    except KeyError:
        return None


def record_auth(row: Message, d: Decision) -> None:
    """Store a decision's sender authentication and look-alike on its ledger row."""
    auth = d.sender_auth
    row.sender_auth = str(auth.status) if auth else None
    row.sender_auth_reason = auth.reason if auth else None
    row.auth_results = auth.to_json() if auth else None
    row.lookalike_of = d.lookalike_of
