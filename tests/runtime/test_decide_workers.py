"""Decisions run in worker processes held to the policy's limits: a mail that uses more CPU time
than allowed ends its worker and is quarantined naming the limit, while the other mails of the
same batch get the decisions they would get anyway."""

from __future__ import annotations

from pathlib import Path

import pytest

from builders import Attachment, make_mail, make_many_lines_mail, make_pdf
from invoice_inbox.pipeline.decide import Policy, Verdict, decide
from invoice_inbox.pipeline.limits import MB, Limits
from invoice_inbox.runtime import workers
from invoice_inbox.runtime.decider import Decider


def test_a_mail_over_the_cpu_limit_is_quarantined_and_the_rest_of_the_batch_decided() -> None:
    limits = Limits(cpu_seconds=1, memory_bytes=4096 * MB)  # memory is not what this tests
    policy = Policy(allowed_senders=("*@supplier.example",), limits=limits)
    good = [
        make_mail(subject=f"Invoice {i}", attachments=[Attachment(f"{i}.pdf", make_pdf(str(i)))])
        for i in range(3)
    ]
    heavy = make_many_lines_mail(12_000_000)  # ~3.5 s of CPU time
    decider = Decider(policy, workers=2)
    try:
        decisions = decider.decide_many([good[0], heavy, good[1], good[2]])
    finally:
        decider.close()
    assert decisions[1].verdict == Verdict.QUARANTINED
    assert decisions[1].reason == "could not be processed: exceeded the CPU time limit (1 s)"
    assert decisions[1].headers is not None and decisions[1].headers.subject == "lines"
    assert [decisions[0], *decisions[2:]] == [decide(raw, policy) for raw in good]
    assert all(d.verdict == Verdict.IMPORT for d in [decisions[0], *decisions[2:]])


def test_a_decide_worker_is_given_none_of_the_services_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker handles hostile bytes: it must not hold the secret key or the database URL."""
    monkeypatch.setenv("INVOICE_INBOX_SECRET_KEY", "not-for-workers")
    monkeypatch.setenv("INVOICE_INBOX_DATABASE_URL", "postgresql://ap:pw@db/ap")
    policy = Policy(limits=Limits(memory_bytes=768 * MB))  # a limit no other test uses
    Decider(policy, workers=1).decide_many([make_mail()])
    [worker] = workers._IDLE._workers[768 * MB]
    environment = Path(f"/proc/{worker.proc.pid}/environ").read_bytes().split(b"\0")
    assert environment and not [v for v in environment if v.startswith(b"INVOICE_INBOX_")]
    assert any(v.startswith(b"PATH=") for v in environment)
