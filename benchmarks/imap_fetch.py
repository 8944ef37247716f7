"""CPU of downloading mail over IMAP: imapclient's ``fetch`` (the general response parser, as
``ImapConnector.fetch`` was) against ``connectors.imap_fetch`` (the reader it uses now).

A private Dovecot from the test harness (needs root and ``dovecot-imapd``) holds the ingest
benchmark's corpus (``ingest_corpus``: *--messages* mails of *--size-kb*); one connection
downloads the folder in batches of 100 with each reader in turn, *--rounds* times, and the
CPU time of this process (user + system) per mail is kept, the best round of each. Both must
return the same bytes.

    .venv/bin/python benchmarks/imap_fetch.py --messages 10000
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from ingest_corpus import corpus  # noqa: E402

from harness.dovecot import DovecotServer  # noqa: E402
from invoice_inbox.connectors.imap import ImapConnector, ImapSettings  # noqa: E402
from invoice_inbox.connectors.imap_fetch import fetch_bodies  # noqa: E402

USER, PASSWORD = "bench", "bench-password-1"
BATCH = 100
Reader = Callable[[ImapConnector, list[int]], dict[int, bytes]]


def imapclient_fetch(conn: ImapConnector, uids: list[int]) -> dict[int, bytes]:
    data = conn.client.fetch(uids, [b"BODY.PEEK[]"])
    return {u: data[u][b"BODY[]"] for u in uids if u in data and b"BODY[]" in data[u]}


def lean_fetch(conn: ImapConnector, uids: list[int]) -> dict[int, bytes]:
    return fetch_bodies(conn.client, uids)


def one_round(conn: ImapConnector, uids: list[int], read: Reader) -> tuple[float, float, str]:
    """CPU seconds and wall seconds in *read*, a digest of every mail read (taken outside)."""
    digest = hashlib.sha256()
    cpu = wall = 0.0
    for i in range(0, len(uids), BATCH):
        c, w = time.process_time(), time.perf_counter()
        got = read(conn, uids[i : i + BATCH])
        cpu, wall = cpu + time.process_time() - c, wall + time.perf_counter() - w
        for _, raw in sorted(got.items()):
            digest.update(raw)
    return cpu, wall, digest.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--size-kb", type=float, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    maildir, _, _ = corpus(args.messages, args.size_kb)
    root = Path(tempfile.mkdtemp(prefix="imap-fetch-bench-", dir="/tmp"))
    root.chmod(0o755)  # Dovecot's unprivileged processes must traverse it
    srv = DovecotServer(root / "dovecot", users={USER: PASSWORD}, pool_size=0)
    srv.start()
    try:
        srv.import_maildir(USER, maildir)
        settings = ImapSettings(
            host="127.0.0.1",
            port=srv.imap_port,
            security="none",
            username=USER,
            password=PASSWORD,
        )
        readers: dict[str, Reader] = {"imapclient": imapclient_fetch, "imap_fetch": lean_fetch}
        best: dict[str, tuple[float, float]] = {}
        digests: set[str] = set()
        with ImapConnector(settings) as conn:
            conn.open_folder("INBOX")
            uids = conn.list_new(after_uid=0)
            one_round(conn, uids, lean_fetch)  # warm Dovecot's caches and ours
            for _ in range(args.rounds):
                for name, read in readers.items():
                    cpu, wall, digest = one_round(conn, uids, read)
                    digests.add(digest)
                    old = best.get(name, (float("inf"), 0.0))
                    best[name] = min(old, (cpu, wall))
        if len(digests) != 1:
            raise SystemExit("the readers returned different bytes")
        n = len(uids)
        print(f"{n} mails of {args.size_kb:g} KB, batches of {BATCH}, best of {args.rounds}")
        for name, (cpu, wall) in best.items():
            print(f"{name:>11}: {cpu * 1e6 / n:6.1f} us CPU a mail, {n / wall:7.0f} msg/s")
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
