"""``invoice-inbox blobs gc``: what it removes and says, and mistakes and an unreachable bucket
in one sentence."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.s3 import S3Server
from invoice_inbox.runtime.context import App
from invoice_inbox.store.blob_folder import FolderBlobStore


def _cli(*args: str, data: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The CLI as a user runs it, in its own process."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("INVOICE_INBOX_", "AWS_"))}
    return subprocess.run(
        [sys.executable, "-m", "invoice_inbox", "--data-dir", str(data), *args],
        capture_output=True,
        text=True,
        env={**environ, **(env or {})},
        timeout=120,
    )


def _one_sentence(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    App.open(path).close()
    return path


def test_gc_deletes_an_old_orphan_and_says_so(data: Path) -> None:
    store = FolderBlobStore(data / "blobs")
    old, new = store.put(b"orphan of a deleted company" * 100), store.put(b"just uploaded")
    long_ago = time.time() - 3 * 86_400
    os.utime(store.path(old), (long_ago, long_ago))

    dry = _cli("blobs", "gc", "--older-than", "2d", "--dry-run", data=data)
    assert dry.returncode == 0, dry.stderr
    assert "1 blobs stored before" in dry.stdout
    assert "would delete 1 unreferenced (2.7 kB)" in dry.stdout
    assert store.exists(old)

    done = _cli("blobs", "gc", "--older-than", "2d", data=data)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{(data / 'blobs').as_uri()}: 1 blobs stored before ")
    assert "0 still referenced, deleted 1 unreferenced (2.7 kB)" in done.stdout
    assert not store.exists(old) and store.exists(new)


@pytest.mark.parametrize(
    ("age", "words"),
    [("5m", "must be at least 30m"), ("1y", "is not an age; write e.g. 30m, 12h, 1d or 2w")],
)
def test_a_wrong_age_is_one_sentence(data: Path, age: str, words: str) -> None:
    assert words in _one_sentence(_cli("blobs", "gc", "--older-than", age, data=data))


def test_a_missing_bucket_is_one_sentence(data: Path, s3_server: S3Server) -> None:
    env = {**s3_server.env("no-such-bucket", "blobs")}
    line = _one_sentence(_cli("blobs", "gc", data=data, env=env))
    assert line == (
        "error: cannot reach the blob store s3://no-such-bucket/blobs: "
        "the bucket no-such-bucket does not exist"
    )


def test_an_unreachable_endpoint_is_one_sentence(data: Path, s3_server: S3Server) -> None:
    env = {**s3_server.env("bucket"), "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    line = _one_sentence(_cli("blobs", "gc", data=data, env={**env, "AWS_MAX_ATTEMPTS": "1"}))
    assert line.startswith("error: cannot reach the blob store s3://bucket/blobs: ")
    assert "127.0.0.1:9" in line
