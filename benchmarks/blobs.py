"""Blob store benchmark: ``put_many`` of a batch of blobs to the folder store (the baseline)
and to an S3 server (moto's, from the test harness, on 127.0.0.1), uploading one at a time and
with thread pools of several sizes; then a second ``put_many`` of the same batch (every blob is
there already: HEAD only) and a read back with ``stream``.

Each blob is random bytes (``--size-kb``), so nothing compresses or repeats. The S3 figures are
those of a local Python server that shares the machine's cores with the client: they show what
parallel uploads gain against request latency, not what AWS, MinIO or Ceph would do.

Run it from the repository root::

    .venv/bin/python benchmarks/blobs.py [--blobs 500] [--size-kb 100] [--uploads 1,4,8,16] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

from harness.s3 import S3Server  # noqa: E402
from invoice_inbox.store.blob_folder import FolderBlobStore  # noqa: E402
from invoice_inbox.store.blob_s3 import S3BlobStore  # noqa: E402
from invoice_inbox.store.blobs import BlobStore  # noqa: E402


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(store: BlobStore, blobs: list[tuple[str, bytes]]) -> dict[str, float]:
    total = sum(len(b) for _, b in blobs)
    put = timed(lambda: store.put_many(blobs))
    again = timed(lambda: store.put_many(blobs))
    read = timed(lambda: [b"".join(store.stream(d)) for d, _ in blobs])
    return {
        "put_s": round(put, 3),
        "put_blobs_per_s": round(len(blobs) / put, 1),
        "put_mb_per_s": round(total / put / 1e6, 1),
        "put_again_s": round(again, 3),
        "stream_s": round(read, 3),
        "stream_mb_per_s": round(total / read / 1e6, 1),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--blobs", type=int, default=500)
    p.add_argument("--size-kb", type=int, default=100)
    p.add_argument("--uploads", default="1,4,8,16", help="thread pool sizes for S3 (1: serial)")
    p.add_argument(
        "--dir", type=Path, default=ROOT / "benchmarks" / ".cache", help="for the folder"
    )
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    blobs = [(hashlib.sha256(b).hexdigest(), b) for b in _random(args.blobs, args.size_kb)]
    results: dict[str, Any] = {"blobs": args.blobs, "size_kb": args.size_kb, "runs": {}}

    args.dir.mkdir(parents=True, exist_ok=True)
    folder_root = Path(tempfile.mkdtemp(prefix="blobs-bench-", dir=args.dir))
    try:
        results["runs"]["folder"] = measure(FolderBlobStore(folder_root), blobs)
    finally:
        shutil.rmtree(folder_root, ignore_errors=True)

    with S3Server() as srv:
        for n in (int(x) for x in args.uploads.split(",")):
            for key, value in srv.env(srv.make_bucket()).items():
                os.environ[key] = value
            os.environ["INVOICE_INBOX_S3_UPLOADS"] = str(n)
            store = S3BlobStore(os.environ["INVOICE_INBOX_BLOB_URL"].split("/")[2], "blobs")
            results["runs"][f"s3 uploads={n}"] = measure(store, blobs)

    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(
        f"put_many of {args.blobs} blobs x {args.size_kb} kB (random bytes), {os.cpu_count()} cores"
    )
    head = f"{'store':<16}{'put s':>8}{'blobs/s':>9}{'MB/s':>7}{'again s':>9}{'read MB/s':>11}"
    print(head)
    for name, r in results["runs"].items():
        print(
            f"{name:<16}{r['put_s']:>8.2f}{r['put_blobs_per_s']:>9.0f}{r['put_mb_per_s']:>7.1f}"
            f"{r['put_again_s']:>9.2f}{r['stream_mb_per_s']:>11.1f}"
        )
    return 0


def _random(count: int, size_kb: int) -> list[bytes]:
    return [os.urandom(size_kb * 1024) for _ in range(count)]


if __name__ == "__main__":
    sys.exit(main())
