"""A private S3 API server on 127.0.0.1 for the tests: moto's standalone server in a child process.

moto stores objects but does not verify an upload's checksum (AWS, MinIO, Ceph and Garage do:
a ``Content-MD5`` or ``x-amz-checksum-sha256`` that does not match the body is refused with
``400 BadDigest``). The server started here wraps moto's WSGI app in a small middleware that does
that check, so a test can see a corrupted upload refused as it would be in production.

Stable API (other helpers' tests use it)::

    with S3Server() as srv:                 # or the session fixture ``s3_server``
        bucket = srv.make_bucket()          # a fresh, empty bucket with a unique name
        env = srv.env(bucket, "blobs")      # INVOICE_INBOX_BLOB_URL=s3://bucket/blobs + AWS_*
        client = srv.client()               # a boto3 S3 client for the server
        srv.keys(bucket)                    # the object keys in a bucket, sorted
        srv.endpoint_url                    # http://127.0.0.1:PORT

Fixtures: ``s3_server`` (one per session, started on first use), ``s3_bucket`` (a fresh bucket
per test), ``s3_env`` (a fresh bucket per test, and its ``env`` set in ``os.environ`` for the
test: ``App.open`` then stores blobs in ``s3://<bucket>/blobs``).
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any

import pytest

HOST = "127.0.0.1"
START_TIMEOUT = 30.0
ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"


class S3ServerError(RuntimeError):
    """The test S3 server could not be started."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class S3Server:
    """moto's S3 server (with checksum verification) as a child process on 127.0.0.1."""

    def __init__(self, port: int | None = None) -> None:
        self.host = HOST
        self.port = port or free_port()
        self.endpoint_url = f"http://{self.host}:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None
        self._client: Any = None
        self._log: Any = None

    def start(self) -> S3Server:
        cmd = [sys.executable, os.path.abspath(__file__), "--serve", str(self.port)]
        # the server logs every request: to a file, never a pipe nobody reads (a full pipe
        # would stop the server after a few hundred requests)
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop)
        self._proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=self._log, env=_server_env()
        )
        atexit.register(self.stop)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._log.seek(0)
                err = self._log.read().decode(errors="replace")
                raise S3ServerError(f"the moto S3 server exited at start: {err[-2000:]}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise S3ServerError(f"the moto S3 server did not listen on {self.endpoint_url}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self._log.close()

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def env(self, bucket: str, prefix: str = "blobs") -> dict[str, str]:
        """The environment that points invoice-inbox (and boto3) at *bucket* on this server."""
        url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        return {
            "INVOICE_INBOX_BLOB_URL": url,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            # no profile, config or credentials file of the machine's user is read
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }

    def client(self) -> Any:
        """A boto3 S3 client for this server (one, shared: boto3 clients are thread-safe)."""
        if self._client is None:
            self._client = self._new_client()
        return self._client

    def _new_client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.session.Session(
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION
        ).client("s3", endpoint_url=self.endpoint_url, config=Config(retries={"mode": "standard"}))

    def make_bucket(self, name: str | None = None) -> str:
        bucket = name or f"t-{uuid.uuid4().hex[:20]}"
        self.client().create_bucket(Bucket=bucket)
        return bucket

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        )
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


def _server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY})
    return env


# -- the server side (runs in the child process) ------------------------------------------------

_BAD_DIGEST = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>BadDigest</Code>'
    b"<Message>The Content-MD5 or checksum value that you specified did not match what the"
    b" server received.</Message></Error>"
)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def verify_checksums(app: WsgiApp) -> WsgiApp:
    """WSGI middleware: refuse a PUT whose body does not match its ``Content-MD5`` or
    ``x-amz-checksum-sha256`` header with ``400 BadDigest``, as S3 does."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        md5 = environ.get("HTTP_CONTENT_MD5")
        sha = environ.get("HTTP_X_AMZ_CHECKSUM_SHA256")
        streaming = environ.get("HTTP_X_AMZ_CONTENT_SHA256", "").startswith("STREAMING")
        if environ.get("REQUEST_METHOD") != "PUT" or not (md5 or sha) or streaming:
            return app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        if (md5 and md5 != _b64(hashlib.md5(body).digest())) or (
            sha and sha != _b64(hashlib.sha256(body).digest())
        ):
            start_response(
                "400 Bad Request",
                [("Content-Type", "application/xml"), ("Content-Length", str(len(_BAD_DIGEST)))],
            )
            return [_BAD_DIGEST]
        return app(environ, start_response)

    return wrapped


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def _serve(port: int) -> None:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    os.environ.setdefault("MOTO_PORT", str(port))
    app = verify_checksums(DomainDispatcherApplication(create_backend_app))
    run_simple(HOST, port, app, threaded=True, request_handler=MotoRequestHandler)


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    with S3Server() as srv:
        yield srv


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    return s3_server.make_bucket()


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A fresh bucket, and the environment that stores invoice-inbox's blobs in it."""
    env = s3_server.env(s3_server.make_bucket())
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        _serve(int(sys.argv[2]))
    else:
        sys.exit("usage: s3.py --serve PORT")
