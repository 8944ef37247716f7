"""The instant sources' IDLE watches shared by the live workers: two workers hold half each; a
third that joins gets its share while the others give back a few per refresh, and then nothing
moves (no thrashing); a dead worker's watches are taken by the others once their leases run
out. Time is passed in, so the 30 s lease and the 20 s worker timeout need no waiting."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from invoice_inbox.runtime import registry, watches
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.registry import Registry
from invoice_inbox.runtime.watches import WatchShare
from invoice_inbox.store import sources
from invoice_inbox.store.models import utcnow
from invoice_inbox.store.models_cluster import Watch


@pytest.fixture
def app(tmp_path: Path) -> App:
    a = App.open(tmp_path / "data")
    with a.db.session() as s:
        for i in range(5):  # 5 instant sources with 2 folders each: 10 watches
            sources.add(
                s,
                name=f"inst{i}",
                company_name="ACME",
                host="127.0.0.1",
                port=143,
                username="u",
                instant=True,
                folders=["INBOX", "Invoices"],
            )
        sources.add(s, name="polled", company_name="ACME", host="127.0.0.1", port=143, username="u")
    return a


class Node:
    """One worker: its registry row and its share of the watches."""

    def __init__(self, app: App, now: datetime) -> None:
        self.registry = Registry(app.db)
        self.share = WatchShare(app.db, self.registry.owner)
        self.registry.join(now)

    def refresh(self, now: datetime) -> int:
        self.registry.beat(now)
        return len(self.share.refresh(now))


def owners(app: App) -> dict[int, str | None]:
    with app.db.session() as s:
        return {w.id: w.owner for w in s.scalars(select(Watch))}


def rounds(app: App, nodes: list[Node], now: datetime, n: int = 1) -> list[int]:
    for _ in range(n):
        counts = [node.refresh(now) for node in nodes]
    return counts


def test_every_folder_of_every_instant_source_is_one_watch(app: App) -> None:
    want = watches.wanted(app.db)
    assert len(want) == 10 and {folder for _, folder in want} == {"INBOX", "Invoices"}
    with app.db.session() as s:
        sources.get(s, "inst0").instant = False
    watches.sync_rows(app.db)
    assert len(owners(app)) == 8


def test_two_workers_hold_half_each_and_a_third_gets_its_share_without_thrashing(
    app: App,
) -> None:
    t = utcnow()
    a, b = Node(app, t), Node(app, t)
    assert rounds(app, [a, b], t, 2) == [5, 5]
    before = owners(app)

    c = Node(app, t)
    history = [owners(app)]
    for i in range(8):  # a refresh every 5 s
        rounds(app, [a, b, c], t + timedelta(seconds=5 * (i + 1)))
        history.append(owners(app))
    counts = [len(n.share.held()) for n in (a, b, c)]
    assert sorted(counts) == [2, 4, 4]  # target ceil(10/3) = 4
    assert None not in history[-1].values()
    moved = sum(1 for w, o in before.items() if history[-1][w] != o)
    assert moved == 2  # only what the newcomer needed changed hands
    assert history[-1] == history[-5]  # then nothing moves


def test_a_dead_workers_watches_are_taken_by_the_others(app: App) -> None:
    t = utcnow()
    a, b, c = Node(app, t), Node(app, t), Node(app, t)
    for i in range(4):
        rounds(app, [a, b, c], t + timedelta(seconds=5 * i))
    c_held = {w for w, o in owners(app).items() if o == c.registry.owner}
    assert c_held
    # c is SIGKILLed at t+15: no more heartbeats, its watch leases run out at t+45
    for s in range(20, 45, 5):
        rounds(app, [a, b], t + timedelta(seconds=s))
        assert all(o == c.registry.owner for w, o in owners(app).items() if w in c_held)
    later = t + timedelta(seconds=50)  # within 60 s of its death
    rounds(app, [a, b], later)
    now_owned = owners(app)
    assert set(now_owned.values()) == {a.registry.owner, b.registry.owner}
    assert sorted(len(n.share.held()) for n in (a, b)) == [5, 5]
    with app.db.session() as s:
        assert [w.owner for w in registry.live(s, later)] == [
            a.registry.owner,
            b.registry.owner,
        ]


def test_a_worker_that_stops_gives_its_watches_back_at_once(app: App) -> None:
    t = utcnow()
    a, b = Node(app, t), Node(app, t)
    rounds(app, [a, b], t, 2)
    b.registry.stopping()
    b.share.release_all()
    b.registry.leave()
    assert rounds(app, [a], t + timedelta(seconds=5)) == [10]
