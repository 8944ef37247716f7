"""Fault injection, small: two ``invoice-inbox worker`` processes on PostgreSQL, with their
blobs on the S3 server, share four Dovecot mailboxes while one of them is SIGKILLed every
2-4 s, PostgreSQL and Dovecot are restarted once each and a proxy resets IMAP connections at
random. At the end nothing is lost, nothing is queued twice, every mail is filed and every event
delivered (``harness.chaos_rig``; the full-size run is ``benchmarks/chaos.py``)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from harness.chaos_rig import Plan, run
from harness.dovecot import DovecotServer
from harness.postgres import PostgresServer
from harness.s3 import S3Server

pytestmark = [pytest.mark.dovecot, pytest.mark.postgres]

SMALL = Plan(
    workers=2,
    concurrency=2,
    mailboxes=4,
    invoices=10,
    extra=4,
    dup_every=4,
    waves=3,
    kills=8,
    kill_every=(2.0, 4.0),  # slower than the full run's 0.5-2 s: runs commit between kills
    cut_every=(0.3, 1.5),
    settle_timeout=90.0,
)


def test_nothing_lost_twice_or_unfiled_under_kills_restarts_and_cuts(
    pg: PostgresServer, own_dovecot: DovecotServer, s3_server: S3Server, tmp_path: Path
) -> None:
    plan = replace(SMALL, blob_env=s3_server.env(s3_server.make_bucket()))
    outcome = run(plan, pg=pg, dovecot=own_dovecot, work_dir=tmp_path, say=print)
    story = "\n".join(outcome.report.lines() + outcome.events)
    assert outcome.kills == SMALL.kills, story
    r = outcome.report
    assert r.invoices_queued == r.invoices_expected == 4 * (10 - 2), story
    assert r.ledger_rows == r.mails, story
    assert r.blobs_checked > r.mails, story  # every raw mail and document, in the bucket
    assert r.ok, story
    assert outcome.quiescence is not None, story
