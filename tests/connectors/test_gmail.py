"""GmailConnector against the local fake Gmail API (tests/fakes/gmail.py): folders are labels,
full sync then history, paging, expired history, exact raw bytes, label moves, UNREAD, quota
answers, scopes and token renewal. No real sleeping: every backoff goes to a recorded list."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime

import httpx
import pytest

from builders import make_mail
from fakes.gmail import FakeGmail, FakeGmailMailbox
from invoice_inbox.connectors.base import TokenConnector
from invoice_inbox.connectors.gmail import GmailConnector, GmailSettings
from invoice_inbox.connectors.gmail_wire import decode_raw
from invoice_inbox.connectors.http import HttpError
from invoice_inbox.errors import FolderMissing, LoginFailed

USER = "ap@buyer.example"
READONLY = "https://www.googleapis.com/auth/gmail.readonly"


class Tokens:
    """A token callable that records whether a renewal was asked for."""

    def __init__(self, value: str = "token-1", renewed: str = "token-2") -> None:
        self.value, self.renewed = value, renewed
        self.calls: list[bool] = []

    def __call__(self, renew: bool = False) -> str:
        self.calls.append(renew)
        return self.renewed if renew else self.value


class Intercept(httpx.BaseTransport):
    """Real HTTP to the fake, with a hook run before each request is sent (to make another
    client act at an exact moment)."""

    def __init__(self, before: Callable[[httpx.Request], None]) -> None:
        self.before = before
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.before(request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def mail(n: int) -> bytes:
    return make_mail(subject=f"Invoice {n}", body=f"Invoice number {n}.")


@pytest.fixture
def gmail() -> Iterator[FakeGmail]:
    with FakeGmail() as fake:
        yield fake


@pytest.fixture
def box(gmail: FakeGmail) -> FakeGmailMailbox:
    return gmail.mailbox(USER)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def connect(gmail: FakeGmail, box: FakeGmailMailbox, sleeps: list[float]) -> Iterator[Callable]:
    made: list[GmailConnector] = []

    def make(transport: httpx.BaseTransport | None = None, **options) -> GmailConnector:
        options.setdefault("token", Tokens())
        options.setdefault("sleep", sleeps.append)
        settings = GmailSettings(user=USER, base_url=gmail.url, **options)
        made.append(GmailConnector(settings, transport=transport))
        return made[-1]

    yield make
    for conn in made:
        conn.close()


def requests_to(gmail: FakeGmail, method: str, path_end: str) -> list[str]:
    return [t for m, t, _ in gmail.requests if m == method and t.split("?")[0].endswith(path_end)]


# -- folders ----------------------------------------------------------------------------------


def test_folders_are_labels_with_state_labels_left_out(connect, box):
    box.create_folder("Invoices")
    box.create_folder("Invoices/2026")
    conn: TokenConnector = connect()  # meets the protocol (checked by type checkers)
    folders = conn.check()
    assert folders == ["INBOX", "SENT", "SPAM", "TRASH", "DRAFT", "Invoices", "Invoices/2026"]
    for state in ("UNREAD", "STARRED", "IMPORTANT", "CHAT", "CATEGORY_SOCIAL"):
        assert state not in folders
    conn.open_folder("inbox")  # any case
    conn.open_folder("Invoices/2026")
    with pytest.raises(FolderMissing) as missing:
        conn.open_folder("Receipts")
    assert "Invoices/2026" in missing.value.existing and not missing.value.transient


# -- listing ------------------------------------------------------------------------------------


def test_full_sync_then_history_lists_only_new_mail_of_the_folder(connect, box):
    first = [box.append("INBOX", mail(i)) for i in range(3)]
    box.append("Elsewhere", mail(9))
    conn = connect()
    conn.open_folder("INBOX")
    full = conn.changes(None)
    assert full.full and full.ids == first  # oldest first
    assert full.cursor.isdigit()

    new = [box.append("INBOX", mail(i)) for i in (3, 4)]
    box.append("Elsewhere", mail(10))
    later = conn.changes(full.cursor)
    assert not later.full and later.ids == new
    assert int(later.cursor) > int(full.cursor)

    quiet = conn.changes(later.cursor)
    assert quiet.ids == [] and not quiet.full


def test_a_message_moved_into_the_folder_by_someone_else_counts_as_arrived(connect, box):
    other = box.append("Elsewhere", mail(1))
    conn = connect()
    conn.open_folder("INBOX")
    cursor = conn.changes(None).cursor
    box.relabel(other, add=["INBOX"], remove=["Elsewhere"])
    assert conn.changes(cursor).ids == [other]


def test_mail_arriving_during_the_full_listing_is_found_by_the_next_history(connect, box):
    for i in range(3):
        box.append("INBOX", mail(i))
    arrived: list[str] = []

    def between_pages(request: httpx.Request) -> None:
        paging = request.url.path.endswith("/messages") and "pageToken" in request.url.params
        if paging and not arrived:
            arrived.append(box.append("INBOX", mail(99)))

    conn = connect(transport=Intercept(between_pages), page_size=2)
    conn.open_folder("INBOX")
    full = conn.changes(None)
    assert arrived and arrived[0] not in full.ids  # the listing missed it (newer than page 1)
    assert conn.changes(full.cursor).ids == arrived  # but the cursor predates it


def test_profile_history_id_is_read_before_listing(connect, gmail, box):
    box.append("INBOX", mail(1))
    conn = connect()
    conn.open_folder("INBOX")
    conn.changes(None)
    paths = [t.split("?")[0].rsplit("/", 1)[-1] for _, t, _ in gmail.requests]
    assert paths.index("profile") < paths.index("messages")


def test_more_messages_than_a_page_are_all_listed_oldest_first(connect, gmail, box):
    ids = [box.append("INBOX", mail(i)) for i in range(5)]
    conn = connect(page_size=2)
    conn.open_folder("INBOX")
    full = conn.changes(None)
    assert full.ids == ids
    assert len(requests_to(gmail, "GET", "/messages")) == 3

    more = [box.append("INBOX", mail(i)) for i in range(5, 10)]
    later = conn.changes(full.cursor)
    assert later.ids == more
    assert len(requests_to(gmail, "GET", "/history")) == 3


def test_replaying_an_old_history_id_lists_again_without_harm(connect, box):
    box.append("INBOX", mail(0))
    conn = connect()
    conn.open_folder("INBOX")
    c0 = conn.changes(None).cursor
    a = box.append("INBOX", mail(1))
    c1 = conn.changes(c0).cursor
    b = box.append("INBOX", mail(2))
    assert conn.changes(c0).ids == [a, b]  # a crash before storing c1: a is listed again
    assert conn.changes(c1).ids == [b]


def test_expired_history_falls_back_to_a_full_listing(connect, gmail, box):
    old = box.append("INBOX", mail(0))
    conn = connect()
    conn.open_folder("INBOX")
    cursor = conn.changes(None).cursor
    new = box.append("INBOX", mail(1))
    gmail.expire_history()
    again = conn.changes(cursor)
    assert again.full and again.ids == [old, new]
    assert requests_to(gmail, "GET", "/history")  # it was tried first
    newest = box.append("INBOX", mail(2))
    after = conn.changes(again.cursor)  # the fresh cursor works for history again
    assert not after.full and after.ids == [newest]


def test_unread_only_and_since_filter_the_listing(connect, box):
    old = box.append("INBOX", mail(1), internal_date=datetime(2026, 1, 10, 9, tzinfo=UTC))
    early = box.append("INBOX", mail(2), internal_date=datetime(2026, 3, 5, 3, tzinfo=UTC))
    read = box.append("INBOX", mail(3), ("\\Seen",), internal_date=datetime(2026, 3, 6, tzinfo=UTC))
    conn = connect()
    conn.open_folder("INBOX")
    assert conn.changes(None, unread_only=True).ids == [old, early]
    # 03:00 UTC on the day counts: "since" is not read as midnight PST, as after:YYYY/MM/DD is
    assert conn.changes(None, since=date(2026, 3, 5)).ids == [early, read]
    both = conn.changes(None, unread_only=True, since=date(2026, 3, 5))
    assert both.ids == [early]

    unread = box.append("INBOX", mail(4))
    box.append("INBOX", mail(5), ("\\Seen",))
    assert conn.changes(both.cursor, unread_only=True).ids == [unread]


# -- reading ------------------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [0, 1, 2])
def test_fetch_returns_exact_bytes_whatever_the_padding(connect, gmail, box, extra):
    raw = mail(1) + b"\xe4\xf6\xfc 8-bit line\r\n" + b"x" * extra
    message_id = box.append("INBOX", raw)
    conn = connect()
    conn.open_folder("INBOX")
    assert list(conn.fetch([message_id])) == [(message_id, raw)]

    wire = httpx.get(
        f"{gmail.url}/gmail/v1/users/me/messages/{message_id}",
        params={"format": "raw"},
        headers={"Authorization": "Bearer t"},
    ).json()["raw"]
    assert "=" not in wire and len(wire) % 4 == (0, 2, 3)[len(raw) % 3]
    assert decode_raw(wire) == raw


def test_fetch_skips_messages_that_vanished_or_left_the_folder(connect, box):
    keep, gone, moved = (box.append("INBOX", mail(i)) for i in range(3))
    conn = connect()
    conn.open_folder("INBOX")
    ids = conn.changes(None).ids
    box.delete(gone)
    box.relabel(moved, add=["Elsewhere"], remove=["INBOX"])
    assert [i for i, _ in conn.fetch(ids)] == [keep]
    assert box.flags()[keep] == set()  # reading did not mark it read


# -- changing -----------------------------------------------------------------------------------


def test_move_adds_the_target_label_and_removes_the_folder_label(connect, gmail, box):
    ids = [box.append("INBOX", mail(i)) for i in range(2)]
    conn = connect()
    conn.open_folder("INBOX")
    cursor = conn.changes(None).cursor
    conn.ensure_folder("Invoices/2026")
    assert box.folders()[-2:] == ["Invoices", "Invoices/2026"]  # parent created first
    conn.move(ids, "Invoices/2026")
    assert box.ids("Invoices/2026") == ids  # same ids
    assert box.ids("INBOX") == []
    assert box.labels(ids[0]) == {"Invoices/2026", "UNREAD"}
    assert len(requests_to(gmail, "POST", "/messages/batchModify")) == 1
    assert conn.changes(cursor).ids == []  # nothing new in INBOX

    conn.open_folder("Invoices/2026")  # the target's history shows them arriving
    assert conn.changes(cursor).ids == ids


def test_ensure_folder_is_idempotent_and_ignores_case(connect, gmail, box):
    box.create_folder("Invoices")
    conn = connect()
    conn.ensure_folder("Invoices")
    conn.ensure_folder("invoices")
    assert requests_to(gmail, "POST", "/labels") == []


def test_ensure_folder_tolerates_a_label_created_concurrently(connect, gmail, box):
    def racing(request: httpx.Request) -> None:
        if request.method == "POST" and request.url.path.endswith("/labels"):
            box.create_folder(json.loads(request.content)["name"])

    conn = connect(transport=Intercept(racing))
    conn.ensure_folder("Archive")  # the POST answers 409; the label is re-listed
    message_id = box.append("INBOX", mail(1))
    conn.open_folder("INBOX")
    conn.move([message_id], "Archive")
    assert box.ids("Archive") == [message_id]


def test_move_to_the_open_folder_does_nothing(connect, gmail, box):
    message_id = box.append("INBOX", mail(1))
    conn = connect()
    conn.open_folder("INBOX")
    conn.move([message_id], "inbox")
    assert requests_to(gmail, "POST", "/messages/batchModify") == []
    assert box.ids() == [message_id]


def test_move_sends_at_most_1000_ids_per_request(connect, gmail, box):
    box.create_folder("Done")
    conn = connect()
    conn.open_folder("INBOX")
    conn.move([f"{i:x}" for i in range(1, 1501)], "Done")
    assert len(requests_to(gmail, "POST", "/messages/batchModify")) == 2


def test_mark_seen_removes_unread(connect, box):
    a, b = box.append("INBOX", mail(1)), box.append("INBOX", mail(2))
    conn = connect()
    conn.open_folder("INBOX")
    conn.mark_seen([a])
    assert box.flags() == {a: {"\\Seen"}, b: set()}
    assert box.ids() == [a, b]  # still in the folder


# -- quota, scopes, tokens ----------------------------------------------------------------------


def test_429_waits_for_retry_after_then_succeeds(connect, gmail, box, sleeps):
    gmail.throttle(2, status=429, retry_after="7")
    assert "INBOX" in connect().list_folders()
    assert sleeps == [7.0, 7.0]


@pytest.mark.parametrize("reason", ["rateLimitExceeded", "userRateLimitExceeded"])
def test_403_rate_limit_backs_off_then_succeeds(connect, gmail, box, sleeps, reason):
    message_id = box.append("INBOX", mail(1))
    conn = connect()
    conn.open_folder("INBOX")
    gmail.throttle(3, status=403, reason=reason)
    assert [i for i, _ in conn.fetch([message_id])] == [message_id]
    assert len(sleeps) == 3 and all(0 <= s <= 8 for s in sleeps)  # jittered exponential


def test_throttling_that_outlasts_the_retries_is_a_transient_error(connect, gmail, sleeps):
    gmail.throttle(10, status=403, reason="userRateLimitExceeded")
    with pytest.raises(HttpError) as failed:
        connect(retries=2).list_folders()
    assert failed.value.transient and failed.value.status == 403
    assert len(sleeps) == 2


def test_readonly_scope_reads_but_move_asks_for_gmail_modify(gmail, box, sleeps):
    gmail.scopes = lambda _token: {READONLY}
    message_id = box.append("INBOX", mail(1))
    conn = GmailConnector(
        GmailSettings(user=USER, token=Tokens(), base_url=gmail.url, sleep=sleeps.append)
    )
    with conn:
        conn.open_folder("INBOX")
        assert conn.changes(None).ids == [message_id]
        assert [i for i, _ in conn.fetch([message_id])] == [message_id]
        for action in (
            lambda: conn.move([message_id], "TRASH"),
            lambda: conn.mark_seen([message_id]),
            lambda: conn.ensure_folder("Invoices"),
        ):
            with pytest.raises(LoginFailed) as refused:
                action()
            assert "gmail.modify" in str(refused.value) and not refused.value.transient
    assert box.ids() == [message_id] and box.flags() == {message_id: set()}
    assert sleeps == []  # a refusal is not throttling


def test_other_403_is_a_login_failure(gmail, connect, box):
    gmail.authorize = lambda _token, _user: 403
    with pytest.raises(LoginFailed, match="refused access"):
        connect().check()


def test_401_renews_the_token_once(gmail, connect, box):
    gmail.authorize = lambda token, _user: 200 if token == "fresh" else 401
    tokens = Tokens(value="stale", renewed="fresh")
    assert "INBOX" in connect(token=tokens).check()
    assert tokens.calls == [False, True]


def test_401_after_renewal_is_a_login_failure(gmail, connect, box):
    gmail.authorize = lambda _token, _user: 401
    tokens = Tokens()
    with pytest.raises(LoginFailed):
        connect(token=tokens).check()
    assert tokens.calls == [False, True]
    assert len(gmail.requests) == 2


def test_close_never_raises(connect, gmail):
    conn = connect()
    conn.check()
    gmail.stop()
    conn.close()
    conn.close()
