"""Two ``invoice-inbox worker`` processes on one database, with instant sources on Dovecot:
they split the IDLE watches, new mail is imported whichever worker watches or runs the source,
and when one is SIGKILLed the other takes its watches and its mail. Intervals are shortened
through the environment (the knobs an operator or a fault-injection test has)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from builders import Attachment, make_mail, make_pdf
from harness.dovecot import DovecotServer
from invoice_inbox.cli import app as cli
from invoice_inbox.runtime import cluster_status
from invoice_inbox.runtime.context import App
from invoice_inbox.store import sources
from invoice_inbox.store.models import Document, Run
from invoice_inbox.store.models_cluster import Watch, Worker

SHORT = {
    "INVOICE_INBOX_HEARTBEAT": "0.3",
    # short, yet long enough that a live worker on a loaded machine (CI runs tests in parallel)
    # never misses its heartbeat window and counts as dead
    "INVOICE_INBOX_WORKER_TIMEOUT": "6",
    "INVOICE_INBOX_WATCH_TTL": "6",
    "INVOICE_INBOX_LEASE_TTL": "6",
    "INVOICE_INBOX_POLL": "0.2",
}


def wait_for(what: str, check: Callable[[], Any], timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def invoice(subject: str) -> bytes:
    return make_mail(subject=subject, attachments=[Attachment(f"{subject}.pdf", make_pdf(subject))])


@pytest.fixture
def cluster(
    tmp_path: Path, dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[App, list[str]]]:
    for name, value in SHORT.items():  # for the workers, and for reading their state here
        monkeypatch.setenv(name, value)
    app = App.open(tmp_path / "data")
    users = [dovecot.new_user()[0] for _ in range(4)]
    with app.db.session() as s:
        for i, user in enumerate(users):
            sources.add(
                s,
                name=f"box{i}",
                company_name="ACME",
                host="127.0.0.1",
                port=dovecot.imap_port,
                security="none",
                username=user,
                secret=app.secrets.encrypt(dovecot.password(user)),
                schedule="every 60m",
                instant=True,
            )
    yield app, users
    app.close()


def start_worker(app: App) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "invoice_inbox", "--data-dir", str(app.data_dir), "worker"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def watches_by_pid(app: App) -> dict[int, set[str]]:
    with app.db.session() as s:
        rows = s.execute(
            select(Worker.pid, Watch.source_id).join(Worker, Worker.owner == Watch.owner)
        ).all()
        names = {src.id: src.name for src in sources.all_sources(s)}
    held: dict[int, set[str]] = {}
    for pid, source_id in rows:
        held.setdefault(pid, set()).add(names[source_id])
    return held


def documents(app: App) -> int:
    with app.db.session() as s:
        return s.scalar(select(func.count()).select_from(Document)) or 0


def test_two_workers_share_the_watches_and_survive_a_kill(
    cluster: tuple[App, list[str]], dovecot: DovecotServer
) -> None:
    app, users = cluster
    a, b = start_worker(app), start_worker(app)
    try:
        split = wait_for(
            "the watches split 2/2",
            lambda: (
                (w := watches_by_pid(app)) and sorted(len(v) for v in w.values()) == [2, 2] and w
            ),
        )
        assert set(split) == {a.pid, b.pid}
        wait_for("the first scheduled runs", lambda: len(app_runs(app)) >= 4)

        for i, user in enumerate(users):
            dovecot.append(user, "INBOX", invoice(f"first-{i}"))
        wait_for("the instant imports", lambda: documents(app) == 4)

        b.send_signal(signal.SIGKILL)
        b.wait(10)
        took = wait_for(
            "a to hold every watch",
            lambda: watches_by_pid(app).get(a.pid) == {f"box{i}" for i in range(4)},
        )
        assert took
        with app.db.session() as s:
            st = cluster_status.read(s)
        alive = [w.pid for w in st.workers if w.alive]
        assert alive == [a.pid]
        for name in split[b.pid]:  # mail for the dead worker's watches
            dovecot.append(users[int(name[3:])], "INBOX", invoice(f"second-{name}"))
        wait_for("the imports after the kill", lambda: documents(app) == 6)
        assert "instant" in {run.trigger for run in app_runs(app)}
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        _, err = a.communicate(timeout=60)
        b.communicate(timeout=60)
    assert a.returncode == 0, err
    assert "Traceback" not in err
    with app.db.session() as s:  # a left cleanly: its row is gone, its watches given back
        assert [w.pid for w in s.scalars(select(Worker))] == [b.pid]  # b's dead row, for now
        assert [w.owner for w in s.scalars(select(Watch))] == [None] * 4


def app_runs(app: App) -> list[Run]:
    with app.db.session() as s:
        return list(s.scalars(select(Run)))


@pytest.mark.parametrize("option", ["--concurrency", "--workers"])
def test_worker_concurrency_below_one_is_one_sentence(tmp_path: Path, option: str) -> None:
    App.open(tmp_path / "data").close()
    r = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "worker", option, "0"])
    assert r.exit_code == 1
    assert r.stderr.strip() == "error: --concurrency must be at least 1"
