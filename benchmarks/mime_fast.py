"""Reading mail: the standard library's parser against the fast path (``pipeline.mime_fast``),
measured in the same run on the same mails.

Mails: ``--mails`` generated invoice mails of about ``--kb`` KB (text and HTML body, one PDF
attachment, CRLF like mail from IMAP), and every ``.eml`` of the test corpus (and of
``../shared/corpus`` when it is there). For each path (``mime.FAST`` off, then on, alternating
rounds so a busy machine weighs on both alike) it times ``mime.parse`` and ``decide`` per mail,
and reports the best round's mean. It also counts how many mails the fast path takes and how
many it leaves to the standard parser, and checks that both paths give the same decisions.
Run it from the repository root::

    .venv/bin/python benchmarks/mime_fast.py [--mails 200] [--kb 50] [--rounds 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests")]

from builders import Attachment, make_mail, make_sized_pdf  # noqa: E402
from invoice_inbox.pipeline import mime, mime_fast  # noqa: E402
from invoice_inbox.pipeline.decide import decide  # noqa: E402

CORPORA = (REPO / "tests" / "corpus", REPO.parent / "shared" / "corpus")


def generated(count: int, kb: float) -> list[bytes]:
    """Invoice mails of about *kb* KB: base64 takes 4/3 of the PDF, plus line breaks."""
    pdf_size = max(int((kb * 1024 - 1500) * 57 / 78), 1000)
    return [
        make_mail(
            subject=f"Invoice {n}",
            html=f"<p>Please find invoice {n} attached.</p>",
            attachments=[Attachment(f"INV-{n}.pdf", make_sized_pdf(pdf_size, seed=n))],
            message_id=f"<{n}@bench.example>",
        )
        for n in range(count)
    ]


def corpus_mails() -> dict[str, bytes]:
    mails: dict[str, bytes] = {}
    for folder in CORPORA:
        for path in sorted(folder.glob("*.eml")):
            mails.setdefault(path.name, path.read_bytes())  # the shared copy of a name once
    return mails


def per_mail_ms(mails: list[bytes], step: Callable[[bytes], object], fast: bool) -> float:
    mime.FAST = fast
    began = time.perf_counter()
    for raw in mails:
        step(raw)
    return (time.perf_counter() - began) / len(mails) * 1000


def compare(mails: list[bytes], rounds: int) -> dict[str, dict[str, float]]:
    """Best-of-*rounds* milliseconds per mail for parse and decide, standard and fast."""
    steps: dict[str, Callable[[bytes], object]] = {"parse": mime.parse, "decide": decide}
    best: dict[str, dict[str, float]] = {name: {} for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            for path, fast in (("standard", False), ("fast", True)):
                ms = per_mail_ms(mails, step, fast)
                best[name][path] = min(best[name].get(path, ms), ms)
    mime.FAST = True
    for figures in best.values():
        figures["speedup"] = figures["standard"] / figures["fast"]
    return best


def same_decisions(mails: list[bytes]) -> int:
    """How many mails the two paths decide differently (the test suite holds this at 0)."""
    differ = 0
    for raw in mails:
        mime.FAST = False
        standard = decide(raw)
        mime.FAST = True
        fast = decide(raw)
        if (standard.verdict, standard.reason, standard.documents, standard.skipped) != (
            fast.verdict,
            fast.reason,
            fast.documents,
            fast.skipped,
        ):
            differ += 1
    return differ


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mails", type=int, default=200, help="generated mails (200)")
    p.add_argument("--kb", type=float, default=50, help="size of a generated mail in KB (50)")
    p.add_argument("--rounds", type=int, default=5, help="timed rounds; the best counts (5)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args()
    if args.mails < 1 or args.rounds < 1:
        sys.exit("--mails and --rounds must be at least 1.")
    mails = generated(args.mails, args.kb)
    corpus = corpus_mails()
    fast_taken = [name for name, raw in corpus.items() if mime_fast.message(raw) is not None]
    report: dict[str, Any] = {
        "generated": {
            "mails": len(mails),
            "mean_kb": round(sum(map(len, mails)) / len(mails) / 1024, 1),
            "fast_path": sum(mime_fast.message(raw) is not None for raw in mails),
            "ms_per_mail": compare(mails, args.rounds),
            "decisions_differ": same_decisions(mails),
        },
        "corpus": {
            "mails": len(corpus),
            "fast_path": len(fast_taken),
            "standard_parser": sorted(set(corpus) - set(fast_taken)),
            "ms_per_mail": compare(list(corpus.values()), args.rounds),
            "decisions_differ": same_decisions(list(corpus.values())),
        },
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for name, part in report.items():
        print(
            f"{name}: {part['mails']} mails"
            + (f" of {part['mean_kb']} KB" if "mean_kb" in part else "")
            + f", {part['fast_path']} on the fast path, decisions differing: "
            f"{part['decisions_differ']}"
        )
        for step, figures in part["ms_per_mail"].items():
            print(
                f"  {step:<7} standard {figures['standard']:.3f} ms  fast {figures['fast']:.3f} ms"
                f"  ({figures['speedup']:.2f} x)"
            )
        if part.get("standard_parser"):
            print("  left to the standard parser: " + ", ".join(part["standard_parser"]))


if __name__ == "__main__":
    main()
