"""GmailConnector.fetch downloads several messages at once against the fake Gmail API with a
per-request delay: at most ``concurrency`` in flight, in the order asked for, each once, a
Retry-After holding every download thread, and an error failing the fetch at its place.
Sleeps are recorded, never slept."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from builders import make_mail
from fakes.gmail import FakeGmail, FakeGmailMailbox
from invoice_inbox.connectors.gmail import GmailConnector, GmailSettings
from invoice_inbox.connectors.http import HttpError

USER = "ap@buyer.example"
LATENCY = 0.03  # per request: enough for the downloads to overlap


def mail(n: int) -> bytes:
    return make_mail(subject=f"Invoice {n}", body=f"Invoice number {n}.")


@pytest.fixture
def gmail() -> Iterator[FakeGmail]:
    with FakeGmail() as fake:
        fake.latency = LATENCY
        fake.concurrency_limit = 4
        yield fake


@pytest.fixture
def box(gmail: FakeGmail) -> FakeGmailMailbox:
    return gmail.mailbox(USER)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def connect(gmail: FakeGmail, box: FakeGmailMailbox, sleeps: list[float]) -> Iterator:
    made: list[GmailConnector] = []

    def make(**options: object) -> GmailConnector:
        settings = GmailSettings(
            user=USER,
            token=lambda renew=False: "token",
            base_url=gmail.url,
            sleep=sleeps.append,
            **options,  # type: ignore[arg-type]
        )
        made.append(GmailConnector(settings))
        made[-1].open_folder("INBOX")
        return made[-1]

    yield make
    for conn in made:
        conn.close()


def fill(box: FakeGmailMailbox, count: int) -> list[str]:
    return [box.append("INBOX", mail(n)) for n in range(count)]


def raw_gets(gmail: FakeGmail) -> int:
    return sum(1 for m, t, _ in gmail.requests if m == "GET" and "format=raw" in t)


def test_downloads_overlap_within_the_limit_in_order(connect, box, gmail, sleeps):
    raws = [mail(n) for n in range(16)]
    ids = [box.append("INBOX", raw) for raw in raws]
    conn = connect()
    fetched = list(conn.fetch(ids))
    assert [i for i, _ in fetched] == ids  # the order asked for, each once
    assert [raw for _, raw in fetched] == raws
    assert 2 <= gmail.peak_in_flight <= 4
    assert gmail.refused_for_concurrency == 0
    assert raw_gets(gmail) == 16
    assert sleeps == []


def test_retry_after_holds_every_download_thread(connect, box, gmail, sleeps):
    ids = fill(box, 16)
    conn = connect()
    gmail.throttle(1, status=429, retry_after="30")  # the first download to arrive
    assert [i for i, _ in conn.fetch(ids)] == ids
    held = [s for s in sleeps if 20 < s <= 30]
    assert len(held) >= 2, sleeps  # not only the throttled thread waited


def test_gone_or_moved_away_meanwhile_is_skipped_in_place(connect, box, gmail):
    ids = fill(box, 10)
    conn = connect()
    box.delete(ids[2])
    box.relabel(ids[7], add=["Elsewhere"], remove=["INBOX"])  # moved by someone else
    assert [i for i, _ in conn.fetch(ids)] == [i for n, i in enumerate(ids) if n not in (2, 7)]


def test_an_error_fails_the_fetch_at_its_place(connect, box, gmail):
    ids = fill(box, 12)
    conn = connect()
    gmail.broken[ids[6]] = 400
    got: list[str] = []
    with pytest.raises(HttpError) as failed:
        for message_id, _raw in conn.fetch(ids):
            got.append(message_id)
    assert failed.value.status == 400
    assert got == ids[:6]  # everything before it, nothing after it


def test_closing_the_fetch_early_stops_the_downloads(connect, box, gmail):
    ids = fill(box, 40)
    fetch = connect().fetch(ids)
    assert [next(fetch)[0] for _ in range(3)] == ids[:3]
    fetch.close()
    assert raw_gets(gmail) < 20  # a window ahead, not the whole list
