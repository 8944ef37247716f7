"""The S3 test server: a fresh bucket per test, and uploads with a wrong checksum refused."""

from __future__ import annotations

import base64
import hashlib

import pytest
from botocore.exceptions import ClientError

from harness.s3 import S3Server


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def test_bucket_is_fresh_and_stores(s3_server: S3Server, s3_bucket: str) -> None:
    assert s3_server.keys(s3_bucket) == []
    data = b"invoice" * 100
    s3_server.client().put_object(
        Bucket=s3_bucket, Key="p/a", Body=data, ChecksumSHA256=_b64(hashlib.sha256(data).digest())
    )
    assert s3_server.keys(s3_bucket) == ["p/a"]
    assert s3_server.env(s3_bucket, "p")["INVOICE_INBOX_BLOB_URL"] == f"s3://{s3_bucket}/p"


@pytest.mark.parametrize("header", ["ChecksumSHA256", "ContentMD5"])
def test_wrong_checksum_is_refused(s3_server: S3Server, s3_bucket: str, header: str) -> None:
    other = hashlib.sha256(b"other") if header == "ChecksumSHA256" else hashlib.md5(b"other")
    with pytest.raises(ClientError, match="BadDigest"):
        s3_server.client().put_object(
            Bucket=s3_bucket, Key="k", Body=b"data", **{header: _b64(other.digest())}
        )
    assert s3_server.keys(s3_bucket) == []
