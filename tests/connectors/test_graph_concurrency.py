"""GraphConnector.fetch downloads several messages at once against the fake Graph with a
per-request delay: never more than Outlook's 4 per mailbox, in the order asked for, each once,
a Retry-After holding every download thread, and an error failing the fetch at its place.
Sleeps are recorded, never slept."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from fakes.graph import FakeGraph, FakeGraphMailbox
from invoice_inbox.connectors.graph import GraphConnector, GraphSettings
from invoice_inbox.connectors.http import HttpError

MAILBOX = "ap@buyer.example"
LATENCY = 0.03  # per request: enough for the downloads to overlap


def mail(n: int) -> bytes:
    return (
        f"From: billing@supplier.example\r\nTo: {MAILBOX}\r\nSubject: Invoice {n}\r\n"
        f"Message-ID: <inv{n}@supplier.example>\r\n\r\nInvoice {n} attached.\r\n"
    ).encode()


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    with FakeGraph() as server:
        server.latency = LATENCY
        server.concurrency_limit = 4  # as Outlook's MailboxConcurrency
        yield server


@pytest.fixture
def box(fake: FakeGraph) -> FakeGraphMailbox:
    return fake.mailbox(MAILBOX)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def connect(fake: FakeGraph, sleeps: list[float]) -> Iterator:
    opened: list[GraphConnector] = []

    def make(**options: object) -> GraphConnector:
        settings = GraphSettings(
            mailbox=MAILBOX,
            token=lambda renew=False: "access-token",
            base_url=fake.url,
            sleep=sleeps.append,
            **options,  # type: ignore[arg-type]
        )
        opened.append(GraphConnector(settings))
        return opened[-1]

    yield make
    for connector in opened:
        connector.close()


def fill(box: FakeGraphMailbox, count: int) -> list[str]:
    return [box.append("INBOX", mail(n)) for n in range(count)]


def test_downloads_overlap_up_to_the_mailbox_limit_in_order(connect, box, fake, sleeps):
    ids = fill(box, 16)
    fetched = list(connect().fetch(ids))
    assert [i for i, _ in fetched] == ids  # the order asked for, each once
    assert [raw for _, raw in fetched] == [mail(n) for n in range(16)]
    assert 2 <= fake.peak_in_flight[MAILBOX] <= 4  # concurrent, never above Graph's 4
    assert fake.refused_for_concurrency == 0
    assert sleeps == []


def test_the_fake_refuses_a_fifth_concurrent_request_like_graph(box, fake):
    fake.latency = 0.3  # all six are surely in flight together
    ids = fill(box, 6)
    urls = [f"{fake.url}/users/{MAILBOX}/messages/{i}/$value" for i in ids]
    with httpx.Client(headers={"Authorization": "Bearer t"}) as http, ThreadPoolExecutor(6) as run:
        answers = list(run.map(http.get, urls))
    refused = [a for a in answers if a.status_code == 429]
    assert len(refused) == fake.refused_for_concurrency == 2  # 6 at once, 4 allowed
    assert all(a.headers["Retry-After"] == "1" for a in refused)
    assert refused[0].json()["error"]["code"] == "ApplicationThrottled"


def test_retry_after_holds_every_download_thread(connect, box, fake, sleeps):
    ids = fill(box, 16)
    fake.throttle(1, retry_after="30")  # the first request to arrive
    fetched = [i for i, _ in connect().fetch(ids)]
    assert fetched == ids
    # the throttled thread waits 30 s; the other threads wait out the rest of the same hold
    # before their next request instead of sending it
    held = [s for s in sleeps if 20 < s <= 30]
    assert len(held) >= 2, sleeps


def test_a_message_gone_meanwhile_is_skipped_in_place(connect, box, fake):
    ids = fill(box, 10)
    box.delete(ids[4])
    assert [i for i, _ in connect().fetch(ids)] == ids[:4] + ids[5:]


def test_an_error_fails_the_fetch_at_its_place(connect, box, fake):
    ids = fill(box, 12)
    fake.broken[ids[6]] = 400
    got: list[str] = []
    with pytest.raises(HttpError) as failed:
        for message_id, _raw in connect().fetch(ids):
            got.append(message_id)
    assert failed.value.status == 400
    assert got == ids[:6]  # everything before it, nothing after it


def test_closing_the_fetch_early_stops_the_downloads(connect, box, fake):
    ids = fill(box, 40)
    fetch = connect().fetch(ids)
    assert [next(fetch)[0] for _ in range(3)] == ids[:3]
    fetch.close()
    sent = sum(1 for _m, path, _h in fake.requests if path.endswith("/$value"))
    assert sent < 20  # a window ahead, not the whole list
