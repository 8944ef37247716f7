"""GraphConnector against the local fake Microsoft Graph (tests/fakes/graph.py).

Every test starts its own fake on a random loopback port; sleeps are recorded, never slept.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime

import httpx
import pytest

from fakes.graph import FakeGraph, FakeGraphMailbox
from invoice_inbox.connectors.graph import GraphConnector, GraphSettings
from invoice_inbox.errors import (
    ConnectFailed,
    FolderMissing,
    LoginFailed,
    ProtocolFailed,
)

MAILBOX = "ap@buyer.example"
IMMUTABLE = 'IdType="ImmutableId"'


def mail(n: int, body: str = "Please find the invoice attached.") -> bytes:
    return (
        f"From: billing@supplier.example\r\nTo: {MAILBOX}\r\nSubject: Invoice {n}\r\n"
        f"Message-ID: <inv{n}@supplier.example>\r\n\r\n{body}\r\n"
    ).encode()


def token(renew: bool = False) -> str:
    return "access-token"


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    with FakeGraph() as server:
        yield server


@pytest.fixture
def box(fake: FakeGraph) -> FakeGraphMailbox:
    return fake.mailbox(MAILBOX)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def connect(fake: FakeGraph, sleeps: list[float]) -> Iterator[Callable[..., GraphConnector]]:
    opened: list[GraphConnector] = []

    def make(**overrides: object) -> GraphConnector:
        options: dict[str, object] = {
            "mailbox": MAILBOX,
            "token": token,
            "base_url": fake.url,
            "sleep": sleeps.append,
        }
        options.update(overrides)
        connector = GraphConnector(GraphSettings(**options))  # type: ignore[arg-type]
        opened.append(connector)
        return connector

    yield make
    for connector in opened:
        connector.close()


def delta_requests(fake: FakeGraph) -> list[str]:
    return [path for method, path, _ in fake.requests if "/messages/delta" in path]


# -- folders ------------------------------------------------------------------------------


def test_folders_nested_and_paged(connect, box, fake):
    for n in range(105):  # more top-level folders than the connector's $top=100
        box.create_folder(f"Supplier {n:03d}")
    box.create_folder("Invoices/2026/Q1")
    box.create_folder("INBOX/Scanned")

    names = connect().check()

    assert {"Inbox", "Archive", "Deleted Items", "Junk Email", "Drafts", "Sent Items"} <= set(names)
    assert {"Invoices", "Invoices/2026", "Invoices/2026/Q1", "Inbox/Scanned"} <= set(names)
    assert {f"Supplier {n:03d}" for n in range(105)} <= set(names)
    assert len(names) == len(set(names)) == len(box.folders())
    assert names.index("Invoices") < names.index("Invoices/2026") < names.index("Invoices/2026/Q1")
    listings = [p for m, p, _ in fake.requests if p.split("?")[0].endswith("/mailFolders")]
    assert any("$skip=100" in p for p in listings)  # the second page was fetched


def test_open_folder_names(connect, box):
    box.create_folder("Invoices/2026")
    connector = connect()
    for name in ("INBOX", "inbox", "Inbox", "deleteditems", "Invoices/2026", "invoices/2026"):
        connector.open_folder(name)  # no error
    with pytest.raises(FolderMissing) as missing:
        connector.open_folder("Invoices/2027")
    assert missing.value.folder == "Invoices/2027"
    assert "Invoices/2026" in missing.value.existing


def test_open_folder_sees_folders_created_meanwhile(connect, box):
    connector = connect()
    connector.list_folders()
    box.create_folder("Late")
    connector.open_folder("Late")


# -- changes ------------------------------------------------------------------------------


def test_new_mail_found_once(connect, box):
    first = box.append("INBOX", mail(1))
    second = box.append("INBOX", mail(2))
    box.append("Archive", mail(3))
    connector = connect()
    connector.open_folder("INBOX")

    initial = connector.changes(None)
    assert initial.ids == [first, second]
    assert initial.full is True

    third = box.append("INBOX", mail(4))
    later = connector.changes(initial.cursor)
    assert later.ids == [third]
    assert later.full is False

    assert connector.changes(later.cursor).ids == []


def test_ids_oldest_first_whatever_the_listing_order(connect, box):
    a = box.append("INBOX", mail(1), received=datetime(2026, 3, 3, 9, tzinfo=UTC))
    b = box.append("INBOX", mail(2), received=datetime(2026, 3, 1, 9, tzinfo=UTC))
    c = box.append("INBOX", mail(3), received=datetime(2026, 3, 2, 9, tzinfo=UTC))
    connector = connect()
    connector.open_folder("INBOX")
    assert connector.changes(None).ids == [b, c, a]


def test_paged_round_cursor_is_last_deltalink_and_replay_is_tolerated(connect, box, fake):
    ids = [box.append("INBOX", mail(n)) for n in range(7)]
    connector = connect(page_size=3)
    connector.open_folder("INBOX")

    initial = connector.changes(None)

    assert initial.ids == ids
    pages = delta_requests(fake)
    assert len(pages) == 3  # 3 + 3 + 1
    assert "$skiptoken=" not in pages[0] and all("$skiptoken=" in p for p in pages[1:])
    assert "$deltatoken=" in initial.cursor and "$skiptoken" not in initial.cursor

    newer = box.append("INBOX", mail(8))
    assert connector.changes(initial.cursor).ids == [newer]
    # a crash before the new cursor was stored: the old one is used again and lists again
    assert connector.changes(initial.cursor).ids == [newer]


def test_unread_only(connect, box):
    box.append("INBOX", mail(1), flags=("\\Seen",))
    unread = box.append("INBOX", mail(2))
    connector = connect()
    connector.open_folder("INBOX")
    assert connector.changes(None, unread_only=True).ids == [unread]


def test_since_filters_on_received_date(connect, box, fake):
    box.append("INBOX", mail(1), received=datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC))
    on_day = box.append("INBOX", mail(2), received=datetime(2026, 2, 1, 0, 0, 0, tzinfo=UTC))
    after = box.append("INBOX", mail(3), received=datetime(2026, 2, 10, 8, tzinfo=UTC))
    connector = connect()
    connector.open_folder("INBOX")

    found = connector.changes(None, since=date(2026, 2, 1))

    assert found.ids == [on_day, after]
    assert "$filter=receivedDateTime%20ge%202026-02-01T00:00:00Z" in delta_requests(fake)[0]
    # the filter travels inside the deltaLink: an old message moved in later stays out
    box.append("INBOX", mail(4), received=datetime(2025, 12, 1, tzinfo=UTC))
    assert connector.changes(found.cursor).ids == []


def test_delta_lists_moved_in_and_read_changes_not_moved_out(connect, box):
    stays = box.append("INBOX", mail(1))
    leaves = box.append("INBOX", mail(2))
    comes_back = box.append("Archive", mail(3))
    connector = connect()
    connector.open_folder("INBOX")
    cursor = connector.changes(None).cursor

    connector.move([leaves], "Archive")
    connector.move([comes_back], "INBOX")
    connector.mark_seen([stays])

    changed = connector.changes(cursor)
    assert set(changed.ids) == {comes_back, stays}  # an update is listed again; ledger skips
    assert connector.changes(cursor, unread_only=True).ids == [comes_back]


def test_deleted_message_is_not_listed(connect, box):
    kept = box.append("INBOX", mail(1))
    doomed = box.append("INBOX", mail(2))
    connector = connect()
    connector.open_folder("INBOX")
    cursor = connector.changes(None).cursor
    box.delete(doomed)
    fresh = box.append("INBOX", mail(3))
    assert connector.changes(cursor).ids == [fresh]
    assert kept in box.ids()


def test_expired_cursor_gives_full_listing(connect, box, fake):
    ids = [box.append("INBOX", mail(n)) for n in range(3)]
    connector = connect()
    connector.open_folder("INBOX")
    old = connector.changes(None).cursor
    fake.expire_delta_tokens()

    again = connector.changes(old)

    assert again.full is True
    assert again.ids == ids
    assert again.cursor != old
    assert connector.changes(again.cursor).ids == []


def test_duplicates_and_removals_inside_one_round():
    """Graph may list an id twice in one round, or list it and then report it removed
    (delta-query-overview: Replays). The fake never does, so the pages are scripted here."""
    base = "https://graph.test/v1.0"
    folder = f"{base}/users/{MAILBOX}/mailFolders/F1"
    pages = {
        "": {
            "value": [
                {"id": "B", "isRead": False, "receivedDateTime": "2026-01-02T00:00:00Z"},
                {"id": "A", "isRead": False, "receivedDateTime": "2026-01-01T00:00:00Z"},
                {"id": "GONE", "isRead": False, "receivedDateTime": "2026-01-01T00:00:00Z"},
            ],
            "@odata.nextLink": f"{folder}/messages/delta?$skiptoken=p2",
        },
        "$skiptoken=p2": {
            "value": [
                {"id": "A", "isRead": True, "receivedDateTime": "2026-01-01T00:00:00Z"},
                {"id": "GONE", "@removed": {"reason": "deleted"}},
                {"id": "C", "isRead": False, "receivedDateTime": "2026-01-01T12:00:00.5Z"},
            ],
            "@odata.deltaLink": f"{folder}/messages/delta?$deltatoken=d1",
        },
    }

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/mailFolders/inbox"):
            return httpx.Response(200, json={"id": "F1", "displayName": "Inbox"})
        key = "$skiptoken=p2" if "skiptoken" in str(request.url) else ""
        return httpx.Response(200, json=pages[key])

    settings = GraphSettings(mailbox=MAILBOX, token=token, base_url=base)
    connector = GraphConnector(settings, transport=httpx.MockTransport(answer))
    connector.open_folder("Inbox")
    found = connector.changes(None)
    assert found.ids == ["A", "C", "B"]
    assert found.cursor == f"{folder}/messages/delta?$deltatoken=d1"


def test_cursor_for_another_host_is_refused(connect, box, fake):
    connector = connect()
    connector.open_folder("INBOX")
    sent = len(fake.requests)
    with pytest.raises(ProtocolFailed):
        connector.changes("https://attacker.example/v1.0/messages/delta?$deltatoken=x")
    assert len(fake.requests) == sent


# -- fetch, move, mark_seen ---------------------------------------------------------------


def test_fetch_returns_exact_bytes_without_marking_read(connect, box):
    raw = (
        b"From: a@supplier.example\r\nSubject: =?utf-8?q?Rechnung_=C3=BC?=\r\n"
        b"Content-Type: text/plain; charset=latin-1\r\n\r\nPreis: 10 \xa4 \r\n\r\n.\r\nend  "
    )
    message_id = box.append("INBOX", raw)
    connector = connect()
    connector.open_folder("INBOX")
    assert dict(connector.fetch([message_id])) == {message_id: raw}
    assert box.flags() == {message_id: set()}


def test_fetch_skips_vanished_ids(connect, box):
    a = box.append("INBOX", mail(1))
    gone = box.append("INBOX", mail(2))
    b = box.append("INBOX", mail(3))
    box.delete(gone)
    connector = connect()
    connector.open_folder("INBOX")
    fetched = [i for i, _raw in connector.fetch([a, gone, "AAMkNeverExisted=", b])]
    assert fetched == [a, b]


def test_move_keeps_the_id_and_creates_the_nested_target(connect, box, fake):
    invoice = box.append("INBOX", mail(1))
    other = box.append("INBOX", mail(2))
    connector = connect()
    connector.open_folder("INBOX")

    connector.move([invoice], "Invoices/2026")

    assert {"Invoices", "Invoices/2026"} <= set(box.folders())
    assert box.ids("Invoices/2026") == [invoice]  # immutable id: the same after the move
    assert box.ids("INBOX") == [other]
    posts = [(m, p.split("?")[0]) for m, p, _ in fake.requests if m == "POST"]
    assert posts[0] == ("POST", f"/v1.0/users/{MAILBOX}/mailFolders")
    assert posts[1][1].endswith("/childFolders")
    # the id still reaches the message, and a move repeated after a crash is harmless
    assert dict(connector.fetch([invoice])) == {invoice: mail(1)}
    connector.move([invoice], "Invoices/2026")
    assert box.ids("Invoices/2026") == [invoice]


def test_move_of_a_deleted_message_is_ignored(connect, box):
    gone = box.append("INBOX", mail(1))
    kept = box.append("INBOX", mail(2))
    box.delete(gone)
    connector = connect()
    connector.open_folder("INBOX")
    connector.move([gone, kept], "Archive")
    assert box.ids("Archive") == [kept]


def test_move_recreates_a_target_deleted_meanwhile(connect, box, fake):
    """A cached folder id for a target another client deleted: 404 is about the folder."""
    first = box.append("INBOX", mail(1))
    second = box.append("INBOX", mail(2))
    connector = connect()
    connector.open_folder("INBOX")
    connector.move([first], "Done")
    box.delete_folder("Done")  # by another client; the folder id is still cached
    connector.move([second], "Done")
    assert box.ids("Done") == [second]
    assert first not in box.ids("INBOX")


def test_ensure_folder_created_by_someone_else_meanwhile(connect, box, fake):
    connector = connect()
    connector.list_folders()  # folder map cached before the other client acts
    box.create_folder("Invoices")

    connector.ensure_folder("Invoices/2026")
    connector.ensure_folder("Invoices/2026")  # exists now: nothing to do

    assert box.folders().count("Invoices/2026") == 1
    posts = [p.split("?")[0] for m, p, _ in fake.requests if m == "POST"]
    assert posts[0].endswith("/mailFolders")  # answered 409 ErrorFolderExists
    assert posts[1].endswith("/childFolders")
    assert len(posts) == 2


def test_ensure_folder_under_the_inbox(connect, box):
    connect().ensure_folder("INBOX/Processed")
    assert "Inbox/Processed" in box.folders()


def test_mark_seen_sets_is_read(connect, box, fake):
    a = box.append("INBOX", mail(1))
    b = box.append("INBOX", mail(2))
    connector = connect()
    connector.open_folder("INBOX")
    connector.mark_seen([a, "AAMkVanished="])
    assert box.flags() == {a: {"\\Seen"}, b: set()}
    assert ("PATCH", f"/v1.0/users/{MAILBOX}/messages/{a}") in [(m, p) for m, p, _ in fake.requests]


def batches(fake: FakeGraph) -> list[str]:
    return [p for m, p, _ in fake.requests if (m, p) == ("POST", "/v1.0/$batch")]


def test_move_sends_json_batches_of_20(connect, box, fake):
    ids = [box.append("INBOX", mail(n)) for n in range(45)]
    connector = connect()
    connector.open_folder("INBOX")
    connector.ensure_folder("Invoices")
    sent = len(fake.requests)

    connector.move(ids, "Invoices")

    assert len(batches(fake)) == 3  # 20 + 20 + 5
    moves = [p for m, p, _ in fake.requests[sent:] if m == "POST" and p.endswith("/move")]
    assert len(moves) == 45  # sub-requests, recorded by the fake
    assert sorted(box.ids("Invoices")) == sorted(ids)  # immutable ids: unchanged
    assert box.ids("INBOX") == []


def test_mark_seen_sends_json_batches_of_20(connect, box, fake):
    ids = [box.append("INBOX", mail(n)) for n in range(25)]
    connector = connect()
    connector.open_folder("INBOX")
    sent = len(fake.requests)

    connector.mark_seen(ids)

    assert len(batches(fake)) == 2
    assert [m for m, _p, _h in fake.requests[sent:]].count("PATCH") == 25
    assert box.flags() == {i: {"\\Seen"} for i in ids}


def test_throttled_sub_requests_are_sent_again_after_retry_after(connect, box, fake, sleeps):
    ids = [box.append("INBOX", mail(n)) for n in range(5)]
    connector = connect()
    connector.open_folder("INBOX")
    connector.ensure_folder("Invoices")
    sent = len(fake.requests)
    fake.throttle_batch_items(2, retry_after="3")

    connector.move(ids, "Invoices")

    assert sleeps == [3.0]
    assert len(batches(fake)) == 2
    moves = [p for m, p, _ in fake.requests[sent:] if m == "POST" and p.endswith("/move")]
    assert len(moves) == 5 + 2  # only the throttled two were sent again
    assert sorted(box.ids("Invoices")) == sorted(ids)


def test_throttled_sub_requests_past_the_retries_fail(connect, box, fake, sleeps):
    message = box.append("INBOX", mail(1))
    connector = connect(retries=2)
    connector.open_folder("INBOX")
    fake.throttle_batch_items(10, retry_after="2")
    with pytest.raises(ProtocolFailed, match="429"):
        connector.mark_seen([message])
    assert sleeps == [2.0, 2.0]
    assert len(batches(fake)) == 3


def test_vanished_ids_in_a_batch_are_ignored(connect, box, fake):
    ids = [box.append("INBOX", mail(n)) for n in range(22)]
    box.delete(ids[3])
    box.delete(ids[21])
    connector = connect()
    connector.open_folder("INBOX")
    connector.move([*ids, "AAMkNeverExisted="], "Archive")
    assert sorted(box.ids("Archive")) == sorted(ids[:3] + ids[4:21])
    assert len(batches(fake)) == 2
    connector.mark_seen(ids)
    assert all(flags == {"\\Seen"} for flags in box.flags("Archive").values())


def test_every_request_asks_for_immutable_ids(connect, box, fake):
    a = box.append("INBOX", mail(1))
    box.append("INBOX", mail(2))
    connector = connect(page_size=1)
    connector.open_folder("deleteditems")
    connector.open_folder("INBOX")
    cursor = connector.changes(None).cursor
    list(connector.fetch([a]))
    connector.mark_seen([a])
    connector.move([a], "Invoices/2026")
    connector.changes(cursor)

    assert {m for m, _p, _h in fake.requests} == {"GET", "POST", "PATCH"}
    for method, path, headers in fake.requests:
        assert IMMUTABLE in headers.get("prefer", ""), (method, path)
    for path in delta_requests(fake):
        headers = next(h for _m, p, h in fake.requests if p == path)
        assert "odata.maxpagesize=1" in headers["prefer"]


# -- the fake itself: ids change on move unless immutable ids are asked for ---------------


def test_fake_changes_default_ids_on_move_but_not_immutable_ones(fake, box):
    raws = {box.append("INBOX", mail(n)): mail(n) for n in (1, 2)}
    auth = {"Authorization": "Bearer t"}
    immutable = {**auth, "Prefer": IMMUTABLE}
    user = f"{fake.url}/users/{MAILBOX}"
    with httpx.Client() as http:
        default_ids = [
            m["id"]
            for m in http.get(f"{user}/mailFolders/inbox/messages/delta", headers=auth).json()[
                "value"
            ]
        ]
        assert not set(default_ids) & set(box.ids())  # default REST ids differ from immutable

        moved = http.post(
            f"{user}/messages/{default_ids[0]}/move",
            headers=auth,
            json={"destinationId": "archive"},
        )
        assert moved.status_code == 201
        assert moved.json()["id"] != default_ids[0]  # a new default id after the move
        stale = http.get(f"{user}/messages/{default_ids[0]}", headers=auth)
        assert stale.status_code == 404
        assert stale.json()["error"]["code"] == "ErrorItemNotFound"

        stable = box.ids()[0]
        moved = http.post(
            f"{user}/messages/{stable}/move", headers=immutable, json={"destinationId": "archive"}
        )
        assert moved.json()["id"] == stable
        raw = http.get(f"{user}/messages/{stable}/$value", headers=auth)
        assert raw.status_code == 200
        assert raw.headers["content-type"] == "text/plain"
        assert raw.content == raws[stable]


def test_fake_reads_prefer_from_one_or_several_headers(fake, box):
    box.append("INBOX", mail(1))
    box.append("INBOX", mail(2))
    url = f"{fake.url}/users/{MAILBOX}/mailFolders/inbox/messages/delta"
    with httpx.Client() as http:
        one = http.get(
            url,
            headers={"Authorization": "Bearer t", "Prefer": f"{IMMUTABLE}, odata.maxpagesize=1"},
        ).json()
        two = http.get(
            url,
            headers=[
                ("Authorization", "Bearer t"),
                ("Prefer", IMMUTABLE),
                ("Prefer", "odata.maxpagesize=1"),
            ],
        ).json()
    for page in (one, two):
        assert len(page["value"]) == 1 and "@odata.nextLink" in page
        assert page["value"][0]["id"] in box.ids()


def test_fake_json_batch(fake, box):
    """Sub-requests answered as if sent alone, with their own headers, in any order."""
    message = box.append("INBOX", mail(1))
    user = f"/users/{MAILBOX}"
    batch = {
        "requests": [
            {"id": "1", "method": "GET", "url": f"{user}/messages/{message}"},
            {
                "id": "2",
                "method": "GET",
                "url": f"{user}/messages/{message}",
                "headers": {"Prefer": IMMUTABLE},
            },
            {"id": "3", "method": "GET", "url": f"{user}/messages/AAMkNeverExisted="},
            {
                "id": "4",
                "method": "PATCH",
                "url": f"{user}/messages/{message}",
                "headers": {"Content-Type": "application/json"},
                "body": {"isRead": True},
            },
        ]
    }
    with httpx.Client() as http:
        unauthorized = http.post(f"{fake.url}/$batch", json=batch)
        answer = http.post(f"{fake.url}/$batch", json=batch, headers={"Authorization": "Bearer t"})
    assert unauthorized.status_code == 401
    assert answer.status_code == 200
    responses = {r["id"]: r for r in answer.json()["responses"]}
    assert set(responses) == {"1", "2", "3", "4"}
    for r in responses.values():
        assert set(r) >= {"id", "status", "headers", "body"}
        assert isinstance(r["headers"], dict)
    assert [responses[n]["status"] for n in "1234"] == [200, 200, 404, 200]
    rest_id = responses["1"]["body"]["id"]
    assert rest_id != message  # no Prefer on this sub-request: the default REST id
    assert responses["2"]["body"]["id"] == message
    assert responses["3"]["body"]["error"]["code"] == "ErrorItemNotFound"
    assert box.flags() == {message: {"\\Seen"}}
    recorded = [(m, p) for m, p, _h in fake.requests]
    assert ("PATCH", f"/v1.0{user}/messages/{message}") in recorded


def test_fake_rejects_more_than_20_requests_in_a_batch(fake, box):
    message = box.append("INBOX", mail(1))
    url = f"/users/{MAILBOX}/messages/{message}"
    batch = {"requests": [{"id": str(n), "method": "GET", "url": url} for n in range(21)]}
    with httpx.Client() as http:
        answer = http.post(f"{fake.url}/$batch", json=batch, headers={"Authorization": "Bearer t"})
        twenty = http.post(
            f"{fake.url}/$batch",
            json={"requests": batch["requests"][:20]},
            headers={"Authorization": "Bearer t"},
        )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "BadRequest"
    assert twenty.status_code == 200
    assert len(twenty.json()["responses"]) == 20


# -- errors and throttling ----------------------------------------------------------------


def test_429_waits_retry_after_then_succeeds(connect, box, fake, sleeps):
    fake.throttle(1, retry_after="7")
    assert "Inbox" in connect().list_folders()
    assert sleeps == [7.0]


def test_503_without_retry_after_backs_off_with_jitter(connect, box, fake, sleeps):
    fake.throttle(3, status=503, retry_after=None)
    assert "Inbox" in connect().list_folders()
    assert len(sleeps) == 3
    for attempt, wait in enumerate(sleeps):
        assert 0.0 <= wait <= 2**attempt  # full jitter on a 1 s base


def test_throttled_past_the_retries_fails(connect, box, fake):
    fake.throttle(3)
    with pytest.raises(ProtocolFailed, match="429"):
        connect(retries=2).list_folders()


def test_401_renews_the_token_once(sleeps):
    """A revoked token is refused once; the renewed one is cached by the token source."""
    calls: list[bool] = []
    current = ["revoked"]

    def source(renew: bool = False) -> str:
        calls.append(renew)
        if renew:
            current[0] = "fresh"
        return current[0]

    with FakeGraph(authorize=lambda tok, _mailbox: 200 if tok == "fresh" else 401) as fake:
        fake.mailbox(MAILBOX).create_folder("Invoices/2026")  # several requests in check()
        settings = GraphSettings(
            mailbox=MAILBOX, token=source, base_url=fake.url, sleep=sleeps.append
        )
        with GraphConnector(settings) as connector:
            assert "Invoices/2026" in connector.check()
    assert calls == [False, True, False]  # folders (refused, renewed), then Invoices' children
    assert sleeps == []


def test_401_after_renewal_is_login_failed():
    calls: list[bool] = []

    def source(renew: bool = False) -> str:
        calls.append(renew)
        return "refused-anyway"

    with FakeGraph(authorize=lambda _tok, _mailbox: 401) as fake:
        fake.mailbox(MAILBOX)
        settings = GraphSettings(mailbox=MAILBOX, token=source, base_url=fake.url)
        with GraphConnector(settings) as connector, pytest.raises(LoginFailed) as refused:
            connector.check()
    assert calls == [False, True]
    assert "Access token validation failure" in str(refused.value)
    assert not refused.value.transient


def test_403_is_login_failed_naming_the_mailbox():
    with FakeGraph(authorize=lambda _tok, _mailbox: 403) as fake:
        fake.mailbox("invoices@buyer.example")
        settings = GraphSettings(mailbox="invoices@buyer.example", token=token, base_url=fake.url)
        with GraphConnector(settings) as connector, pytest.raises(LoginFailed) as refused:
            connector.check()
    message = str(refused.value)
    assert "invoices@buyer.example" in message
    assert "Mail.ReadWrite" in message
    assert not refused.value.transient


def test_unknown_mailbox_is_login_failed(connect):
    with pytest.raises(LoginFailed, match=r'mailbox "nobody@buyer.example" not found'):
        connect(mailbox="nobody@buyer.example").check()


def test_unreachable_service_is_connect_failed(sleeps):
    with FakeGraph() as stopped:
        url = stopped.url
    settings = GraphSettings(
        mailbox=MAILBOX, token=token, base_url=url, retries=1, sleep=sleeps.append
    )
    with GraphConnector(settings) as connector, pytest.raises(ConnectFailed):
        connector.check()
    assert len(sleeps) == 1


def test_changes_needs_an_open_folder(connect, box):
    with pytest.raises(ProtocolFailed, match="open_folder"):
        connect().changes(None)


def test_close_never_raises(connect):
    connector = connect()
    connector.close()
    connector.close()


def test_fake_error_shape(fake, box):
    with httpx.Client() as http:
        answer = http.get(f"{fake.url}/users/{MAILBOX}/mailFolders")
    assert answer.status_code == 401
    error = json.loads(answer.content)["error"]
    assert error["code"] == "InvalidAuthenticationToken"
    assert set(error) >= {"code", "message", "innerError"}
