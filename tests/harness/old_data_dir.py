"""A data directory as the first versions of invoice-inbox left it, for the upgrade-path tests.

The oldest schema is migration 0001 (there are no release tags): the embedded database
``invoice-inbox.db``, the Fernet key ``secret.key`` (mode 0600) that encrypts the sources'
passwords, and the blob folder ``blobs/`` holding every imported mail's raw bytes and its
documents, each under its SHA-256. The very first versions (commits b05224c..3fd028d) put a
blob two levels deep, ``blobs/ab/cd/<sha256>``; from 6ee1e98 on one level, ``blobs/ab/<sha256>``.
Users came with migration 0005 (argon2id hashes, the library defaults of the time).

The builder migrates an empty database to a revision with today's migration scripts (they are the
ones that made those schemas), then writes rows into the tables reflected from that schema, the
way the old code wrote them: naive UTC datetimes, JSON lists, the ledger key (source, folder,
UIDVALIDITY, UID) of an IMAP mail, the blobs before the rows that refer to them.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from argon2 import PasswordHasher
from cryptography.fernet import Fernet

from invoice_inbox.store.db import alembic_config, make_engine

FIRST_REVISION = "0001"
USERS_REVISION = "0005"
# argon2-cffi's defaults before 21.2: not today's, so a hash of then must verify by what it says
OLD_HASHER = PasswordHasher(time_cost=2, memory_cost=102400, parallelism=8)
T0 = datetime(2026, 11, 21, 17, 0, 0)  # naive UTC, as the old UTCDateTime stored it


class BlobLayout(StrEnum):
    TWO_LEVEL = "two-level"  # blobs/ab/cd/<sha256>: the very first versions
    ONE_LEVEL = "one-level"  # blobs/ab/<sha256>: from commit 6ee1e98 on

    def path(self, root: Path, sha256: str) -> Path:
        if self is BlobLayout.TWO_LEVEL:
            return root / sha256[:2] / sha256[2:4] / sha256
        return root / sha256[:2] / sha256


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class OldMail:
    """A mail the old code imported: its IMAP UID, raw bytes and the PDFs taken from it."""

    uid: int
    raw: bytes
    sender: str
    subject: str
    documents: tuple[tuple[str, bytes], ...]


@dataclass
class OldDataDir:
    data_dir: Path
    url: str
    source: str
    company: str
    blobs: dict[str, bytes] = field(default_factory=dict)  # every blob written, by SHA-256
    documents: dict[str, bytes] = field(default_factory=dict)  # filename -> bytes
    users: dict[str, str] = field(default_factory=dict)  # e-mail -> password


def _engine_at(url: str, revision: str) -> sa.Engine:
    engine = make_engine(url)
    command.upgrade(alembic_config(engine), revision)
    return engine


def _tables(conn: sa.Connection) -> dict[str, sa.Table]:
    meta = sa.MetaData()
    meta.reflect(conn)
    return dict(meta.tables)


def _insert(conn: sa.Connection, table: sa.Table, **values: Any) -> int:
    return int(conn.execute(table.insert().values(**values)).inserted_primary_key[0])


def _put_blob(root: Path, layout: BlobLayout, data: bytes) -> str:
    digest = sha(data)
    path = layout.path(root, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, 0o640)
    return digest


def build_first_release(
    data_dir: Path,
    url: str,
    *,
    host: str,
    port: int,
    security: str = "none",
    ca_file: str | None = None,
    username: str,
    password: str,
    uidvalidity: int,
    mails: list[OldMail],
    cursor_uid: int,
    layout: BlobLayout = BlobLayout.TWO_LEVEL,
    company: str = "ACME",
    source: str = "ap",
    allowed_senders: tuple[str, ...] = (),
) -> OldDataDir:
    """A data directory at schema 0001 with a company, an IMAP source (*host*:*port* with
    *security* ``ssl``, ``starttls`` or ``none`` and the CA file the old ``--ca-file`` stored;
    INBOX, nothing moved), one succeeded run that imported *mails* and their documents,
    and INBOX's cursor at *cursor_uid* (below the last mail's UID: the old code committed a
    batch before it advanced the cursor, and a crash in between left exactly this)."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Fernet.generate_key()
    key_file = data_dir / "secret.key"
    key_file.write_bytes(key)
    key_file.chmod(0o600)
    old = OldDataDir(data_dir, url, source, company)
    blob_root = data_dir / "blobs"
    engine = _engine_at(url, FIRST_REVISION)
    try:
        with engine.begin() as conn:
            t = _tables(conn)
            company_id = _insert(conn, t["company"], name=company, created_at=T0)
            source_id = _insert(
                conn,
                t["source"],
                name=source,
                description="AP mailbox",
                company_id=company_id,
                active=True,
                provider="imap",
                host=host,
                port=port,
                security=security,
                ca_file=ca_file,
                username=username,
                secret=Fernet(key).encrypt(password.encode()).decode(),
                folders=["INBOX"],
                move_imported_to=None,
                move_not_imported_to=None,
                unread_only=False,
                since=None,
                allowed_senders=list(allowed_senders),
                require_attachment=True,
                require_pdf=True,
                created_at=T0,
                updated_at=T0,
            )
            run_id = _insert(
                conn,
                t["run"],
                source_id=source_id,
                trigger="manual",
                status="succeeded",
                started_at=T0 + timedelta(minutes=5),
                finished_at=T0 + timedelta(minutes=5, seconds=2),
                messages_seen=len(mails),
                imported=len(mails),
                not_imported=0,
                quarantined=0,
                duplicates=0,
                documents_created=sum(len(m.documents) for m in mails),
                errors=0,
                error=None,
            )
            for n, mail in enumerate(mails):
                raw_sha = _put_blob(blob_root, layout, mail.raw)
                old.blobs[raw_sha] = mail.raw
                message_id = _insert(
                    conn,
                    t["message"],
                    source_id=source_id,
                    run_id=run_id,
                    folder="INBOX",
                    uidvalidity=uidvalidity,
                    uid=mail.uid,
                    raw_sha256=raw_sha,
                    raw_size=len(mail.raw),
                    message_id=f"<old-{n}@supplier.example>",
                    sender=mail.sender,
                    subject=mail.subject,
                    sent_at=T0 - timedelta(hours=1),
                    received_at=T0 + timedelta(minutes=5, seconds=1),
                    decision="import",
                    reason=f"sender {mail.sender} is on the allowed list",
                    hits=["sender"],
                    state="disposed",
                    filed_to=None,
                    duplicate_of_id=None,
                )
                for filename, data in mail.documents:
                    doc_sha = _put_blob(blob_root, layout, data)
                    old.blobs[doc_sha] = data
                    old.documents[filename] = data
                    _insert(
                        conn,
                        t["document"],
                        message_id=message_id,
                        company_id=company_id,
                        sha256=doc_sha,
                        size=len(data),
                        media_type="application/pdf",
                        filename=filename,
                        kind="attachment",
                        created_at=T0 + timedelta(minutes=5, seconds=1),
                    )
            _insert(
                conn,
                t["folder_state"],
                source_id=source_id,
                folder="INBOX",
                uidvalidity=uidvalidity,
                last_uid=cursor_uid,
                uidnext=cursor_uid + 1,
                updated_at=T0 + timedelta(minutes=5, seconds=2),
            )
    finally:
        engine.dispose()
    return old


def add_user_of_0005(old: OldDataDir, email: str, password: str, role: str = "clerk") -> None:
    """Upgrade *old* to schema 0005, as a user of that version did, and add a user of the
    company as that version's ``user add`` wrote it."""
    engine = _engine_at(old.url, USERS_REVISION)
    try:
        with engine.begin() as conn:
            t = _tables(conn)
            company_id = conn.scalar(
                sa.select(t["company"].c.id).where(t["company"].c.name == old.company)
            )
            user_id = _insert(
                conn,
                t["app_user"],
                email=email,
                password_hash=OLD_HASHER.hash(password),
                role=role,
                active=True,
                created_at=T0 + timedelta(days=1),
                last_login_at=None,
            )
            conn.execute(t["user_company"].insert().values(user_id=user_id, company_id=company_id))
    finally:
        engine.dispose()
    old.users[email] = password


def revisions_after_first() -> list[str]:
    """Every revision after 0001, oldest first."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config(make_engine("sqlite://")))
    chain = [r.revision for r in scripts.walk_revisions("base", "heads")]
    return [r for r in reversed(chain) if r != FIRST_REVISION]
