"""A batch decided in the limited worker processes gives the same decisions, in order, as
one by one in this process."""

from __future__ import annotations

from builders import Attachment, make_mail, make_pdf
from corpus import CORPUS
from invoice_inbox.pipeline.decide import Policy, decide
from invoice_inbox.runtime.decider import Decider


def test_pool_decisions_equal_serial_ones_in_order() -> None:
    raws = [p.read_bytes() for p in sorted(CORPUS.glob("*.eml"))]
    raws += [
        make_mail(
            from_=f"b{i}@supplier.example", attachments=[Attachment(f"{i}.pdf", make_pdf(str(i)))]
        )
        for i in range(32)
    ]
    policy = Policy(allowed_senders=("*@supplier.example",))
    decider = Decider(policy, workers=2)
    try:
        parallel = decider.decide_many(raws)
    finally:
        decider.close()
    assert parallel == [decide(raw, policy) for raw in raws]
