"""``runtime.sender_check``: a batch's mails are authenticated side by side on a bounded pool;
what a receiving connector computed is used as is; DNS that hangs ends in temperror, never in a
failed or stuck run; DNS that is down is asked a few times, not a few times per mail."""

from __future__ import annotations

import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from builders import Attachment, make_mail, make_pdf, make_sized_pdf
from harness.dkim_keys import DkimKey
from invoice_inbox.pipeline.decide import decide
from invoice_inbox.pipeline.trust.result import AuthStatus, DnsTempError, Envelope, SenderAuth
from invoice_inbox.runtime import configure
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.sender_check import (
    Breaker,
    Mail,
    SenderCheck,
    stored_envelope,
)
from invoice_inbox.runtime.source_plan import SourcePlan
from invoice_inbox.store import sources


@pytest.fixture
def app(tmp_path: Path) -> App:
    return App.open(tmp_path / "data")


def plan_of(app: App, **settings: object) -> SourcePlan:
    with app.db.session() as s:
        fields = {
            "name": "ap",
            "company": "ACME",
            "host": "imap.acme.example",
            "username": "ap@acme.example",
            "password": "pw",
        }
        configure.create(app, s, {**fields, **settings})
    with app.db.session() as s:
        return SourcePlan.of(sources.get(s, "ap"))


def signed(n: int) -> bytes:
    raw = make_mail(
        from_="billing@supplier.test",
        subject=f"Invoice {n}",
        attachments=[Attachment(f"{n}.pdf", make_pdf(str(n)))],
    )
    return DkimKey.generate("supplier.test").sign(raw)


class SlowDns:
    """A lookup that answers "no such record" after *pause* seconds, counting how many lookups
    were under way at the same time."""

    def __init__(self, pause: float) -> None:
        self.pause = pause
        self.now = self.most = self.calls = 0
        self.lock = threading.Lock()

    def __call__(self, name: str, rdtype: str) -> list[str]:
        with self.lock:
            self.now += 1
            self.calls += 1
            self.most = max(self.most, self.now)
        time.sleep(self.pause)
        with self.lock:
            self.now -= 1
        return []


def test_mails_are_authenticated_side_by_side_on_a_bounded_pool(app: App) -> None:
    plan = plan_of(app)
    dns = SlowDns(0.2)
    check = SenderCheck(plan, lookup=dns, threads=4)
    mails = [Mail(i, signed(i)) for i in range(12)]
    results = check.begin(app.db, mails).results()
    assert len(results) == 12 and dns.calls >= 12
    assert all(r.status is AuthStatus.NONE or r.status is AuthStatus.FAIL for r in results)
    assert 1 < dns.most <= 4


def test_hanging_dns_gives_temperror_and_the_batch_goes_on(app: App) -> None:
    plan = plan_of(app, sender_auth="require")
    release = threading.Event()

    def hangs(name: str, rdtype: str) -> list[str]:
        release.wait(30)
        return []

    try:
        check = SenderCheck(plan, lookup=hangs, deadline=0.0)
        raw = signed(1)
        pending = check.begin(app.db, [Mail(1, raw)])
        (decision,) = pending.apply([decide(raw, plan.policy)])
    finally:
        release.set()
    assert decision.sender_auth is not None
    assert decision.sender_auth.status is AuthStatus.TEMPERROR
    assert decision.verdict == "not_imported"
    assert decision.reason.endswith("a recheck will try again")


def test_what_the_receiving_connector_computed_is_used(app: App) -> None:
    """The import address authenticates at DATA time (it knows the client and MAIL FROM): its
    result is taken as it is, and its envelope is passed on when it has no result."""
    plan = plan_of(app)
    known = SenderAuth(AuthStatus.PASS, "SPF pass for supplier.test; DMARC pass", "supplier.test")
    envelope = Envelope("127.0.0.2", "mx.supplier.test", "bounce@supplier.test")

    class Received:  # the interface runtime.inbound's connector offers
        def sender_auth(self, key: str) -> SenderAuth | None:
            return known if key == "done" else None

        def envelope(self, key: str) -> Envelope | None:
            return envelope

    asked: list[str] = []

    def lookup(name: str, rdtype: str) -> list[str]:
        asked.append(name)
        return []

    check = SenderCheck(plan, Received(), lookup=lookup)
    done, fresh = check.begin(app.db, [Mail("done", signed(1)), Mail("new", signed(2))]).results()
    assert done is known
    assert fresh.status is not AuthStatus.PASS and asked  # computed here, with DNS


def test_dns_that_is_down_is_not_asked_for_every_mail() -> None:
    calls = 0

    def down(name: str, rdtype: str) -> list[str]:
        nonlocal calls
        calls += 1
        raise DnsTempError("DNS (127.0.0.1:9) did not answer in time")

    breaker = Breaker(down, slow=0.0)
    for _ in range(10):
        with pytest.raises(DnsTempError):
            breaker("s1._domainkey.supplier.test", "TXT")
    assert calls == 3


def test_a_quick_servfail_of_one_domain_does_not_count_as_dns_down() -> None:
    calls = 0

    def servfail(name: str, rdtype: str) -> list[str]:
        nonlocal calls
        calls += 1
        raise DnsTempError("DNS answered SERVFAIL for broken.test TXT")

    breaker = Breaker(servfail)  # answers come at once: each is that domain's trouble
    for _ in range(10):
        with pytest.raises(DnsTempError):
            breaker("broken.test", "TXT")
    assert calls == 10


