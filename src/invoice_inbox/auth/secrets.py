"""Encrypt secrets at rest (DESIGN invariant 6) with Fernet (AES-128-CBC + HMAC-SHA256).

The key comes from ``INVOICE_INBOX_SECRET_KEY`` (the key itself), else from a key file named by
``--secret-key-file`` or ``INVOICE_INBOX_SECRET_KEY_FILE``, else from ``secret.key`` in the data
directory; a key file is created with mode 0600 on first use. Keep the key outside the data
directory in production: a backup of the directory then cannot decrypt the stored secrets.
Losing the key means re-entering every password; back it up, apart from the database.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

ENV_KEY = "INVOICE_INBOX_SECRET_KEY"
ENV_KEY_FILE = "INVOICE_INBOX_SECRET_KEY_FILE"


class SecretError(Exception):
    """A stored secret cannot be decrypted with the configured key, or there is no usable key."""


def _new_key_file(path: Path) -> None:
    """Write a new key to *path* (mode 0600). Written aside, then linked into place: two
    processes starting at once agree on one key."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(Fernet.generate_key())
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def _of(cls, key: bytes, where: str) -> SecretBox:
        try:
            return cls(key)
        except ValueError:
            raise SecretError(
                f"{where} is not a secret key (it must be 32 url-safe base64-encoded bytes, "
                'as made by: python -c "from cryptography.fernet import Fernet; '
                'print(Fernet.generate_key().decode())")'
            ) from None

    @classmethod
    def for_data_dir(cls, data_dir: Path, key_file: Path | None = None) -> SecretBox:
        """The key from ``INVOICE_INBOX_SECRET_KEY``, else from *key_file* (or the file named by
        ``INVOICE_INBOX_SECRET_KEY_FILE``), else from ``secret.key`` in *data_dir*. A key file
        that does not exist yet is made, with mode 0600."""
        env = os.environ.get(ENV_KEY)
        if env:
            return cls._of(env.strip().encode(), ENV_KEY)
        if key_file is None and os.environ.get(ENV_KEY_FILE):
            key_file = Path(os.environ[ENV_KEY_FILE])
        path = key_file.expanduser() if key_file is not None else data_dir / "secret.key"
        try:
            if not path.exists():
                _new_key_file(path)
            key = path.read_bytes().strip()
        except OSError as exc:
            raise SecretError(f"cannot use the secret key file {path}: {exc.strerror}") from None
        return cls._of(key, f"the content of {path}")

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretError(
                "a stored password cannot be decrypted: the secret key has changed"
            ) from exc
