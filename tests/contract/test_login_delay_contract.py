"""POP3 ``[LOGIN-DELAY]`` (RFC 2449) on Cyrus with Debian's ``popminpoll: 1``: a second login
within a minute is refused, and Cyrus advertises ``LOGIN-DELAY 60``. The refusal is not a failed
run (a source allowed one failure stays on), ``fetch`` right after ``source check`` waits for
the delay and then imports, and the scheduler runs the source again once the delay has passed,
its later runs at least that far apart. Each test waits out the real minute once."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from contract_cli import Cli, invoice

from harness.dovecot import Mailbox
from harness.mail_server import MailServer
from invoice_inbox.connectors.pop3 import Pop3Connector, Pop3Settings
from invoice_inbox.errors import LoginDelayed
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.scheduler import LOGIN_DELAY_MARGIN, Scheduler
from invoice_inbox.store import sources
from invoice_inbox.store.models import utcnow

DELAY = 60  # Cyrus: popminpoll 1 (minutes), advertised as LOGIN-DELAY 60


@pytest.fixture
def cyrus_cli(cyrus: MailServer, tmp_path: Path) -> Cli:
    """The CLI on a POP3 source of a fresh Cyrus user, switched off after one failed run."""
    user, password = cyrus.new_user()
    cli = Cli(tmp_path / "data", Mailbox(user=user, password=password, server=cyrus))  # type: ignore[arg-type]
    cli.add_source("--max-failures", "1", "--schedule", "every 1m", protocol="pop3")
    return cli


@pytest.fixture
def app(cyrus_cli: Cli) -> Iterator[App]:
    a = App.open(cyrus_cli.data_dir)
    yield a
    a.close()


def test_fetch_right_after_source_check_waits_for_the_login_delay(cyrus_cli: Cli) -> None:
    cyrus_cli.mailbox.append("INBOX", invoice(0)[2])
    assert cyrus_cli.json("source", "check", "ap")["ok"] is True  # a login
    code, out, err = cyrus_cli.run("fetch", "ap", "--json")
    assert code == 0, err
    assert f"allows one login every {DELAY} s" in err
    assert "fetching at" in err
    assert json.loads(out)["imported"] == 1
    shown = cyrus_cli.json("source", "show", "ap")
    assert shown["active"] is True
    assert shown.get("failures", 0) == 0


def test_a_refused_login_is_not_a_failure_and_runs_are_kept_the_delay_apart(
    cyrus_cli: Cli, app: App
) -> None:
    sched = Scheduler(app)
    assert sched.run("ap") is not None  # a login
    before = utcnow()
    assert sched.run("ap") is None  # refused: [LOGIN-DELAY]
    with app.db.session() as s:
        src = sources.get(s, "ap")
        assert (src.active, src.failures) == (True, 0)
        assert src.next_run_at is not None
        retry_at = src.next_run_at.replace(tzinfo=before.tzinfo)
    assert retry_at >= before + timedelta(seconds=DELAY)

    time.sleep(max(0.0, (retry_at - utcnow()).total_seconds()))
    started = utcnow()
    assert sched.run("ap") is not None, "the login after the delay is accepted"
    with app.db.session() as s:
        src = sources.get(s, "ap")
        assert src.failures == 0
        nxt = src.next_run_at.replace(tzinfo=started.tzinfo)
    # "every 1m" alone would say one minute after the start; the server wants a minute
    # between logins, and the login comes a moment after the start
    assert nxt >= started + timedelta(seconds=DELAY + LOGIN_DELAY_MARGIN)


def test_the_connector_says_how_long_to_wait(cyrus: MailServer) -> None:
    user, password = cyrus.new_user()
    settings = Pop3Settings(
        host="127.0.0.1",
        port=cyrus.pop3_port,
        security="none",
        username=user,
        password=password,
        timeout=10.0,
    )
    with Pop3Connector(settings) as first:
        first.check()
    with pytest.raises(LoginDelayed) as err, Pop3Connector(settings) as second:
        second.check()
    assert err.value.retry_after == DELAY
    assert "Logins must be at least 1 minute apart" in str(err.value)