def test_a_big_signed_mail_is_authenticated_without_a_copy(app: App) -> None:
    """The DKIM body hash reads the mail in pieces: checking a big mail holds no copy of it."""
    key = DkimKey.generate("supplier.test")
    pdf = make_sized_pdf(6 * 1024 * 1024, seed=3)
    raw = key.sign(make_mail(from_="billing@supplier.test", attachments=[Attachment("a.pdf", pdf)]))
    del pdf

    def lookup(name: str, rdtype: str) -> list[str]:
        return [key.txt] if name == key.record_name and rdtype == "TXT" else []

    check = SenderCheck(plan_of(app), lookup=lookup)
    # the pool's thread, the imports, the public suffix list (built on the first From domain)
    check.begin(app.db, [Mail(1, make_mail(from_="billing@supplier.test"))]).results()
    tracemalloc.start()
    [auth] = check.begin(app.db, [Mail(1, raw)]).results()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert auth.status is AuthStatus.PASS, auth.reason
    assert peak < len(raw) // 8, f"{peak} bytes for a {len(raw)}-byte mail"


def test_a_stored_envelope_is_read_back_for_authenticating_again() -> None:
    from invoice_inbox.store.models import Message

    seen = Envelope("127.0.0.2", "mx.supplier.test", "billing@supplier.test")
    auth = SenderAuth(
        AuthStatus.TEMPERROR,
        "DNS did not answer",
        results={
            "envelope": {
                "client_ip": "127.0.0.2",
                "helo": "mx.supplier.test",
                "mail_from": "billing@supplier.test",
            }
        },
    )
    assert stored_envelope(Message(auth_results=auth.to_json())) == seen
    assert stored_envelope(Message(auth_results=None)) is None
    assert stored_envelope(Message(auth_results={"results": {"envelope": {"helo": "x"}}})) is None


class ThreadNames:
    """A lookup that answers at once and notes which thread asked."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def __call__(self, name: str, rdtype: str) -> list[str]:
        self.names.add(threading.current_thread().name)
        return []


def test_the_runs_threads_serve_batch_after_batch(app: App) -> None:
    """Threads are started once for a run, not for each batch (starting them made the deciding
    wait); ``close`` ends them."""
    dns = ThreadNames()
    check = SenderCheck(app_plan := plan_of(app), lookup=dns, threads=2)
    assert app_plan.name == "ap"
    before = set(threading.enumerate())
    for batch in range(5):
        check.begin(app.db, [Mail(i, signed(10 * batch + i)) for i in range(4)]).results()
    started = [t for t in threading.enumerate() if t not in before]
    assert len(dns.names) <= 2 and len(started) <= 2
    check.close()
    for t in started:
        t.join(5)
    assert not any(t.is_alive() for t in started)


def test_after_dns_outlived_the_deadline_the_next_batch_gets_new_threads(app: App) -> None:
    release = threading.Event()
    names: list[int] = []  # the asking threads (the first is still stuck when others ask)

    def hangs_once(name: str, rdtype: str) -> list[str]:
        names.append(threading.get_ident())
        if len(names) == 1:
            release.wait(30)
        return []

    check = SenderCheck(plan_of(app), lookup=hangs_once, threads=1, deadline=0.5)
    try:
        (first,) = check.begin(app.db, [Mail(1, signed(1))]).results()
        (second,) = check.begin(app.db, [Mail(2, signed(2))]).results()
    finally:
        release.set()
        check.close()
    assert first.status is AuthStatus.TEMPERROR
    assert second.status is not AuthStatus.TEMPERROR  # a fresh thread, not the stuck one
    assert len(names) >= 2 and names[0] != names[-1]


def test_a_late_mail_leaves_the_others_their_results(app: App) -> None:
    """One mail's DNS hangs past the deadline: it is temperror, and the batch's other mails,
    taken by the other thread meanwhile, keep what they found."""
    release = threading.Event()

    def hangs_for_one(name: str, rdtype: str) -> list[str]:
        if "hangs.test" in name:
            release.wait(30)
        return []

    raws = [make_mail(from_="billing@hangs.test")] + [
        make_mail(from_=f"billing@s{i}.test", subject=f"Invoice {i}") for i in range(6)
    ]
    check = SenderCheck(plan_of(app), lookup=hangs_for_one, threads=2, deadline=0.5)
    try:
        results = check.begin(app.db, [Mail(i, raw) for i, raw in enumerate(raws)]).results()
    finally:
        release.set()
        check.close()
    assert [r.status for r in results] == [AuthStatus.TEMPERROR] + [AuthStatus.NONE] * 6
    assert [r.from_domain for r in results[1:]] == [f"s{i}.test" for i in range(6)]


def test_each_mail_of_a_batch_gets_the_lookalike_of_its_own_domain(app: App) -> None:
    """A batch's look-alike answers are kept by From domain: each mail still gets its own."""
    plan = plan_of(app, allowed_senders=["*@supplier.test", "*@parts-depot.test"])
    senders = [
        "billing@supp1ier.test",
        "billing@parts-dep0t.test",
        "billing@supp1ier.test",
        "billing@supplier.test",
        "billing@unrelated.test",
        "billing@parts-dep0t.test",
        "billing@unrelated.test",
    ]
    raws = [make_mail(from_=s, subject=f"Invoice {i}") for i, s in enumerate(senders)]
    check = SenderCheck(plan, lookup=lambda name, rdtype: [])
    try:
        pending = check.begin(app.db, [Mail(i, raw) for i, raw in enumerate(raws)])
        decided = pending.apply([decide(raw, plan.policy) for raw in raws])
    finally:
        check.close()
    assert [d.lookalike_of for d in decided] == [
        "supplier.test",
        "parts-depot.test",
        "supplier.test",
        None,
        None,
        "parts-depot.test",
        None,
    ]
