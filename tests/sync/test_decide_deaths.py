"""Whole-process deaths that are not the mail's doing (found by the fault-injection run): a fetch
process killed by someone else while deciding, or after its decisions, must not turn innocent
mail into "stopped the worker twice". Only a mail that stopped the process twice while decided
on its own is quarantined (``test_poisoned_mail``); a death makes at most a group of suspects."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from builders import make_mail, make_pdf
from conftest import AP
from harness.dovecot import write_maildir
from invoice_inbox.runtime.sync_steps import BATCH
from sync.test_poisoned_mail import (
    FILED,
    HELPER,
    SENDER,
    attempts_left,
    invoice,
    kill_while_deciding,
)


def kill_at(ap: AP, step: str, n: int = 1) -> subprocess.CompletedProcess[str]:
    """A fetch in its own process, SIGKILLed the *n*-th time it reaches *step*."""
    return subprocess.run(
        [sys.executable, HELPER, str(ap.data_dir), "ap", "kill", step, str(n)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": ":".join(sys.path)},
    )


def test_one_death_while_a_mail_is_decided_on_its_own_does_not_quarantine_it(ap: AP) -> None:
    ap.mailbox.append("INBOX", invoice("Invoice 0", "INV-0.pdf", make_pdf("invoice 0")))
    unlucky = ap.mailbox.append("INBOX", invoice("Unlucky", "INV-1.pdf", make_pdf("invoice 1")))
    ap.add_source("--allow-sender", SENDER, *FILED)

    for _ in range(2):  # with its group, then once on its own: a deploy, an operator's kill
        assert kill_while_deciding(ap, unlucky).returncode == -9

    summary = ap.ok("fetch", "ap", "--json").json()
    assert (summary["imported"], summary["quarantined"]) == (2, 0)
    assert ap.mailbox.count("Imported") == 2
    assert attempts_left(ap) == 0


def test_a_death_after_the_decisions_leaves_no_suspects(ap: AP) -> None:
    for i in range(3):
        ap.mailbox.append("INBOX", invoice(f"Invoice {i}", f"INV-{i}.pdf", make_pdf(f"inv {i}")))
    ap.add_source("--allow-sender", SENDER, *FILED)

    assert kill_at(ap, "blobs_written").returncode == -9
    assert attempts_left(ap) == 0  # decided, not recorded: decided again as usual, no suspect

    summary = ap.ok("fetch", "ap", "--json").json()
    assert (summary["imported"], summary["quarantined"]) == (3, 0)


def test_a_death_while_deciding_a_batch_makes_at_most_two_batches_of_suspects(
    ap: AP, tmp_path: Path
) -> None:
    """A sync's batch is one group, and the next batch's attempts are begun while it is
    decided (``Stages.prepare_ahead``): a death makes at most those two batches suspects, never
    the mail after them, and the next run decides them all."""
    mails = BATCH + 2 * BATCH + 4  # batches of 100, 200 and 4
    notes = (make_mail(from_=SENDER, subject=f"Note {i}", body=f"n {i}") for i in range(mails))
    ap.mailbox.server.import_maildir(ap.mailbox.user, write_maildir(tmp_path / "md", notes))
    ap.add_source("--allow-sender", SENDER, *FILED)

    assert kill_at(ap, "deciding").returncode == -9  # while deciding the first batch
    assert 0 < attempts_left(ap) <= BATCH + 2 * BATCH < mails

    summary = ap.ok("fetch", "ap", "--json").json()
    assert (summary["not_imported"], summary["quarantined"]) == (mails, 0)
    assert attempts_left(ap) == 0
