"""IDLE wake-up on servers that push new mail and servers that do not: how long from the APPEND
of a mail to the IDLE waiter reporting it, on Dovecot, Cyrus and Courier with their Debian
defaults (Cyrus without ``idled``, Courier with ``IMAP_ENHANCEDIDLE=0``)?

One run, all on 127.0.0.1, with the test harness's private servers (root, ``dovecot-imapd``,
and Cyrus/Courier unpacked by ``scripts/test-servers.sh``). Per server, two waiters, each on a
user of its own, with the service's intervals (re-issue 540 s, stop check 30 s):

1. baseline: ``poll_every`` = the re-issue interval, i.e. what the waiter did before it learnt
   to poll (DONE + NOOP only every 9 minutes): a server that does not push is seen only when it
   checks by itself; a wait is cut off at ``--cap`` seconds;
2. now: ``poll_every`` = ``--poll`` (the service's default, 20 s).

Each mail is appended at a random moment of the waiter's cycle (between 0.5 s after IDLE began
and one poll interval, at most 60 s), one mail at a time. The report gives median and max per
server and variant, and the push mode each waiter learnt. The target (issue 18): median under
30 s on Courier and Cyrus, under 2 s where the server pushes. Waking the waiter is what a
server that does not push delays; the run it starts then takes what ``instant_pickup.py``
measures on Dovecot.

    .venv/bin/python benchmarks/idle_servers.py [--mails 8] [--baseline-mails 3] [--poll 20]
        [--cap 150] [--servers dovecot,cyrus,courier] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from builders import make_mail  # noqa: E402
from harness.courier import CourierServer  # noqa: E402
from harness.cyrus import CyrusServer  # noqa: E402
from harness.dovecot import DovecotServer  # noqa: E402
from invoice_inbox.connectors.idle import IdleWaiter  # noqa: E402
from invoice_inbox.connectors.idle_push import SETTLE  # noqa: E402
from invoice_inbox.connectors.imap import ImapSettings  # noqa: E402

REISSUE = 540.0
PHASE_MAX = 60.0  # a mail comes at most this long after IDLE began (the servers' own check)
SERVERS: dict[str, Callable[[Path], object]] = {
    "dovecot": lambda base: DovecotServer(base),
    "cyrus": lambda base: CyrusServer(base),
    "courier": lambda base: CourierServer(base),
}


def wake_times(server: object, poll: float, mails: int, cap: float) -> tuple[list[float], str]:
    """Seconds from each APPEND to the waiter's wake-up (``cap`` when it did not wake), and
    the push mode the waiter learnt."""
    user, password = server.new_user()  # type: ignore[attr-defined]
    settings = ImapSettings(
        host="127.0.0.1",
        port=server.imap_port,  # type: ignore[attr-defined]
        security="none",
        username=user,
        password=password,
        connect_timeout=5.0,
    )
    waiter = IdleWaiter(settings, "INBOX", reissue_after=REISSUE, poll_every=poll)
    times: list[float] = []
    try:
        for n in range(mails):
            stop, woke = threading.Event(), threading.Event()
            idles = waiter.idles

            def wait(stop: threading.Event = stop, woke: threading.Event = woke) -> None:
                if waiter.wait(stop):
                    woke.set()

            thread = threading.Thread(target=wait, daemon=True)
            thread.start()
            while waiter.idles == idles:
                time.sleep(0.01)
            time.sleep(random.uniform(SETTLE, min(poll, PHASE_MAX)))
            raw = make_mail(subject=f"Invoice {n}", message_id=f"<idle-{n}-{time.time_ns()}@x>")
            began = time.monotonic()
            server.append(user, "INBOX", raw)  # type: ignore[attr-defined]
            times.append(time.monotonic() - began if woke.wait(cap) else cap)
            stop.set()
            thread.join(timeout=40)
    finally:
        waiter.close()
    return times, waiter.push.mode


def summary(times: list[float], cap: float) -> dict[str, object]:
    return {
        "mails": len(times),
        "median_s": round(statistics.median(times), 2),
        "max_s": round(max(times), 2),
        "cut_off": sum(1 for t in times if t >= cap),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=8)
    parser.add_argument("--baseline-mails", type=int, default=3)
    parser.add_argument("--poll", type=float, default=20.0)
    parser.add_argument("--cap", type=float, default=150.0)
    parser.add_argument("--servers", default="dovecot,cyrus,courier")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report: dict[str, object] = {"machine": platform.platform(), "poll_s": args.poll}
    for name in args.servers.split(","):
        base = Path(tempfile.mkdtemp(prefix=f"bench-idle-{name}-"))
        base.chmod(0o755)
        server = SERVERS[name](base)
        server.start()  # type: ignore[attr-defined]
        try:
            old, _ = wake_times(server, REISSUE, args.baseline_mails, args.cap)
            new, new_mode = wake_times(server, args.poll, args.mails, args.cap)
        finally:
            server.stop()  # type: ignore[attr-defined]
            shutil.rmtree(base, ignore_errors=True)
        report[name] = {
            "baseline": summary(old, args.cap),  # its mode: from the NOOP that ended a cut-off
            "now": {**summary(new, args.cap), "mode": new_mode},
        }
        if not args.json:
            print(f"{name:8} baseline (re-check every {REISSUE:g} s): {report[name]['baseline']}")
            print(f"{name:8} now (poll every {args.poll:g} s):          {report[name]['now']}")
    if args.json:
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
