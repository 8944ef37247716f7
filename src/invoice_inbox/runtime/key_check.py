"""Every process of a deployment must hold the same secret key: checked when the app opens.

On one machine the key sits in the data directory and every process finds it. Scaled out, each
machine has a data directory of its own, and a worker started without ``INVOICE_INBOX_SECRET_KEY``
(or its key file) would make a new key there: it could then decrypt none of the stored passwords,
and what it stored would be unreadable to the others. So the database keeps a check value, a
token encrypted with the deployment's key; a process whose key cannot decrypt it refuses to start,
with one sentence that says what to do. A database from before the check gets the value from the
first process whose key decrypts a secret already stored there.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from invoice_inbox.auth.secrets import SecretBox, SecretError
from invoice_inbox.store.db import Database
from invoice_inbox.store.models import Source
from invoice_inbox.store.models_state import Setting

KEY_CHECK = "secret_key_check"
_PLAIN = "invoice-inbox secret key check"
WRONG_KEY = (
    "this process's secret key is not the one the database's secrets were stored with: give "
    "every process of the deployment the same key (INVOICE_INBOX_SECRET_KEY or "
    "INVOICE_INBOX_SECRET_KEY_FILE)"
)


def _decrypts(box: SecretBox, token: str) -> bool:
    try:
        box.decrypt(token)
    except SecretError:
        return False
    return True


def ensure_same_key(db: Database, box: SecretBox) -> None:
    """Raise SecretError when *box* is not the key the database's secrets were stored with."""
    with db.session() as s:
        check = s.scalar(select(Setting.value).where(Setting.key == KEY_CHECK))
        if check is None:  # a new database, or one from before the check
            stored = s.scalar(select(Source.secret).where(Source.secret.is_not(None)).limit(1))
    if check is not None:
        if not _decrypts(box, check):
            raise SecretError(WRONG_KEY)
        return
    if stored is not None and not _decrypts(box, stored):
        raise SecretError(WRONG_KEY)
    try:
        with db.session() as s:
            s.add(Setting(key=KEY_CHECK, value=box.encrypt(_PLAIN)))
    except IntegrityError:  # another process wrote it first: it must be our key as well
        ensure_same_key(db, box)
