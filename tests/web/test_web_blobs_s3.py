"""Scale-out blobs end to end: with INVOICE_INBOX_BLOB_URL=s3://…, a fetch stores the mail and
its documents in the bucket (nothing in the data directory), and the web downloads stream them
from there with the same headers as from the folder store."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from builders import Attachment, make_mail, make_pdf
from corpus import CORPUS
from harness.dovecot import Mailbox
from harness.s3 import S3Server
from invoice_inbox.store.blob_s3 import S3BlobStore
from invoice_inbox.store.models import Message
from web.conftest import Web
from web.test_api_integrator import new_source

XRECHNUNG_UBL = CORPUS / "xrechnung-testsuite__01.02a-INVOICE_ubl.xml"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_fetched_documents_land_in_the_bucket_and_download_from_it(
    s3_env: dict[str, str], s3_server: S3Server, web: Web, mailbox: Mailbox
) -> None:
    store = web.app.blobs
    assert isinstance(store, S3BlobStore), "the web app did not open the S3 blob store"
    web.user("erp@x.test", "admin")
    api = web.api("erp@x.test")
    src = new_source(api, mailbox)
    pdf, xml = make_pdf("Invoice 9"), XRECHNUNG_UBL.read_bytes()
    raw = make_mail(
        subject="Invoice 9",
        attachments=[Attachment("9.pdf", pdf), Attachment("x.xml", xml, "application/xml")],
    )
    mailbox.append("INBOX", raw)

    r = api.post(f"/api/v1/sources/{src['id']}/fetch", params={"wait": "true"})
    assert r.status_code == 200, r.text
    assert r.json()["documents_created"] == 2
    docs = {d["filename"]: d for d in api.get("/api/v1/documents").json()["items"]}
    with web.app.db.session() as s:
        raw_sha = s.scalars(select(Message.raw_sha256)).one()
    keys = s3_server.keys(store.bucket)
    assert keys == sorted(f"blobs/{h[:2]}/{h}" for h in (sha(pdf), sha(xml), raw_sha))
    assert not any((web.app.data_dir / "blobs").glob("*/*"))  # nothing in the data directory

    f = api.get(docs["9.pdf"]["file_url"])
    assert f.status_code == 200 and f.content == pdf
    assert f.headers["content-type"] == "application/pdf"
    assert f.headers["content-length"] == str(len(pdf))
    assert (
        f.headers["content-disposition"] == "attachment; filename=\"9.pdf\"; filename*=UTF-8''9.pdf"
    )
    assert f.headers["x-content-type-options"] == "nosniff"
    assert f.headers["content-security-policy"] == "sandbox"

    # the admin pages: the PDF inline, the original mail, the e-invoice read from the bucket
    b = web.browser("erp@x.test")
    page_pdf = b.get(f"/documents/{docs['9.pdf']['id']}/file")
    assert page_pdf.status_code == 200 and page_pdf.content == pdf
    assert page_pdf.headers["content-disposition"].startswith("inline; ")
    mail = b.get(f"/documents/{docs['9.pdf']['id']}/mail")
    assert mail.status_code == 200 and sha(mail.content) == raw_sha
    assert mail.headers["content-type"] == "message/rfc822"
    assert mail.headers["content-length"] == str(len(mail.content))
    rendered = api.get(f"/api/v1/documents/{docs['x.xml']['id']}/rendered.pdf")
    assert rendered.status_code == 200 and rendered.content.startswith(b"%PDF")

    # a blob gone from the bucket is a plain 404, as with the folder store
    s3_server.client().delete_object(Bucket=store.bucket, Key=store.key(sha(pdf)))
    gone = api.get(docs["9.pdf"]["file_url"])
    assert gone.status_code == 404
    assert gone.json()["detail"] == "the file of this document is no longer stored"
